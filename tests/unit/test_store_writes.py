"""The store's writes against a fake Firestore that honours what mock-firestore cannot: update-time
preconditions, create-only writes, batched reads in any order, and transactions whose writes land at
commit. (The real thing is tests/emulator; these make a dropped precondition or a lost fast path fail
in the unit suite too.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from conftest import NOW, appointment, jitsi_config, serial_transactional
from google.cloud.firestore import SERVER_TIMESTAMP
from support.fakes import FakeDB, Precondition

from telehealth.lifecycle import room_maker
from telehealth.rooms import Action
from telehealth.store import appointments, attendance, audit

ROOM = "a" * 32  # conftest's appointment() holds this room


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDB:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)
    monkeypatch.setattr(attendance, "transactional", serial_transactional)
    fake = FakeDB()
    fake.put("appointments/a1", appointment(status="pending", video=None))
    return fake


def confirm(db: FakeDB) -> tuple[dict[str, Any], dict[str, Any], int]:
    before = db.docs["appointments/a1"]
    db.put("appointments/a1", {**before, "status": "confirmed"})
    return before, db.docs["appointments/a1"], db.times["appointments/a1"]


# apply_room_lifecycle: the fast path ----------------------------------------------------------------------


def test_a_fresh_confirmation_is_one_conditional_write_and_no_read(db: FakeDB) -> None:
    before, after, written_at = confirm(db)
    db.writes.clear()

    outcome = appointments.apply_room_lifecycle(db, "a1", before, after, room_maker(jitsi_config), written_at)

    assert outcome == appointments.RoomWrite(Action.ASSIGN, "precondition")
    assert db.writes == [("update", "appointments/a1", Precondition(written_at))]
    assert db.transactions == 0
    video = db.docs["appointments/a1"]["video"]
    assert video["provider"] == "jitsi"
    assert video["assignedAt"] is SERVER_TIMESTAMP


def test_an_event_older_than_the_document_falls_back_to_the_transaction(db: FakeDB) -> None:
    before, after, written_at = confirm(db)
    db.put("appointments/a1", {**after, "notes": "written since"})  # the document moved on
    db.writes.clear()

    outcome = appointments.apply_room_lifecycle(db, "a1", before, after, room_maker(jitsi_config), written_at)

    assert outcome == appointments.RoomWrite(Action.ASSIGN, "transaction")
    assert db.transactions == 1
    assert [(kind, path) for kind, path, _ in db.writes] == [("update", "appointments/a1")]
    assert db.docs["appointments/a1"]["notes"] == "written since"


def test_a_withdrawal_on_the_fast_path_deletes_video_only(db: FakeDB) -> None:
    db.put("appointments/a1", appointment())
    before = db.docs["appointments/a1"]
    db.put("appointments/a1", {**before, "status": "cancelled"})
    after, written_at = db.docs["appointments/a1"], db.times["appointments/a1"]

    outcome = appointments.apply_room_lifecycle(db, "a1", before, after, room_maker(jitsi_config), written_at)

    assert outcome == appointments.RoomWrite(Action.WITHDRAW, "precondition")
    assert db.docs["appointments/a1"] == {key: value for key, value in after.items() if key != "video"}


# the waiting room's named writes ---------------------------------------------------------------------------


def test_an_admission_is_written_only_if_the_appointment_is_unchanged_since_it_was_read(db: FakeDB) -> None:
    read_at = db.times["appointments/a1"]
    assert appointments.record_admission(db, "a1", True, read_at) is True
    assert db.writes[-1] == ("update", "appointments/a1", Precondition(read_at))
    assert db.docs["appointments/a1"]["video"] == {"admittedAt": SERVER_TIMESTAMP}

    db.writes.clear()
    assert appointments.record_admission(db, "a1", False, read_at) is False  # stale now
    assert db.writes == []
    assert db.docs["appointments/a1"]["video"] == {"admittedAt": SERVER_TIMESTAMP}


def test_a_denial_stamps_denied_at_and_clears_an_admission(db: FakeDB) -> None:
    assert appointments.record_admission(db, "a1", True, None) is True
    assert appointments.record_admission(db, "a1", False, None) is True
    assert db.docs["appointments/a1"]["video"] == {"deniedAt": SERVER_TIMESTAMP}


def test_consent_is_written_only_if_the_appointment_is_unchanged_since_it_was_read(db: FakeDB) -> None:
    read_at = db.times["appointments/a1"]
    assert appointments.record_consent(db, "a1", False, read_at) is True
    assert db.writes[-1] == ("update", "appointments/a1", Precondition(read_at))


def test_a_named_write_without_a_read_time_writes_unconditionally(db: FakeDB) -> None:
    assert appointments.record_consent(db, "a1", True, None) is True
    assert db.writes == [("update", "appointments/a1", None)]
    assert db.docs["appointments/a1"]["video"] == {"recordingConsent": {"consent": True, "at": SERVER_TIMESTAMP}}


@pytest.mark.parametrize(
    ("write", "video"),
    [
        (appointments.mark_doctor_joined, {"doctorJoinedAt": SERVER_TIMESTAMP}),
        (appointments.enter_lobby, {"lobby": {"waitingSince": SERVER_TIMESTAMP}}),
    ],
    ids=["doctor-joined", "lobby"],
)
def test_each_waiting_room_stamp_touches_only_its_field(db: FakeDB, write: Callable[..., bool], video: Any) -> None:
    before = {key: value for key, value in db.docs["appointments/a1"].items() if key != "video"}
    read_at = db.times["appointments/a1"]
    assert write(db, "a1", read_at) is True
    assert db.writes[-1] == ("update", "appointments/a1", Precondition(read_at))  # only if unchanged since read
    after = db.docs["appointments/a1"]
    assert after["video"] == video
    assert {key: value for key, value in after.items() if key != "video"} == before


# read_join_context ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doctor_uid", [None, "uid-doctor-1"])
def test_the_join_context_carries_the_appointments_update_time(db: FakeDB, doctor_uid: str | None) -> None:
    db.put("doctors/uid-doctor-1", {"active": True})
    context = appointments.read_join_context(db, "a1", doctor_uid)
    assert context.appointment == db.docs["appointments/a1"]
    assert context.update_time == db.times["appointments/a1"]
    assert context.doctor_entry == ({"active": True} if doctor_uid else None)


@pytest.mark.parametrize("doctor_uid", [None, "uid-doctor-1"])
def test_a_missing_appointment_reads_as_none(db: FakeDB, doctor_uid: str | None) -> None:
    context = appointments.read_join_context(db, "gone", doctor_uid)
    assert (context.appointment, context.doctor_entry, context.update_time) == (None, None, None)


# record_access ---------------------------------------------------------------------------------------------


def test_an_audit_record_with_an_id_is_created_once(db: FakeDB) -> None:
    def record(reason: str) -> bool:
        return audit.record_access(
            db, appointment_id="a1", uid="u", role=None, outcome="denied", reason=reason, now=0, record_id="r1"
        )

    assert record("rate_limited") is True
    assert record("second") is False
    assert db.docs["videoAccessLog/r1"]["reason"] == "rate_limited"
    assert audit.record_access(db, appointment_id=None, uid=None, role=None, outcome="denied", reason="x", now=0)


# record_attendance -------------------------------------------------------------------------------------------


def attend(db: FakeDB, event_id: str, kind: str, role: str | None, minute: int, room: str = ROOM) -> bool:
    return attendance.record_attendance(db, "a1", room, event_id, kind, role, NOW + dt.timedelta(minutes=minute))


def test_attendance_is_stored_once_per_event_and_summarised(db: FakeDB) -> None:
    db.put("appointments/a1", appointment())

    assert attend(db, "e1", "joined", "guest", 5) is True
    assert attend(db, "e1", "joined", "guest", 5) is False  # re-delivered
    assert attend(db, "e2", "joined", "guest", 9) is True  # a later join moves nothing in the summary
    assert attend(db, "e3", "left", None, 20) is True

    stored = db.docs["appointments/a1/attendance/e1"]
    assert stored == {"role": "guest", "event": "joined", "at": NOW + dt.timedelta(minutes=5)}
    assert db.docs["appointments/a1"]["video"]["attendance"] == {
        "patientJoinedAt": NOW + dt.timedelta(minutes=5),
        "lastLeftAt": NOW + dt.timedelta(minutes=20),
    }
    summary_writes = [path for kind, path, _ in db.writes if path == "appointments/a1" and kind == "update"]
    assert len(summary_writes) == 2  # e1 and e3; e2 changed nothing


def test_attendance_for_another_room_or_no_appointment_writes_nothing(db: FakeDB) -> None:
    db.put("appointments/a1", appointment())
    db.writes.clear()
    assert attend(db, "e1", "joined", "guest", 5, room="z" * 32) is False
    assert attendance.record_attendance(db, "gone", ROOM, "e2", "joined", "guest", NOW) is False
    assert db.writes == []


def test_the_ended_marker_says_which_provider_and_when(db: FakeDB) -> None:
    attendance.mark_meeting_ended(db, ROOM, "jitsi")
    assert db.docs[f"videoMeetingsEnded/{ROOM}"] == {"provider": "jitsi", "at": SERVER_TIMESTAMP}
    assert attendance.meeting_already_ended(db, ROOM) is True
    assert attendance.meeting_already_ended(db, "b" * 32) is False
