"""The hardened room lifecycle against the Firestore emulator: retries under transient failures, racing and
overtaken events, the repair sweep (with triggers paused, so only the code under test writes rooms)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import emulator_api as emu
import pytest
from google.api_core.exceptions import ServiceUnavailable
from google.cloud import firestore
from support.configs import video_config

from telehealth import repair
from telehealth.config import VideoConfig
from telehealth.lifecycle import room_maker
from telehealth.rooms import Action
from telehealth.store.appointments import apply_room_lifecycle

CONFIG = video_config(provider="jitsi", domain="meet.example.test", app_id="telehealth-demo")
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def triggers_paused() -> Iterator[None]:
    """Triggers paused once for the whole module. Resuming reloads the functions (seconds each time), so one
    pause serves every test here. The events the pause held are delivered after the module, when no test
    here looks any more, and the next module starts only once they are done (conftest's
    triggers_delivered_after_pauses)."""
    emu.set_background_triggers(enabled=False)
    try:
        yield
    finally:
        emu.set_background_triggers(enabled=True)


@pytest.fixture
def paused(triggers_paused: None, db: firestore.Client) -> firestore.Client:
    """A clean emulator with triggers paused: only the code under test writes rooms."""
    return db


class Flaky:
    """The real emulator client, whose next ``failures`` commits fail with ServiceUnavailable first."""

    def __init__(self, client: firestore.Client, failures: int) -> None:
        self.client, self.failures = client, failures
        api = client._firestore_api
        real_commit = api.commit

        def commit(*args: Any, **kwargs: Any) -> Any:
            if self.failures > 0:
                self.failures -= 1
                raise ServiceUnavailable("injected")
            return real_commit(*args, **kwargs)

        api.commit = commit


@pytest.mark.parametrize("failures", [1, 2, 3, 5])
def test_a_confirmation_retried_after_transient_failures_ends_with_exactly_one_room(
    paused: firestore.Client, people: dict[str, emu.User], failures: int
) -> None:
    ref = paused.collection("appointments").document("flaky")
    pending = emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending")
    ref.set(pending)
    confirmed_at = ref.update({"status": "confirmed"}).update_time
    after = ref.get().to_dict()
    client = emu.admin_db()
    flaky = Flaky(client, failures)
    rooms_seen: set[str] = set()

    # Delivery as Eventarc does it with retry on: the same event again after each failure.
    attempts = 0
    while True:
        attempts += 1
        try:
            outcome = apply_room_lifecycle(client, "flaky", pending, after, room_maker(lambda: CONFIG), confirmed_at)
            break
        except ServiceUnavailable:
            video = (ref.get().to_dict() or {}).get("video")
            if video:
                rooms_seen.add(video["roomName"])
            assert attempts < 20
    # Redelivered once more after success, as at-least-once delivery may.
    assert (
        apply_room_lifecycle(client, "flaky", pending, after, room_maker(lambda: CONFIG), confirmed_at).action
        is Action.NOTHING
    )

    assert flaky.failures == 0
    assert outcome.action is Action.ASSIGN
    video = ref.get().to_dict()["video"]
    assert len(video["roomName"]) == 32
    assert rooms_seen <= {video["roomName"]}


def visit(people: dict[str, emu.User], start_in: dt.timedelta, **fields: Any) -> dict[str, Any]:
    start = emu.utc(start_in)
    return (
        emu.video_appointment(people["doctor"].uid, people["patient"].uid, startTime=start, endTime=start + HOUR / 2)
        | fields
    )


ROOM = {"roomName": "s" * 32, "provider": "jitsi", "roomUrl": "https://meet.example.test/" + "s" * 32}


def test_the_repair_sweep_fixes_a_seeded_mess_and_nothing_else_and_is_idempotent(
    paused: firestore.Client, people: dict[str, emu.User]
) -> None:
    mess = {
        "soon-no-room": (visit(people, HOUR), "gets a room"),
        "under-way-no-room": (visit(people, -HOUR / 4), "gets a room"),
        "in-two-days-no-room": (visit(people, dt.timedelta(hours=47)), "gets a room"),
        "in-three-days-no-room": (visit(people, dt.timedelta(days=3)), "unchanged"),
        "over-no-room": (visit(people, -3 * HOUR), "unchanged"),
        "fine": (visit(people, HOUR, video=ROOM), "unchanged"),
        "completed": (visit(people, -3 * HOUR, status="completed", video=ROOM), "unchanged"),
        "cancelled-with-room": (visit(people, HOUR, status="cancelled", video=ROOM), "withdrawn"),
        "pending-with-room": (visit(people, HOUR, status="pending", video=ROOM), "withdrawn"),
        "in-person-with-room": (visit(people, HOUR, type="in_person", video=ROOM), "withdrawn"),
        "pending-no-room": (visit(people, HOUR, status="pending"), "unchanged"),
    }
    for doc_id, (fields, _) in mess.items():
        paused.collection("appointments").document(doc_id).set(fields)
    seeded = {doc_id: paused.collection("appointments").document(doc_id).get().to_dict() for doc_id in mess}

    report = repair.sweep(paused, now=dt.datetime.now(dt.UTC), config=lambda: CONFIG)

    assert (report.assigned, report.withdrawn, report.failed) == (3, 3, 0)
    for doc_id, (_, expected) in mess.items():
        now = paused.collection("appointments").document(doc_id).get().to_dict()
        others = {k: v for k, v in now.items() if k != "video"}
        assert others == {k: v for k, v in seeded[doc_id].items() if k != "video"}, doc_id
        if expected == "gets a room":
            assert len(now["video"]["roomName"]) == 32, doc_id
        elif expected == "withdrawn":
            assert "video" not in now, doc_id
        else:
            assert now == seeded[doc_id], doc_id

    settled = {snap.id: snap.to_dict() for snap in paused.collection("appointments").stream()}
    again = repair.sweep(paused, now=dt.datetime.now(dt.UTC), config=lambda: CONFIG)
    assert (again.assigned, again.withdrawn, again.failed) == (0, 0, 0)
    assert {snap.id: snap.to_dict() for snap in paused.collection("appointments").stream()} == settled


def test_the_sweep_is_bounded_per_run_and_finishes_over_several(
    paused: firestore.Client, people: dict[str, emu.User]
) -> None:
    for n in range(5):
        paused.collection("appointments").document(f"broken-{n}").set(visit(people, HOUR + n * HOUR))
        paused.collection("appointments").document(f"stale-{n}").set(
            visit(people, HOUR, status="cancelled", video=ROOM)
        )

    runs = []
    for _ in range(3):
        report = repair.sweep(paused, now=dt.datetime.now(dt.UTC), config=lambda: CONFIG, limit=2)
        runs.append((report.assigned, report.withdrawn))

    assert runs == [(2, 2), (2, 2), (1, 1)]
    stored = {snap.id: snap.to_dict() for snap in paused.collection("appointments").stream()}
    assert all("video" in data for doc_id, data in stored.items() if doc_id.startswith("broken-"))
    assert not any("video" in data for doc_id, data in stored.items() if doc_id.startswith("stale-"))


def test_one_failing_appointment_does_not_stop_the_sweep(paused: firestore.Client, people: dict[str, emu.User]) -> None:
    paused.collection("appointments").document("a-ok").set(visit(people, HOUR))
    paused.collection("appointments").document("b-ok").set(visit(people, 2 * HOUR))
    failures: list[str] = []
    calls = {"n": 0}

    def config_failing_for_the_first_visit() -> VideoConfig:
        # Its conditional write and its transaction both ask for the config: fail both.
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ServiceUnavailable("injected")
        return CONFIG

    report = repair.sweep(
        paused,
        now=dt.datetime.now(dt.UTC),
        config=config_failing_for_the_first_visit,
        on_failure=lambda doc_id, _error: failures.append(doc_id),
    )
    assert (report.assigned, report.failed, failures) == (1, 1, ["a-ok"])


def test_two_triggers_racing_on_the_same_event_write_one_room(
    paused: firestore.Client, people: dict[str, emu.User]
) -> None:
    config = video_config(provider="jitsi", domain="meet.example.test", app_id="telehealth-demo")
    before = emu.doctor_in_appointment(people["doctor"].uid, people["patient"].uid) | {"status": "pending"}
    before.pop("video")
    ref = paused.collection("appointments").document("raced")
    ref.set(before)
    ref.update({"status": "confirmed"})
    after = ref.get().to_dict()
    clients = [emu.admin_db() for _ in range(2)]
    counters = [emu.OpCounter(client) for client in clients]
    start = threading.Barrier(2)

    def deliver(client: firestore.Client) -> Action:
        start.wait()
        return apply_room_lifecycle(client, "raced", before, after, room_maker(lambda: config)).action

    with ThreadPoolExecutor(max_workers=2) as pool:
        actions = list(pool.map(deliver, clients))
    room = ref.get().to_dict()["video"]["roomName"]
    for _ in range(5):
        assert (
            apply_room_lifecycle(clients[0], "raced", before, after, room_maker(lambda: config)).action
            is Action.NOTHING
        )

    assert sorted(action.value for action in actions) == ["assign", "nothing"]
    assert sum(counter.writes for counter in counters) == 1
    assert ref.get().to_dict()["video"]["roomName"] == room


def test_an_event_overtaken_by_a_later_write_is_decided_on_the_stored_state(
    paused: firestore.Client, people: dict[str, emu.User]
) -> None:
    config = video_config(provider="jitsi", domain="meet.example.test", app_id="telehealth-demo")
    old_room = {"roomName": "o" * 32, "provider": "jitsi", "roomUrl": "https://meet.example.test/" + "o" * 32}
    confirmed = emu.doctor_in_appointment(people["doctor"].uid, people["patient"].uid) | {"video": old_room}
    ref = paused.collection("appointments").document("overtaken")
    ref.set(confirmed)
    cancelled_at = ref.update({"status": "cancelled"}).update_time
    cancelled = ref.get().to_dict()
    ref.update({"status": "confirmed"})  # a server re-confirms before the cancellation's event is handled
    counter = emu.OpCounter(paused)

    outcome = apply_room_lifecycle(paused, "overtaken", confirmed, cancelled, room_maker(lambda: config), cancelled_at)

    # The conditional write was refused (the document moved on); the transaction replaced the dead room.
    assert (outcome.action, outcome.via) == (Action.REPLACE, "transaction")
    assert (counter.reads, counter.writes) == (1, 1)
    stored = ref.get().to_dict()
    assert stored["status"] == "confirmed"
    assert stored["video"]["roomName"] not in (old_room["roomName"], None)


def test_a_current_event_writes_once_without_reading(paused: firestore.Client, people: dict[str, emu.User]) -> None:
    config = video_config(provider="jitsi", domain="meet.example.test", app_id="telehealth-demo")
    pending = emu.doctor_in_appointment(people["doctor"].uid, people["patient"].uid) | {"status": "pending"}
    pending.pop("video")
    ref = paused.collection("appointments").document("current")
    ref.set(pending)
    confirmed_at = ref.update({"status": "confirmed"}).update_time
    counter = emu.OpCounter(paused)

    outcome = apply_room_lifecycle(
        paused, "current", pending, pending | {"status": "confirmed"}, room_maker(lambda: config), confirmed_at
    )

    assert (outcome.action, outcome.via) == (Action.ASSIGN, "precondition")
    assert (counter.reads, counter.writes) == (0, 1)
    assert len(ref.get().to_dict()["video"]["roomName"]) == 32
