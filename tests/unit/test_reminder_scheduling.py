"""What the room trigger schedules: a reminder per participant and offset on confirmation and on a move (offsets
already past skipped), the cancellation at once, "your doctor is ready" once per room; deterministic task ids."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from conftest import DOCTOR, NOW, NOW_S, PATIENT, appointment

from telehealth import reminders
from telehealth.errors import Misconfigured
from telehealth.notify.calendar import sequence_at
from telehealth.notify.settings import NotifySettings
from telehealth.reminders import CANCELLED, READY, REMINDER, ReminderHooks, ReminderTask, Scheduled

MIN = dt.timedelta(minutes=1)
WRITTEN = NOW - dt.timedelta(seconds=3)  # the event's update time
SEQUENCE = sequence_at(WRITTEN)


class Queue:
    """The task queue as Cloud Tasks keeps it: an id it has seen is refused."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[dict[str, Any], int | None]] = {}

    def enqueue(self, payload: Mapping[str, Any], task_id: str, send_at: int | None) -> bool:
        if task_id in self.tasks:
            return False
        self.tasks[task_id] = (dict(payload), send_at)
        return True

    def kinds(self) -> list[tuple[str, str, int, int | None]]:
        return sorted((p["kind"], p["uid"], p["offsetMin"], due) for p, due in self.tasks.values())


def visit(start_in: dt.timedelta = 20 * MIN, **changes: Any) -> dict[str, Any]:
    """A confirmed video visit (no room yet, nobody joined) starting ``start_in`` from NOW."""
    start = NOW + start_in
    return appointment(**{"startTime": start, "endTime": start + 30 * MIN, "video": None, **changes})


def settings(*offsets: int) -> NotifySettings:
    return NotifySettings(offsets=offsets or (1440, 15))


def run(before: Any, after: Any, offsets: tuple[int, ...] = (1440, 15), queue: Queue | None = None) -> Queue:
    queue = queue or Queue()
    reminders.schedule("visit-1", before, after, WRITTEN, settings=settings(*offsets), queue=queue, now=NOW_S)
    return queue


def due(start_in: dt.timedelta, offset: int) -> int:
    return int((NOW + start_in).timestamp()) - offset * 60


def test_a_confirmation_schedules_one_reminder_per_participant_and_offset_at_start_minus_offset() -> None:
    pending = visit(2 * dt.timedelta(days=1), status="pending")
    queue = run(pending, visit(2 * dt.timedelta(days=1)))
    start = 2 * dt.timedelta(days=1)
    assert queue.kinds() == sorted(
        (REMINDER, uid, offset, due(start, offset)) for uid in (PATIENT, DOCTOR) for offset in (1440, 15)
    )
    payloads = [payload for payload, _ in queue.tasks.values()]
    assert {p["role"] for p in payloads if p["uid"] == PATIENT} == {"patient"}
    assert {p["role"] for p in payloads if p["uid"] == DOCTOR} == {"doctor"}
    assert {p["startsAt"] for p in payloads} == {int((NOW + start).timestamp())}
    assert {p["sequence"] for p in payloads} == {SEQUENCE}
    assert {p["appointmentId"] for p in payloads} == {"visit-1"}


@pytest.mark.parametrize(
    ("start_in", "offsets", "expected"),
    [
        pytest.param(16 * MIN, (1440, 15), [15], id="a little over 15 minutes ahead: only the 15-minute one"),
        pytest.param(15 * MIN, (1440, 15), [], id="exactly 15 minutes ahead: its moment is now, skipped"),
        pytest.param(10 * MIN, (15,), [], id="sooner than every offset: nothing, never sent late"),
        pytest.param(dt.timedelta(days=1, minutes=1), (1440, 60), [1440, 60], id="a day and a minute: both"),
    ],
)
def test_offsets_already_past_are_skipped(
    start_in: dt.timedelta, offsets: tuple[int, ...], expected: list[int]
) -> None:
    queue = run(None, visit(start_in), offsets)
    assert sorted({offset for _, _, offset, _ in queue.kinds()}, reverse=True) == expected
    assert all(due_at is not None and due_at > NOW_S for *_, due_at in queue.kinds())


def test_the_task_ids_are_the_send_ids_and_a_redelivered_event_adds_nothing() -> None:
    queue = run(visit(status="pending"), visit())
    again = Queue()
    again.tasks = dict(queue.tasks)
    added = reminders.schedule(
        "visit-1", visit(status="pending"), visit(), WRITTEN, settings=settings(), queue=again, now=NOW_S
    )
    assert added == 0
    assert again.tasks == queue.tasks
    for task_id, (payload, _) in queue.tasks.items():
        task = reminders.from_payload(payload)
        assert task is not None
        assert task.send_id == task_id
        assert len(task_id) == 40
        assert all(c in "0123456789abcdef" for c in task_id)


@pytest.mark.parametrize(
    ("before", "after", "schedules"),
    [
        pytest.param(None, visit(), True, id="created confirmed by a server"),
        pytest.param(visit(status="pending"), visit(), True, id="pending to confirmed"),
        pytest.param(visit(), visit(25 * MIN), True, id="a confirmed visit moved"),
        pytest.param(visit(), visit(video={"roomName": "r" * 32}), False, id="the trigger's own room write"),
        pytest.param(visit(status="pending"), visit(25 * MIN, status="pending"), False, id="a pending visit moved"),
        pytest.param(visit(type="in_person", status="pending"), visit(type="in_person"), False, id="in person"),
        pytest.param(visit(), visit(status="completed"), False, id="completed"),
        pytest.param(visit(), None, False, id="deleted"),
    ],
)
def test_which_events_schedule_reminders(before: Any, after: Any, schedules: bool) -> None:
    assert bool([k for k in run(before, after).kinds() if k[0] == REMINDER]) is schedules
    assert reminders.schedules(before, after) is schedules


def test_a_move_schedules_for_the_new_start_with_a_new_version_and_new_ids() -> None:
    first = run(visit(status="pending"), visit(30 * MIN))
    later = NOW + dt.timedelta(minutes=5)
    moved = Queue()
    reminders.schedule("visit-1", visit(30 * MIN), visit(40 * MIN), later, settings=settings(), queue=moved, now=NOW_S)
    assert not set(first.tasks) & set(moved.tasks)
    [payload] = [p for p, _ in moved.tasks.values() if p["uid"] == PATIENT]
    assert payload["startsAt"] == int((NOW + 40 * MIN).timestamp())
    assert payload["sequence"] == sequence_at(later) > SEQUENCE


def test_a_visit_moved_back_to_its_first_time_gets_ids_cloud_tasks_has_not_seen() -> None:
    first = run(visit(status="pending"), visit(30 * MIN))
    back = Queue()
    later = NOW + dt.timedelta(minutes=9)
    reminders.schedule("visit-1", visit(40 * MIN), visit(30 * MIN), later, settings=settings(), queue=back, now=NOW_S)
    assert back.kinds() == first.kinds()
    assert not set(first.tasks) & set(back.tasks)


def test_a_cancellation_notifies_both_participants_at_once_with_a_later_version() -> None:
    cancelled_at = NOW + dt.timedelta(minutes=1)
    queue = Queue()
    reminders.schedule(
        "visit-1", visit(), visit(status="cancelled"), cancelled_at, settings=settings(), queue=queue, now=NOW_S
    )
    start = int((NOW + 20 * MIN).timestamp())
    assert queue.kinds() == sorted((CANCELLED, uid, 0, None) for uid in (PATIENT, DOCTOR))
    assert {(p["startsAt"], p["sequence"]) for p, _ in queue.tasks.values()} == {(start, sequence_at(cancelled_at))}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(visit(status="pending"), visit(status="cancelled"), id="a pending visit cancelled"),
        pytest.param(visit(-5 * MIN), visit(-5 * MIN, status="cancelled"), id="cancelled after it was due"),
        pytest.param(visit(0 * MIN), visit(0 * MIN, status="cancelled"), id="cancelled as it starts"),
        pytest.param(visit(type="in_person"), visit(type="in_person", status="cancelled"), id="in person"),
    ],
)
def test_cancellations_that_announce_nothing(before: Any, after: Any) -> None:
    assert run(before, after).tasks == {}


ROOM = {"roomName": "r" * 32, "provider": "jitsi", "roomUrl": "https://x/" + "r" * 32}


@pytest.mark.parametrize(
    ("before_video", "after_video", "ready"),
    [
        pytest.param(ROOM, {**ROOM, "doctorJoinedAt": NOW}, True, id="the waiting room's first stamp"),
        pytest.param(ROOM, {**ROOM, "attendance": {"doctorJoinedAt": NOW}}, True, id="the attendance webhook's"),
        pytest.param({**ROOM, "doctorJoinedAt": NOW}, {**ROOM, "doctorJoinedAt": NOW, "lobby": {}}, False, id="later"),
        pytest.param(
            {**ROOM, "doctorJoinedAt": NOW},
            {**ROOM, "doctorJoinedAt": NOW, "attendance": {"doctorJoinedAt": NOW}},
            False,
            id="the webhook after the stamp",
        ),
        pytest.param(
            {**ROOM, "doctorJoinedAt": NOW},
            {"roomName": "s" * 32, "doctorJoinedAt": NOW},
            True,
            id="a new room's first join",
        ),
        pytest.param(ROOM, ROOM, False, id="nobody joined"),
    ],
)
def test_the_doctors_first_join_tells_the_patient_once(before_video: Any, after_video: Any, ready: bool) -> None:
    queue = run(visit(video=before_video), visit(video=after_video))
    assert queue.kinds() == ([(READY, PATIENT, 0, None)] if ready else [])
    for payload, _ in queue.tasks.values():
        assert payload["roomTag"] == reminders.room_tag(after_video["roomName"])
        assert after_video["roomName"] not in str(payload)


def test_a_ready_notice_for_a_cancelled_visit_is_not_sent() -> None:
    assert run(visit(video=ROOM), visit(video={**ROOM, "doctorJoinedAt": NOW}, status="cancelled")).kinds() == [
        (CANCELLED, uid, 0, None) for uid in sorted((PATIENT, DOCTOR))
    ]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="no body"),
        pytest.param("reminder", id="a string"),
        pytest.param({}, id="empty"),
        pytest.param({"kind": "party"}, id="an unknown kind"),
    ],
)
def test_a_body_that_is_not_a_task_reads_back_as_none(payload: Any) -> None:
    assert reminders.from_payload(payload) is None


GOOD = ReminderTask(REMINDER, "visit-1", PATIENT, "patient", NOW_S + 900, SEQUENCE, 15).payload()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("role", "nurse"),
        ("appointmentId", ""),
        ("appointmentId", 7),
        ("uid", "x" * 1501),
        ("startsAt", -1),
        ("startsAt", True),
        ("startsAt", "900"),
        ("sequence", None),
        ("offsetMin", 1.5),
        ("roomTag", None),
    ],
)
def test_a_task_with_one_malformed_field_reads_back_as_none(field: str, value: Any) -> None:
    assert reminders.from_payload(GOOD) == ReminderTask(
        REMINDER, "visit-1", PATIENT, "patient", NOW_S + 900, SEQUENCE, 15
    )
    assert reminders.from_payload({**GOOD, field: value}) is None


def test_the_send_id_depends_on_every_part_of_the_task() -> None:
    base = ReminderTask(REMINDER, "visit-1", PATIENT, "patient", NOW_S, 1, 15, "")
    variants = [
        ReminderTask(READY, "visit-1", PATIENT, "patient", NOW_S, 1, 15, ""),
        ReminderTask(REMINDER, "visit-2", PATIENT, "patient", NOW_S, 1, 15, ""),
        ReminderTask(REMINDER, "visit-1", DOCTOR, "patient", NOW_S, 1, 15, ""),
        ReminderTask(REMINDER, "visit-1", PATIENT, "patient", NOW_S + 1, 1, 15, ""),
        ReminderTask(REMINDER, "visit-1", PATIENT, "patient", NOW_S, 2, 15, ""),
        ReminderTask(REMINDER, "visit-1", PATIENT, "patient", NOW_S, 1, 1440, ""),
        ReminderTask(REMINDER, "visit-1", PATIENT, "patient", NOW_S, 1, 15, "t"),
    ]
    assert len({base.send_id, *(variant.send_id for variant in variants)}) == 1 + len(variants)


def test_the_revision_time_is_the_events_update_time_or_now() -> None:
    naive = dt.datetime(2026, 3, 2, 9, 0)
    assert reminders.revision_time(WRITTEN, NOW_S) == WRITTEN
    assert reminders.revision_time(naive, NOW_S) == naive.replace(tzinfo=dt.UTC)
    assert reminders.revision_time(None, NOW_S) == NOW
    assert reminders.epoch(NOW) == NOW_S
    assert reminders.epoch("2026-03-02") is None


class Hooks:
    def __init__(self, problem: str = "") -> None:
        self.queue, self.settings_reads, self.problem = Queue(), 0, problem

    def hooks(self) -> ReminderHooks:
        def read() -> NotifySettings:
            self.settings_reads += 1
            if self.problem:
                raise Misconfigured(self.problem)
            return settings(15)

        return ReminderHooks(settings=read, queue=lambda: self.queue)


def test_the_trigger_step_reads_no_settings_for_an_event_that_schedules_nothing() -> None:
    hooks = Hooks()
    result = reminders.on_appointment_written(
        "visit-1", visit(), visit(video=ROOM), WRITTEN, hooks=hooks.hooks(), now=NOW_S
    )
    assert (result, hooks.settings_reads, hooks.queue.tasks) == (Scheduled(), 0, {})


def test_the_trigger_step_reports_unusable_settings_and_schedules_nothing() -> None:
    hooks = Hooks(problem="VIDEO_REMINDERS_MIN must be whole minutes, comma-separated")
    result = reminders.on_appointment_written(
        "visit-1", visit(status="pending"), visit(), WRITTEN, hooks=hooks.hooks(), now=NOW_S
    )
    assert result == Scheduled(problem="VIDEO_REMINDERS_MIN must be whole minutes, comma-separated")
    assert hooks.queue.tasks == {}


def test_the_trigger_step_counts_the_tasks_it_added() -> None:
    hooks = Hooks()
    result = reminders.on_appointment_written(
        "visit-1", visit(status="pending"), visit(), WRITTEN, hooks=hooks.hooks(), now=NOW_S
    )
    assert result == Scheduled(added=2)
    assert hooks.queue.kinds() == sorted((REMINDER, uid, 15, due(20 * MIN, 15)) for uid in (PATIENT, DOCTOR))


def test_the_edges_of_a_task_body_that_still_reads_back() -> None:
    edge = {**GOOD, "uid": "u" * 1500, "sequence": 0, "offsetMin": 0, "startsAt": 0}
    assert reminders.from_payload(edge) == ReminderTask(REMINDER, "visit-1", "u" * 1500, "patient", 0, 0, 0)
    assert reminders.from_payload({**GOOD, "kind": READY, "roomTag": "t"}) is not None
    assert reminders.from_payload({**GOOD, "role": "doctor"}) is not None
