"""Rooms created at the provider: the assignment's second conditional write, retries, spare rooms, deletion
on withdrawal and the sweep's completion, on the faithful fake Firestore (tests/support/fakes.py) against
EnableX's loopback stand-in (tests/standins.py), whose rooms are real HTTP round trips."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import NOW, NOW_S, appointment, serial_transactional
from google.api_core.exceptions import ServiceUnavailable
from standins import EnableX, serve
from support.configs import video_config
from support.fakes import FakeDB, Precondition, Snapshot

from telehealth import lifecycle, repair, rooms
from telehealth.config import Settings
from telehealth.errors import ProviderCallFailed
from telehealth.providers import build_settings, creates_rooms
from telehealth.providers.base import Deployment
from telehealth.rooms import Action, provider_room_of, room_of
from telehealth.store import appointments, attendance
from telehealth.store.appointments import ALREADY_RECORDED, RECORDED, SPARE

APP_ID = "enx-app-0001"
APP_KEY = "enablex-app-key-0123456789abcdefXYZ"
PARAMS = {"VIDEO_PROVIDER": "enablex"}
PATH = "appointments/a1"
ROOM = "a" * 32


@pytest.fixture
def enablex() -> Iterator[str]:
    EnableX.reset(APP_ID, APP_KEY)
    with serve(EnableX) as url:
        yield url


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDB:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)
    monkeypatch.setattr(attendance, "transactional", serial_transactional)
    fake = FakeDB()
    fake.put(PATH, appointment(status="pending", video=None))
    return fake


def settings_for(url: str, key: str = APP_KEY) -> Settings:
    return build_settings(video_config(provider="enablex", app_id=APP_ID, server_api=url), key)


def deployment_for(url: str, key: str = APP_KEY) -> Deployment:
    settings = settings_for(url, key)
    return Deployment(config=lambda: settings.config, settings=lambda: settings, secret=lambda name: pytest.fail(name))


class Failures:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, what: str, error: Exception) -> None:
        self.seen.append((what, type(error).__name__))


def written(
    db: FakeDB,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    deployment: Deployment,
    at: int | None = None,
    failures: Failures | None = None,
) -> lifecycle.LifecycleOutcome:
    """One trigger event through the lifecycle use case, as main.assign_video_room hands it over."""
    return lifecycle.on_appointment_written(
        db,
        "a1",
        before,
        after,
        at,
        params=PARAMS,
        config=deployment.config,
        deployment=deployment,
        now=NOW_S,
        on_failure=failures or Failures(),
    )


def change(db: FakeDB, **fields: Any) -> tuple[dict[str, Any], dict[str, Any], int]:
    """A client's write to a1: the event's before and after, and when it was written."""
    before = db.docs[PATH]
    db.put(PATH, {**before, **fields})
    return before, db.docs[PATH], db.times[PATH]


def video(db: FakeDB) -> dict[str, Any]:
    stored: dict[str, Any] = db.docs[PATH].get("video", {})
    return stored


# The assignment: the room name first, then the provider's room in a second conditional write ----------------


def test_an_assignment_writes_the_name_then_the_provider_room_in_a_second_conditional_write(
    db: FakeDB, enablex: str
) -> None:
    before, after, at = change(db, status="confirmed")
    db.writes.clear()

    outcome = written(db, before, after, deployment_for(enablex), at)

    assert (outcome.write.action, outcome.write.via, outcome.room_created) == (Action.ASSIGN, "precondition", True)
    [(room_id, body)] = EnableX.rooms.items()
    assert body["name"] == video(db)["roomName"]
    assert video(db)["providerRoomId"] == room_id
    # The name's write with the event's update time, then one transaction writing providerRoomId only.
    assert db.writes == [("update", PATH, Precondition(at)), ("update", PATH, None)]
    assert db.transactions == 1
    assert {key: value for key, value in db.docs[PATH].items() if key != "video"} == {
        key: value for key, value in after.items() if key != "video"
    }
    assert set(video(db)) == {"roomName", "provider", "roomUrl", "assignedAt", "providerRoomId"}


def test_a_redelivered_assignment_and_the_triggers_own_writes_create_no_second_room(db: FakeDB, enablex: str) -> None:
    before, after, at = change(db, status="confirmed")
    deployment = deployment_for(enablex)
    written(db, before, after, deployment, at)
    named, recorded = db.docs[PATH], dict(video(db))

    again = [written(db, before, after, deployment, at) for _ in range(3)]
    own_write = written(db, after, named, deployment, db.times[PATH])

    assert [outcome.room_created for outcome in [*again, own_write]] == [False] * 4
    assert len(EnableX.rooms) == 1
    assert video(db) == recorded
    assert [method for method, _ in EnableX.requests] == ["POST"]


def test_a_failed_creation_raises_and_the_retried_event_completes_it(db: FakeDB, enablex: str) -> None:
    before, after, at = change(db, status="confirmed")
    failures = Failures()

    with pytest.raises(OSError, match="Connection refused"):  # nothing listens there: the event is retried
        written(db, before, after, deployment_for("http://127.0.0.1:9"), at, failures)
    assert failures.seen == [("creating the room at the provider failed", "URLError")]
    assert room_of(db.docs[PATH]) is not None
    assert provider_room_of(db.docs[PATH]) is None

    retried = written(db, before, after, deployment_for(enablex), at)

    assert (retried.write.action, retried.room_created) == (Action.NOTHING, True)
    assert video(db)["providerRoomId"] == next(iter(EnableX.rooms))


def test_a_refused_creation_raises_provider_call_failed_and_records_nothing(db: FakeDB, enablex: str) -> None:
    before, after, at = change(db, status="confirmed")
    with pytest.raises(ProviderCallFailed) as raised:
        written(db, before, after, deployment_for(enablex, key="another-enablex-app-key-0123456789"), at)
    assert raised.value.status == 401
    assert EnableX.rooms == {}
    assert "providerRoomId" not in video(db)


def test_a_failed_second_write_deletes_the_room_it_could_not_record_and_raises(db: FakeDB, enablex: str) -> None:
    before, after, at = change(db, status="confirmed")
    deployment = deployment_for(enablex)
    db.fail_next = [None, ServiceUnavailable("down")]  # the name's write lands, the provider room's fails

    with pytest.raises(ServiceUnavailable):
        written(db, before, after, deployment, at)
    assert room_of(db.docs[PATH]) is not None
    assert "providerRoomId" not in video(db)
    assert EnableX.rooms == {}  # made, and deleted again: the retry makes the one that counts
    assert len(EnableX.deleted) == 1

    assert written(db, before, after, deployment, at).room_created is True
    assert list(EnableX.rooms) == [video(db)["providerRoomId"]]


def test_a_room_recorded_by_a_racing_creation_leaves_ours_spare_and_it_is_deleted(
    db: FakeDB, enablex: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after, at = change(db, status="confirmed")
    appointments.apply_room_lifecycle(db, "a1", before, after, lifecycle.room_maker(deployment_for(enablex).config), at)
    stale = db.docs[PATH]  # what this invocation read, before the other one recorded its room
    EnableX.rooms["other0room"] = {"name": room_of(stale)}
    db.put(PATH, {**stale, "video": {**stale["video"], "providerRoomId": "other0room"}})
    monkeypatch.setattr(lifecycle.appointments, "read_appointment", lambda _db, _id: stale)

    assert lifecycle.create_provider_room(db, "a1", deployment_for(enablex), NOW_S) is False

    assert video(db)["providerRoomId"] == "other0room"
    assert list(EnableX.rooms) == ["other0room"]  # ours was made, then deleted again
    assert len(EnableX.deleted) == 1
    assert EnableX.deleted[0] != "other0room"


def test_a_visit_cancelled_while_its_room_was_being_created_gets_the_room_deleted(
    db: FakeDB, enablex: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after, at = change(db, status="confirmed")
    appointments.apply_room_lifecycle(db, "a1", before, after, lifecycle.room_maker(deployment_for(enablex).config), at)
    stale = db.docs[PATH]
    change(db, status="cancelled")
    monkeypatch.setattr(lifecycle.appointments, "read_appointment", lambda _db, _id: stale)

    assert lifecycle.create_provider_room(db, "a1", deployment_for(enablex), NOW_S) is False

    assert EnableX.rooms == {}
    assert len(EnableX.deleted) == 1
    assert "providerRoomId" not in video(db)


def test_a_retried_assignment_after_a_cancellation_creates_nothing(db: FakeDB, enablex: str) -> None:
    before, after, at = change(db, status="confirmed")
    appointments.apply_room_lifecycle(db, "a1", before, after, lifecycle.room_maker(deployment_for(enablex).config), at)
    change(db, status="cancelled")

    assert written(db, before, after, deployment_for(enablex), at).room_created is False
    assert EnableX.requests == []


# The second write on its own ----------------------------------------------------------------------------------


def holding(room: str = "a" * 32, provider_room: str | None = None, **fields: Any) -> dict[str, Any]:
    stored = appointment(**fields)
    stored["video"] = {"roomName": room, **({"providerRoomId": provider_room} if provider_room else {})}
    return stored


@pytest.mark.parametrize(
    ("stored", "outcome", "provider_room"),
    [
        pytest.param(holding(), RECORDED, "p1", id="the room awaits it: recorded"),
        pytest.param(holding(provider_room="p1"), ALREADY_RECORDED, "p1", id="the same id again: nothing written"),
        pytest.param(holding(provider_room="p0"), SPARE, "p0", id="another id holds the room: ours is spare"),
        pytest.param(holding(room="b" * 32), SPARE, None, id="the room was replaced meanwhile"),
        pytest.param(holding(status="cancelled"), SPARE, None, id="the visit was cancelled meanwhile"),
        pytest.param(holding(type="in_person"), SPARE, None, id="the visit is no longer by video"),
        pytest.param(appointment(video=None), SPARE, None, id="the room was withdrawn meanwhile"),
    ],
)
def test_the_provider_room_is_recorded_only_on_the_room_it_was_made_for(
    db: FakeDB, stored: dict[str, Any], outcome: str, provider_room: str | None
) -> None:
    db.put(PATH, stored)
    db.writes.clear()

    assert appointments.record_provider_room(db, "a1", "a" * 32, "p1") == outcome

    assert provider_room_of(db.docs[PATH]) == provider_room
    assert db.writes == ([("update", PATH, None)] if outcome == RECORDED else [])
    untouched = {key: value for key, value in stored.items() if key != "video"}
    assert {key: value for key, value in db.docs[PATH].items() if key != "video"} == untouched


def test_no_document_means_a_spare_room(db: FakeDB) -> None:
    assert appointments.record_provider_room(db, "gone", "a" * 32, "p1") == SPARE
    assert appointments.read_appointment(db, "gone") is None
    assert db.writes == []


# Withdrawals ----------------------------------------------------------------------------------------------


@pytest.fixture
def created(db: FakeDB, enablex: str) -> str:
    """a1 confirmed, named and created at the stand-in; returns EnableX's room id."""
    before, after, at = change(db, status="confirmed")
    written(db, before, after, deployment_for(enablex), at)
    room_id: str = video(db)["providerRoomId"]
    EnableX.requests.clear()
    return room_id


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"status": "cancelled"}, id="cancelled"),
        pytest.param({"status": "completed"}, id="completed (the record keeps its name)"),
        pytest.param({"type": "in_person"}, id="made in person"),
    ],
)
def test_a_room_that_goes_is_deleted_at_the_provider(
    db: FakeDB, enablex: str, created: str, fields: dict[str, Any]
) -> None:
    before, after, at = change(db, **fields)

    outcome = written(db, before, after, deployment_for(enablex), at)

    assert outcome.room_deleted is True
    assert EnableX.deleted == [created]
    assert EnableX.requests == [("DELETE", f"/video/v1/rooms/{created}")]


def test_a_redelivered_withdrawal_finds_the_room_gone_and_counts_it_deleted(
    db: FakeDB, enablex: str, created: str
) -> None:
    before, after, at = change(db, status="cancelled")
    deployment = deployment_for(enablex)
    written(db, before, after, deployment, at)

    assert written(db, before, after, deployment, at).room_deleted is True  # 404: done, not retried
    assert EnableX.deleted == [created]
    assert EnableX.statuses[-1] == 404


def test_a_failed_deletion_raises_for_a_retry_after_the_withdrawal_is_written(
    db: FakeDB, enablex: str, created: str
) -> None:
    before, after, at = change(db, status="cancelled")
    failures = Failures()

    with pytest.raises(ProviderCallFailed) as raised:
        written(db, before, after, deployment_for(enablex, key="another-enablex-app-key-0123456789"), at, failures)

    assert raised.value.status == 401
    assert failures.seen == [("deleting the room at the provider failed", "ProviderCallFailed")]
    assert "video" not in db.docs[PATH]  # the withdrawal stands; the retry deletes the room
    assert created in EnableX.rooms
    assert written(db, before, after, deployment_for(enablex), at).room_deleted is True
    assert EnableX.deleted == [created]


def test_a_moved_visit_gets_a_new_provider_room_and_the_old_one_is_deleted(
    db: FakeDB, enablex: str, created: str
) -> None:
    before, after, at = change(db, startTime=NOW + dt.timedelta(days=1), endTime=NOW + dt.timedelta(days=1, hours=1))

    outcome = written(db, before, after, deployment_for(enablex), at)

    assert (outcome.write.action, outcome.room_created, outcome.room_deleted) == (Action.REPLACE, True, True)
    assert EnableX.deleted == [created]
    assert list(EnableX.rooms) == [video(db)["providerRoomId"]]
    assert EnableX.rooms[video(db)["providerRoomId"]]["name"] == video(db)["roomName"]


def test_an_update_that_changes_nothing_touches_the_provider_not_at_all(db: FakeDB, enablex: str, created: str) -> None:
    before, after, at = change(db, notes="bring results")
    outcome = written(db, before, after, deployment_for(enablex), at)
    assert (outcome.room_created, outcome.room_deleted) == (False, False)
    assert EnableX.requests == []


# Deployments that create no rooms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "creates"),
    [
        pytest.param({"VIDEO_PROVIDER": "enablex"}, True, id="enablex"),
        pytest.param({"VIDEO_PROVIDER": " Vonage "}, True, id="vonage, as the param may be written"),
        pytest.param({"VIDEO_PROVIDER": "livekit"}, False, id="livekit by default"),
        pytest.param({"VIDEO_PROVIDER": "livekit", "VIDEO_LIVEKIT_CREATE_ROOMS": True}, True, id="livekit with rooms"),
        pytest.param({"VIDEO_PROVIDER": "livekit", "VIDEO_LIVEKIT_CREATE_ROOMS": "true"}, False, id="only a bool"),
        pytest.param({"VIDEO_PROVIDER": "jitsi"}, False, id="jitsi"),
        pytest.param({}, False, id="the default provider"),
        pytest.param({"VIDEO_PROVIDER": 7}, False, id="not even text"),
        pytest.param({"VIDEO_PROVIDER": "teams"}, False, id="no such provider"),
    ],
)
def test_which_deployments_create_rooms(values: dict[str, Any], creates: bool) -> None:
    assert creates_rooms(values) is creates


def test_a_deployment_without_room_creation_never_reads_or_calls_after_the_write(db: FakeDB) -> None:
    before, after, at = change(db, status="confirmed")
    config = video_config(domain="meet.clinic.test", app_id="clinic-app")
    broken = Deployment(config=lambda: config, settings=lambda: pytest.fail("settings"), secret=pytest.fail)
    db.writes.clear()

    outcome = lifecycle.on_appointment_written(
        db,
        "a1",
        before,
        after,
        at,
        params={},
        config=lambda: config,
        deployment=broken,
        now=NOW_S,
        on_failure=Failures(),
    )

    assert (outcome.room_created, outcome.room_deleted) == (False, False)
    assert "providerRoomId" not in video(db)
    assert len(db.writes) == 1


def test_a_provider_without_delete_deletes_nothing() -> None:
    config = video_config(domain="meet.clinic.test", app_id="clinic-app")
    deployment = Deployment(config=lambda: config, settings=lambda: pytest.fail("settings"), secret=pytest.fail)
    assert lifecycle.delete_provider_room("p1", deployment) is False


def test_a_visit_without_usable_times_gets_a_room_that_lives_the_fallback() -> None:
    config = video_config(domain="meet.clinic.test", app_id="clinic-app")
    assert lifecycle.room_closes_at(appointment(startTime="later"), config, NOW_S) == NOW_S + 48 * 3600
    assert lifecycle.room_closes_at(appointment(), config, NOW_S) == NOW_S + 35 * 60 + 30 * 60


# The sweep completes what a failure left ----------------------------------------------------------------------


@pytest.fixture
def queries(db: FakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's two queries answered from the fake's documents (the real ones are in tests/emulator)."""

    def snapshots(keep: Any) -> list[Snapshot]:
        refs = [db.collection("appointments").document(path.split("/")[1]) for path in db.docs]
        return [ref.get() for ref in refs if keep(db.docs[ref.path])]

    monkeypatch.setattr(
        appointments,
        "confirmed_video_between",
        lambda _db, *_: snapshots(lambda doc: doc["status"] == "confirmed" and doc["type"] == "video"),
    )
    monkeypatch.setattr(
        appointments,
        "holding_a_room_without_keeping_it",
        lambda _db, _limit: snapshots(lambda doc: room_of(doc) and doc["status"] in ("pending", "cancelled")),
    )


def sweep(db: FakeDB, url: str | None, creating: bool = True) -> repair.SweepReport:
    deployment = deployment_for(url or "http://127.0.0.1:9")
    return repair.sweep(
        db, now=NOW, config=deployment.config, deployment=deployment if creating else None, on_failure=Failures()
    )


@pytest.mark.usefixtures("queries")
def test_the_sweep_creates_the_room_a_failure_left_named_only(db: FakeDB, enablex: str) -> None:
    db.put(PATH, holding())

    first = sweep(db, enablex)
    second = sweep(db, enablex)

    assert (first.completed, first.assigned, first.examined, first.failed) == (1, 0, 1, 0)
    assert video(db)["providerRoomId"] in EnableX.rooms
    assert (second.completed, second.examined) == (0, 0)
    assert len(EnableX.rooms) == 1


@pytest.mark.usefixtures("queries")
def test_the_sweep_assigns_and_creates_in_one_pass(db: FakeDB, enablex: str) -> None:
    db.put(PATH, appointment(video=None))

    report = sweep(db, enablex)

    assert (report.assigned, report.completed) == (1, 1)
    assert EnableX.rooms[video(db)["providerRoomId"]]["name"] == video(db)["roomName"]


@pytest.mark.usefixtures("queries")
def test_the_sweep_on_a_deployment_without_room_creation_leaves_named_rooms_alone(db: FakeDB, enablex: str) -> None:
    db.put(PATH, holding())
    report = sweep(db, enablex, creating=False)
    assert (report.completed, report.examined) == (0, 0)
    assert EnableX.requests == []


@pytest.mark.usefixtures("queries")
def test_a_failed_completion_is_counted_and_tried_again_next_run(db: FakeDB, enablex: str) -> None:
    db.put(PATH, holding())

    failed = sweep(db, None)
    assert (failed.completed, failed.failed) == (0, 1)
    assert "providerRoomId" not in video(db)

    assert sweep(db, enablex).completed == 1


@pytest.mark.usefixtures("queries")
def test_the_sweep_deletes_a_cancelled_visits_provider_room_before_withdrawing_it(db: FakeDB, enablex: str) -> None:
    EnableX.rooms["room0one"] = {"name": "a" * 32}
    db.put(PATH, holding(provider_room="room0one", status="cancelled"))

    report = sweep(db, enablex)

    assert report.withdrawn == 1
    assert EnableX.deleted == ["room0one"]
    assert "video" not in db.docs[PATH]


@pytest.mark.usefixtures("queries")
def test_a_failed_deletion_keeps_the_room_for_the_next_sweep(db: FakeDB) -> None:
    db.put(PATH, holding(provider_room="room0one", status="cancelled"))

    report = sweep(db, None)  # nothing listens there

    assert (report.withdrawn, report.failed) == (0, 1)
    assert provider_room_of(db.docs[PATH]) == "room0one"


# Edges the mutation run found -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "provider_room", "awaiting"),
    [
        pytest.param(None, None, None, id="no document"),
        pytest.param(appointment(video=None), None, None, id="no room"),
        pytest.param(holding(), None, "a" * 32, id="named, not created"),
        pytest.param(holding(provider_room="p1"), "p1", None, id="created"),
        pytest.param(holding(status="cancelled"), None, None, id="cancelled: awaits nothing"),
        pytest.param(
            {**holding(), "video": {"roomName": "a" * 32, "providerRoomId": 7}}, None, "a" * 32, id="not text"
        ),
        pytest.param({**holding(), "video": {"roomName": "a" * 32, "providerRoomId": ""}}, None, "a" * 32, id="empty"),
        pytest.param({**holding(), "video": "a room"}, None, None, id="video is not a map"),
    ],
)
def test_which_rooms_await_their_provider_room(
    doc: dict[str, Any] | None, provider_room: str | None, awaiting: str | None
) -> None:
    assert provider_room_of(doc) == provider_room
    assert rooms.room_awaiting_provider(doc) == awaiting


def test_a_provider_that_creates_no_rooms_creates_nothing_for_a_named_room(db: FakeDB) -> None:
    db.put(PATH, holding())
    config = video_config(domain="meet.clinic.test", app_id="clinic-app")
    jitsi = Deployment(config=lambda: config, settings=lambda: pytest.fail("settings"), secret=pytest.fail)
    assert lifecycle.create_provider_room(db, "a1", jitsi, NOW_S) is False
    assert db.writes == []


def test_a_record_that_landed_though_it_reported_an_error_keeps_its_room(
    db: FakeDB, enablex: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.put(PATH, holding())
    record = appointments.record_provider_room

    def lands_then_fails(*args: Any) -> str:
        record(*args)
        raise ServiceUnavailable("the commit's answer was lost")

    monkeypatch.setattr(lifecycle.appointments, "record_provider_room", lands_then_fails)

    with pytest.raises(ServiceUnavailable):
        lifecycle.create_provider_room(db, "a1", deployment_for(enablex), NOW_S)

    assert video(db)["providerRoomId"] in EnableX.rooms
    assert EnableX.deleted == []


def test_when_the_record_and_the_read_after_it_fail_the_records_error_is_raised(
    db: FakeDB, enablex: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.put(PATH, holding())
    reads = iter([db.docs[PATH]])

    def read_once(_db: Any, _id: str) -> Any:
        return next(reads)  # a second read raises StopIteration, as a failed read would raise

    monkeypatch.setattr(lifecycle.appointments, "read_appointment", read_once)
    db.fail_next = [ServiceUnavailable("down")]

    with pytest.raises(ServiceUnavailable):
        lifecycle.create_provider_room(db, "a1", deployment_for(enablex), NOW_S)


def test_a_failed_room_write_is_reported_before_it_is_raised(db: FakeDB, enablex: str) -> None:
    before, after, _ = change(db, status="confirmed")
    db.fail_next = [ServiceUnavailable("down")]
    failures = Failures()
    with pytest.raises(ServiceUnavailable):
        written(db, before, after, deployment_for(enablex), None, failures)
    assert failures.seen == [("room lifecycle failed; no room assigned or withdrawn", "ServiceUnavailable")]
    assert EnableX.requests == []


def test_the_outcome_says_exactly_what_was_done(db: FakeDB, enablex: str) -> None:
    before, after, at = change(db, status="confirmed")
    outcome = written(db, before, after, deployment_for(enablex), at)
    assert outcome == lifecycle.LifecycleOutcome(
        appointments.RoomWrite(Action.ASSIGN, "precondition"),
        meeting_ended=False,
        room_created=True,
        room_deleted=False,
    )
    before, after, at = change(db, status="cancelled")
    outcome = written(db, before, after, deployment_for(enablex), at)
    assert outcome == lifecycle.LifecycleOutcome(
        appointments.RoomWrite(Action.WITHDRAW, "precondition"),
        meeting_ended=False,
        room_created=False,
        room_deleted=True,
    )


@pytest.mark.usefixtures("queries")
def test_the_sweep_counts_each_completion_and_stops_at_its_limit(db: FakeDB, enablex: str) -> None:
    db.put(PATH, holding())
    db.put("appointments/a2", holding(room="b" * 32))
    db.put("appointments/a3", holding(room="c" * 32))
    deployment = deployment_for(enablex)

    limited = repair.sweep(db, now=NOW, config=deployment.config, deployment=deployment, limit=1)
    rest = repair.sweep(db, now=NOW, config=deployment.config, deployment=deployment)

    assert (limited.completed, limited.examined) == (1, 1)
    assert (rest.completed, rest.examined) == (2, 2)
    assert len(EnableX.rooms) == 3


@pytest.mark.usefixtures("queries")
def test_the_sweep_reports_each_failure_by_appointment_and_hands_on_the_clock(
    db: FakeDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.put(PATH, holding())
    db.put("appointments/a2", holding(room="b" * 32))
    calls: list[tuple[str, int]] = []

    def failing(_db: Any, appointment_id: str, _deployment: Any, now: int) -> bool:
        calls.append((appointment_id, now))
        raise ProviderCallFailed(503)

    monkeypatch.setattr(repair, "create_provider_room", failing)
    failures = Failures()
    deployment = deployment_for("http://127.0.0.1:9")

    report = repair.sweep(db, now=NOW, config=deployment.config, deployment=deployment, on_failure=failures)

    assert (report.failed, report.completed) == (2, 0)
    assert calls == [("a1", NOW_S), ("a2", NOW_S)]
    assert failures.seen == [("a1", "ProviderCallFailed"), ("a2", "ProviderCallFailed")]


@pytest.mark.usefixtures("queries")
def test_the_sweep_withdraws_a_room_less_visit_without_a_provider_room_and_deletes_nothing(
    db: FakeDB, enablex: str
) -> None:
    db.put(PATH, holding(status="cancelled"))
    report = repair.sweep(db, now=NOW, config=deployment_for(enablex).config, deployment=deployment_for(enablex))
    assert report.withdrawn == 1
    assert EnableX.requests == []
