"""The trigger's Firestore adapter against an in-memory Firestore: idempotent, minimal, only ``video``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import appointment, jitsi_config, snapshot
from google.api_core.exceptions import FailedPrecondition, InvalidArgument, ServiceUnavailable
from google.cloud.firestore import SERVER_TIMESTAMP
from mockfirestore import MockFirestore
from mockfirestore.document import DocumentReference

from telehealth.errors import Misconfigured
from telehealth.lifecycle import room_maker
from telehealth.rooms import Action
from telehealth.store.appointments import apply_room_lifecycle
from telehealth.store.emulator_ids import candidate_ids

CONFIG = jitsi_config()
NEW_ROOM = room_maker(lambda: CONFIG)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every document write the code under test makes (transactional ones land here at commit)."""
    seen: list[tuple[str, Any]] = []
    for method in ("set", "update", "delete"):
        original = getattr(DocumentReference, method)

        def spy(self: DocumentReference, *args: Any, _original: Any = original, _method: str = method) -> Any:
            seen.append((_method, args))
            return _original(self, *args)

        monkeypatch.setattr(DocumentReference, method, spy)
    return seen


def seed(db: MockFirestore, **fields: Any) -> dict[str, Any]:
    data = appointment(**fields)
    db.collection("appointments").document("a1").set(data)
    return data


def stored(db: MockFirestore) -> dict[str, Any]:
    data: dict[str, Any] = db.collection("appointments").document("a1").get().to_dict()
    return data


def confirm(db: MockFirestore) -> tuple[dict[str, Any], dict[str, Any]]:
    """Confirm the pending appointment a1 as the doctor's client would; return the event's (before, after)."""
    before = stored(db)
    db.collection("appointments").document("a1").update({"status": "confirmed"})
    return before, stored(db)


def test_confirmation_writes_the_video_map_once_and_nothing_else(
    db: MockFirestore, writes: list[tuple[str, Any]]
) -> None:
    seed(db, status="pending", video=None)
    before, after = confirm(db)
    writes.clear()

    outcome = apply_room_lifecycle(db, "a1", before, after, NEW_ROOM)

    # Without the event's update time (mock-firestore has no preconditions) the transaction decides.
    assert (outcome.action, outcome.via) == (Action.ASSIGN, "transaction")
    assert len(writes) == 1
    video = stored(db)["video"]
    assert set(video) == {"roomName", "assignedAt", "provider", "roomUrl"}
    assert video["assignedAt"] is SERVER_TIMESTAMP
    assert video["provider"] == "jitsi"
    assert video["roomUrl"] == f"https://meet.clinic.test/{video['roomName']}"
    assert {key: value for key, value in stored(db).items() if key != "video"} == after


def test_a_redelivered_confirmation_changes_nothing(db: MockFirestore, writes: list[tuple[str, Any]]) -> None:
    seed(db, status="pending", video=None)
    before, after = confirm(db)
    apply_room_lifecycle(db, "a1", before, after, NEW_ROOM)
    first = snapshot(db)
    writes.clear()

    for _ in range(5):
        assert apply_room_lifecycle(db, "a1", before, after, NEW_ROOM).action is Action.NOTHING

    assert writes == []
    assert snapshot(db) == first


def test_the_triggers_own_write_causes_no_further_write(db: MockFirestore, writes: list[tuple[str, Any]]) -> None:
    seed(db, status="pending", video=None)
    before, after = confirm(db)
    apply_room_lifecycle(db, "a1", before, after, NEW_ROOM)
    with_room = stored(db)
    writes.clear()

    assert apply_room_lifecycle(db, "a1", after, with_room, NEW_ROOM).action is Action.NOTHING
    assert writes == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"notes": "bring results"}, id="an unrelated field changes"),
        pytest.param({"type": "video"}, id="a field written again unchanged"),
    ],
)
def test_an_irrelevant_update_to_a_confirmed_visit_writes_nothing(
    db: MockFirestore, writes: list[tuple[str, Any]], change: dict[str, Any]
) -> None:
    before = seed(db)
    db.collection("appointments").document("a1").update(change)
    after = stored(db)
    writes.clear()

    assert apply_room_lifecycle(db, "a1", before, after, NEW_ROOM).action is Action.NOTHING
    assert writes == []
    assert stored(db)["video"] == before["video"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"startTime": appointment()["startTime"] + dt.timedelta(days=7)}, id="start moved"),
        pytest.param({"endTime": appointment()["endTime"] + dt.timedelta(minutes=15)}, id="end moved"),
    ],
)
def test_a_moved_confirmed_visit_gets_a_new_room_with_empty_stamps(
    db: MockFirestore, writes: list[tuple[str, Any]], change: dict[str, Any]
) -> None:
    video = {
        **appointment()["video"],
        "lobby": {"waitingSince": "t"},
        "admittedAt": "t",
        "deniedAt": "t",
        "recordingConsent": {"consent": True, "at": "t"},
    }
    before = seed(db, video=video)
    db.collection("appointments").document("a1").update(change)
    after = stored(db)
    writes.clear()

    outcome = apply_room_lifecycle(db, "a1", before, after, NEW_ROOM)

    assert outcome.action is Action.REPLACE
    fresh = stored(db)["video"]
    assert fresh["roomName"] != before["video"]["roomName"]
    assert set(fresh) == {"roomName", "provider", "roomUrl", "assignedAt"}
    assert {key: value for key, value in stored(db).items() if key != "video"} == {
        key: value for key, value in after.items() if key != "video"
    }
    # The event delivered again finds the new room and changes nothing.
    writes.clear()
    assert apply_room_lifecycle(db, "a1", before, after, NEW_ROOM).action is Action.NOTHING
    assert writes == []


def test_an_update_to_a_pending_visit_writes_nothing(db: MockFirestore, writes: list[tuple[str, Any]]) -> None:
    before = seed(db, status="pending", video=None)
    after = {**before, "endTime": before["endTime"].replace(hour=12)}
    writes.clear()

    assert apply_room_lifecycle(db, "a1", before, after, NEW_ROOM).action is Action.NOTHING
    assert writes == []


def test_cancellation_withdraws_the_room_and_keeps_every_other_field(
    db: MockFirestore, writes: list[tuple[str, Any]]
) -> None:
    before = seed(db)
    db.collection("appointments").document("a1").update({"status": "cancelled"})
    after = stored(db)
    writes.clear()

    assert apply_room_lifecycle(db, "a1", before, after, NEW_ROOM).action is Action.WITHDRAW

    assert len(writes) == 1
    assert "video" not in stored(db)
    assert stored(db) == {key: value for key, value in after.items() if key != "video"}


def test_reconfirmation_gets_a_new_room(db: MockFirestore) -> None:
    before = seed(db)
    old_room = before["video"]["roomName"]
    ref = db.collection("appointments").document("a1")
    ref.update({"status": "cancelled"})
    cancelled = stored(db)
    apply_room_lifecycle(db, "a1", before, cancelled, NEW_ROOM)
    withdrawn = stored(db)
    ref.update({"status": "confirmed"})

    assert apply_room_lifecycle(db, "a1", withdrawn, stored(db), NEW_ROOM).action is Action.ASSIGN
    assert stored(db)["video"]["roomName"] != old_room


def test_cancel_then_reconfirm_before_the_cancel_event_arrives_still_replaces_the_room(db: MockFirestore) -> None:
    before = seed(db)
    old_room = before["video"]["roomName"]
    ref = db.collection("appointments").document("a1")
    ref.update({"status": "cancelled"})
    cancelled = stored(db)
    ref.update({"status": "confirmed"})
    reconfirmed = stored(db)

    # The re-confirmation's event comes first: it shows the room on the cancelled state, so it is replaced
    # at once; the late cancellation event then finds a room it never saw and leaves it.
    assert apply_room_lifecycle(db, "a1", cancelled, reconfirmed, NEW_ROOM).action is Action.REPLACE
    assert apply_room_lifecycle(db, "a1", before, cancelled, NEW_ROOM).action is Action.NOTHING
    assert stored(db)["video"]["roomName"] != old_room
    assert stored(db)["status"] == "confirmed"


def test_confirm_then_cancel_processed_late_ends_without_a_room(db: MockFirestore) -> None:
    before = seed(db, status="pending", video=None)
    before_confirm, confirmed = confirm(db)
    db.collection("appointments").document("a1").update({"status": "cancelled"})
    cancelled = stored(db)

    # Events arrive after both writes, in either order: the stored (cancelled) state wins.
    assert apply_room_lifecycle(db, "a1", confirmed, cancelled, NEW_ROOM).action is Action.NOTHING
    assert apply_room_lifecycle(db, "a1", before_confirm, confirmed, NEW_ROOM).action is Action.NOTHING
    assert "video" not in stored(db)
    assert before["patientId"] == stored(db)["patientId"]


def test_an_event_for_a_deleted_appointment_writes_nothing(db: MockFirestore, writes: list[tuple[str, Any]]) -> None:
    before, after = appointment(status="pending", video=None), appointment(video=None)

    assert apply_room_lifecycle(db, "a1", before, after, NEW_ROOM).action is Action.NOTHING
    assert writes == []
    assert db.collection("appointments").document("a1").get().exists is False


def test_a_withdrawal_needs_no_video_config(db: MockFirestore) -> None:
    before = seed(db)
    db.collection("appointments").document("a1").update({"status": "cancelled"})

    def unusable() -> Any:
        raise Misconfigured("VIDEO_APP_ID (the Jitsi app_id, used as iss) is required")

    assert apply_room_lifecycle(db, "a1", before, stored(db), unusable).action is Action.WITHDRAW
    assert "video" not in stored(db)


def test_an_assignment_with_unusable_config_raises_and_writes_nothing(db: MockFirestore) -> None:
    seed(db, status="pending", video=None)
    before, after = confirm(db)
    untouched = snapshot(db)

    def unusable() -> Any:
        raise Misconfigured("VIDEO_DOMAIN must be a lowercase host name")

    with pytest.raises(Misconfigured):
        apply_room_lifecycle(db, "a1", before, after, room_maker(unusable))
    assert snapshot(db) == untouched


class PreconditionFailsWith:
    """A Firestore whose conditional update fails with the given error; everything else is mock-firestore."""

    def __init__(self, db: MockFirestore, error: Exception) -> None:
        self._db, self._error, self.conditional_attempts = db, error, 0

    def write_option(self, **_: Any) -> object:
        return object()

    def collection(self, name: str) -> Any:
        outer = self
        real = self._db.collection(name)

        class Collection:
            def document(self, doc_id: str) -> Any:
                ref = real.document(doc_id)

                class Ref:
                    path = ref.path
                    _real = ref

                    def update(self, *_: Any, option: Any = None) -> None:
                        outer.conditional_attempts += 1
                        raise outer._error

                # The first reference made is the conditional write's; later ones serve the transaction.
                return Ref() if outer.conditional_attempts == 0 else ref

        return Collection()

    def transaction(self) -> Any:
        return self._db.transaction()


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(FailedPrecondition("stale"), id="stale precondition"),
        pytest.param(InvalidArgument("Invalid base version"), id="an id the event mangles"),
        pytest.param(ServiceUnavailable("try again"), id="a transient error"),
    ],
)
def test_any_failure_of_the_conditional_write_falls_back_to_the_transaction(
    db: MockFirestore, error: Exception
) -> None:
    seed(db, status="pending", video=None)
    before, after = confirm(db)
    fake = PreconditionFailsWith(db, error)

    outcome = apply_room_lifecycle(fake, "a1", before, after, NEW_ROOM, after_update_time="t1")

    assert fake.conditional_attempts == 1
    assert (outcome.action, outcome.via) == (Action.ASSIGN, "transaction")
    assert len(stored(db)["video"]["roomName"]) == 32


def test_when_the_transaction_fails_too_the_error_propagates_so_the_event_is_retried(db: MockFirestore) -> None:
    seed(db, status="pending", video=None)
    before, after = confirm(db)
    fake = PreconditionFailsWith(db, ServiceUnavailable("down"))
    fake.transaction = lambda: (_ for _ in ()).throw(ServiceUnavailable("still down"))  # type: ignore[method-assign]

    with pytest.raises(ServiceUnavailable):
        apply_room_lifecycle(fake, "a1", before, after, NEW_ROOM, after_update_time="t1")
    assert "video" not in stored(db)


@pytest.mark.parametrize(
    ("named", "candidates"),
    [
        pytest.param("a1", ["a1"], id="an ASCII id: itself only"),
        pytest.param("caf\u00c3\u00a9", ["caf\u00c3\u00a9", "caf\u00e9"], id="UTF-8 read as Latin-1: repaired"),
        pytest.param("caf\u00e9", ["caf\u00e9"], id="a real non-ASCII id: itself only"),
        pytest.param("\u65e5\u672c", ["\u65e5\u672c"], id="beyond Latin-1: itself only"),
    ],
)
def test_candidate_ids_repair_only_what_the_emulator_mangles(named: str, candidates: list[str]) -> None:
    assert candidate_ids(named) == candidates


def test_the_transaction_finds_a_document_under_its_repaired_id(db: MockFirestore) -> None:
    db.collection("appointments").document("caf\u00e9").set(appointment(status="pending", video=None))
    before = db.collection("appointments").document("caf\u00e9").get().to_dict()
    db.collection("appointments").document("caf\u00e9").update({"status": "confirmed"})
    after = db.collection("appointments").document("caf\u00e9").get().to_dict()

    outcome = apply_room_lifecycle(db, "caf\u00c3\u00a9", before, after, NEW_ROOM)

    assert outcome.action is Action.ASSIGN
    assert len(db.collection("appointments").document("caf\u00e9").get().to_dict()["video"]["roomName"]) == 32
    assert not db.collection("appointments").document("caf\u00c3\u00a9").get().exists
