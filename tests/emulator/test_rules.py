"""firestore.rules, proven against the Firestore emulator by real users (Auth-emulator ID tokens over REST)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import emulator_api as emu
import pytest
import requests
from google.cloud import firestore

DAY, HALF_HOUR = dt.timedelta(days=1), dt.timedelta(minutes=30)
ALLOW, DENY = 200, 403
ROOM = {"roomName": "q" * 32, "provider": "jitsi", "roomUrl": "https://meet.example.test/" + "q" * 32}


@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, emu.User]]:
    """Three users for the whole matrix; triggers paused so no room write races a case's check."""
    emu.reset()
    emu.set_background_triggers(enabled=False)
    yield {
        "patient": emu.sign_up("rules-patient@test.example", "patient-pass-1"),
        "doctor": emu.make_doctor("rules-doctor@test.example", "doctor-pass-1", "Dr. Rules"),
        "stranger": emu.sign_up("rules-stranger@test.example", "stranger-pass-1"),
        # An ordinary account a patient might name as doctorId: no claim, no directory entry.
        "impostor": emu.sign_up("rules-impostor@test.example", "impostor-pass-1"),
        # Claim in its ID token, directory entry set inactive (as removal does first).
        "removed": emu.make_doctor("rules-removed@test.example", "removed-pass-1", "Dr. Removed"),
        # Claim in its ID token, no directory entry at all.
        "claim_only": emu.make_doctor("rules-claim@test.example", "claim-pass-1", "Dr. Claim"),
        # A real, active doctor who is not on the seeded appointments.
        "other_doctor": emu.make_doctor("rules-other@test.example", "other-pass-1", "Dr. Other"),
    }
    emu.set_background_triggers(enabled=True)
    # The events of the matrix's writes made while paused are delivered late, after a back-off, and the next
    # module's trigger events would queue behind them (it once waited 48 to 56 s of its 60): conftest's
    # triggers_delivered_after_pauses waits for them (a probe visit's room) when this module ends.
    emu.wait_for_quiet_triggers()


@pytest.fixture
def seeded(users: dict[str, emu.User]) -> firestore.Client:
    """Fresh documents (not accounts) for each case: one appointment per status, seeded as admin."""
    requests.delete(
        f"{emu.firestore_base()}/emulator/v1/projects/{emu.PROJECT}/databases/(default)/documents", timeout=10
    ).raise_for_status()
    db = emu.admin_db()
    batch = db.batch()
    for status in ("pending", "confirmed", "cancelled", "completed"):
        fields = base_fields(users) | {"status": status}
        if status in ("confirmed", "completed"):
            fields["video"] = ROOM
        batch.set(db.collection("appointments").document(status), fields)
    # Appointments a server wrote naming each doubtful "doctor", to show none of them can act on one.
    for who in ("impostor", "removed", "claim_only"):
        for status in ("pending", "confirmed"):
            fields = base_fields(users) | {"status": status, "doctorId": users[who].uid}
            batch.set(db.collection("appointments").document(f"{who}-{status}"), fields)
    for who, active in (("doctor", True), ("removed", False), ("other_doctor", True)):
        batch.set(db.collection("doctors").document(users[who].uid), {"displayName": who, "active": active})
    batch.set(db.collection("videoAccessLog").document("log1"), {"appointmentId": "confirmed", "outcome": "granted"})
    batch.commit()
    return db


def base_fields(users: dict[str, emu.User]) -> dict[str, Any]:
    start = emu.utc(DAY)
    return {
        "patientId": users["patient"].uid,
        "doctorId": users["doctor"].uid,
        "type": "video",
        "status": "pending",
        "startTime": start,
        "endTime": start + HALF_HOUR,
    }


def new_booking(users: dict[str, emu.User], **changes: Any) -> dict[str, Any]:
    fields = base_fields(users) | changes
    return {key: value for key, value in fields.items() if value is not None}


Op = Callable[[emu.UserFirestore, dict[str, emu.User]], int]


def query_own(field: str, who: str) -> Op:
    return lambda fs, u: fs.query_equal("appointments", field, u[who].uid)[0]


def create(**changes: Any) -> Op:
    return lambda fs, u: fs.create("appointments", "new1", new_booking(u, **changes))


def create_with_id(doc_id: str) -> Op:
    return lambda fs, u: fs.create("appointments", doc_id, new_booking(u))


def book_with(who: str) -> Op:
    return lambda fs, u: fs.create("appointments", "new1", new_booking(u, doctorId=u[who].uid))


def book_at(start_offset: dt.timedelta, length: dt.timedelta = HALF_HOUR) -> Op:
    def op(fs: emu.UserFirestore, u: dict[str, emu.User]) -> int:
        start = emu.utc(start_offset)
        return fs.create("appointments", "new1", new_booking(u, startTime=start, endTime=start + length))

    return op


def move_to(doc: str, start_offset: dt.timedelta, length: dt.timedelta = HALF_HOUR, **more: Any) -> Op:
    """Move an appointment to now + ``start_offset`` (not relative to its booking day), with other fields."""

    def op(fs: emu.UserFirestore, _: dict[str, emu.User]) -> int:
        start = emu.utc(start_offset)
        return fs.update(f"appointments/{doc}", {"startTime": start, "endTime": start + length, **more})

    return op


def update(doc: str, **fields: Any) -> Op:
    return lambda fs, u: fs.update(f"appointments/{doc}", fields)


def move_times(doc: str, start_offset: dt.timedelta, length: dt.timedelta = HALF_HOUR) -> Op:
    def op(fs: emu.UserFirestore, _: dict[str, emu.User]) -> int:
        start = emu.utc(DAY + start_offset)
        return fs.update(f"appointments/{doc}", {"startTime": start, "endTime": start + length})

    return op


MATRIX: list[tuple[str, str, Op, int]] = [
    # Reads and queries
    ("the patient reads their appointment", "patient", lambda fs, u: fs.get("appointments/pending"), ALLOW),
    ("the doctor reads the appointment", "doctor", lambda fs, u: fs.get("appointments/confirmed"), ALLOW),
    ("a stranger cannot read it", "stranger", lambda fs, u: fs.get("appointments/pending"), DENY),
    ("a signed-out user cannot read it", "anon", lambda fs, u: fs.get("appointments/pending"), DENY),
    ("the patient lists their own appointments", "patient", query_own("patientId", "patient"), ALLOW),
    ("the doctor lists their own appointments", "doctor", query_own("doctorId", "doctor"), ALLOW),
    ("an unfiltered list is denied", "patient", lambda fs, u: fs.list("appointments"), DENY),
    ("a stranger cannot list the patient's", "stranger", query_own("patientId", "patient"), DENY),
    ("a signed-out list is denied", "anon", lambda fs, u: fs.list("appointments"), DENY),
    # Creation
    ("the patient books a valid appointment", "patient", create(), ALLOW),
    ("booking for another patient", "patient", create(patientId="someone-else"), DENY),
    ("booking as the stranger for the patient", "stranger", create(), DENY),
    ("booking already confirmed", "patient", create(status="confirmed"), DENY),
    ("booking with a video field", "patient", create(video=ROOM), DENY),
    (
        "booking with start equal to end",
        "patient",
        lambda fs, u: fs.create("appointments", "new1", new_booking(u, endTime=base_fields(u)["startTime"])),
        DENY,
    ),
    (
        "booking that ends before it starts",
        "patient",
        lambda fs, u: fs.create(
            "appointments", "new1", new_booking(u, endTime=base_fields(u)["startTime"] - HALF_HOUR)
        ),
        DENY,
    ),
    ("booking without an end time", "patient", create(endTime=None), DENY),
    ("booking with a string start time", "patient", create(startTime="tomorrow at ten"), DENY),
    (
        "booking with oneself as the doctor",
        "patient",
        lambda fs, u: fs.create("appointments", "new1", new_booking(u, doctorId=u["patient"].uid)),
        DENY,
    ),
    ("booking with an unknown extra field", "patient", create(priority="urgent"), DENY),
    ("booking with an unknown type", "patient", create(type="phone"), DENY),
    ("booking with a numeric doctor id", "patient", create(doctorId=42), DENY),
    (
        "booking in the past",
        "patient",
        lambda fs, u: fs.create(
            "appointments", "new1", new_booking(u, startTime=emu.utc(-DAY), endTime=emu.utc(-DAY + HALF_HOUR))
        ),
        DENY,
    ),
    ("booking signed out", "anon", create(), DENY),
    # Booking only with an active clinic doctor
    ("booking with another active doctor", "patient", book_with("other_doctor"), ALLOW),
    ("booking with an ordinary account as doctor", "patient", book_with("impostor"), DENY),
    ("booking with a removed (inactive) doctor", "patient", book_with("removed"), DENY),
    ("booking with a claimed doctor missing from the directory", "patient", book_with("claim_only"), DENY),
    ("booking with a uid that is no account", "patient", create(doctorId="no-such-uid"), DENY),
    # Booking times: a minute's grace, a year ahead, four hours long
    ("booking starting 20 s ago (within the grace)", "patient", book_at(dt.timedelta(seconds=-20)), ALLOW),
    ("booking starting 2 minutes ago", "patient", book_at(dt.timedelta(minutes=-2)), DENY),
    ("booking 364 days ahead", "patient", book_at(dt.timedelta(days=364)), ALLOW),
    ("booking 366 days ahead", "patient", book_at(dt.timedelta(days=366)), DENY),
    ("booking exactly 4 hours long", "patient", book_at(DAY, dt.timedelta(hours=4)), ALLOW),
    ("booking 4 hours and a second long", "patient", book_at(DAY, dt.timedelta(hours=4, seconds=1)), DENY),
    # Appointment ids: [A-Za-z0-9_-]{1,128}, nothing else
    ("an id of one character", "patient", create_with_id("x"), ALLOW),
    ("an id of 128 characters", "patient", create_with_id("a-_9" * 32), ALLOW),
    ("an id of 129 characters", "patient", create_with_id("b" * 129), DENY),
    ("an id with a non-ASCII letter", "patient", create_with_id("caf\u00e9"), DENY),
    ("an id with a no-break space", "patient", create_with_id("a\u00a0b"), DENY),
    ("an id with a zero-width space", "patient", create_with_id("a\u200bb"), DENY),
    ("an id with a right-to-left override", "patient", create_with_id("a\u202eb"), DENY),
    ("an id with a Cyrillic look-alike", "patient", create_with_id("\u0430ppt"), DENY),
    ("an id with a dot", "patient", create_with_id("a.b"), DENY),
    ("an id with a space", "patient", create_with_id("a b"), DENY),
    # Status moves
    ("the doctor confirms a pending one", "doctor", update("pending", status="confirmed"), ALLOW),
    ("the doctor cancels a pending one", "doctor", update("pending", status="cancelled"), ALLOW),
    ("the doctor cancels a confirmed one", "doctor", update("confirmed", status="cancelled"), ALLOW),
    ("the doctor completes a confirmed one", "doctor", update("confirmed", status="completed"), ALLOW),
    ("the doctor cannot complete a pending one", "doctor", update("pending", status="completed"), DENY),
    ("the doctor cannot re-confirm a cancelled one", "doctor", update("cancelled", status="confirmed"), DENY),
    ("the doctor cannot reopen a completed one", "doctor", update("completed", status="confirmed"), DENY),
    ("the doctor cannot set confirmed back to pending", "doctor", update("confirmed", status="pending"), DENY),
    ("the doctor cannot invent a status", "doctor", update("pending", status="approved"), DENY),
    ("the patient cannot confirm", "patient", update("pending", status="confirmed"), DENY),
    ("the patient cancels a pending one", "patient", update("pending", status="cancelled"), ALLOW),
    ("the patient cancels a confirmed one", "patient", update("confirmed", status="cancelled"), ALLOW),
    ("the patient cannot complete", "patient", update("confirmed", status="completed"), DENY),
    ("the patient cannot touch a completed one", "patient", update("completed", status="cancelled"), DENY),
    ("a stranger cannot cancel", "stranger", update("pending", status="cancelled"), DENY),
    ("a signed-out user cannot cancel", "anon", update("pending", status="cancelled"), DENY),
    # Only an active clinic doctor who is the appointment's doctorId acts as its doctor
    ("a named ordinary account cannot confirm", "impostor", update("impostor-pending", status="confirmed"), DENY),
    ("a named ordinary account cannot cancel", "impostor", update("impostor-confirmed", status="cancelled"), DENY),
    ("a named ordinary account cannot complete", "impostor", update("impostor-confirmed", status="completed"), DENY),
    ("a named ordinary account cannot move times", "impostor", move_times("impostor-pending", DAY), DENY),
    ("a removed doctor cannot confirm", "removed", update("removed-pending", status="confirmed"), DENY),
    ("a removed doctor cannot cancel", "removed", update("removed-confirmed", status="cancelled"), DENY),
    ("a removed doctor cannot complete", "removed", update("removed-confirmed", status="completed"), DENY),
    ("a removed doctor cannot move times", "removed", move_times("removed-pending", DAY), DENY),
    (
        "a doctor missing from the directory cannot confirm",
        "claim_only",
        update("claim_only-pending", status="confirmed"),
        DENY,
    ),
    ("another active doctor cannot confirm it", "other_doctor", update("pending", status="confirmed"), DENY),
    ("another active doctor cannot cancel it", "other_doctor", update("confirmed", status="cancelled"), DENY),
    # Moving times
    ("the doctor moves a pending one", "doctor", move_times("pending", dt.timedelta(hours=2)), ALLOW),
    ("the doctor moves a confirmed one", "doctor", move_times("confirmed", dt.timedelta(hours=2)), ALLOW),
    ("the doctor cannot move a cancelled one", "doctor", move_times("cancelled", dt.timedelta(hours=2)), DENY),
    ("the doctor cannot move a completed one", "doctor", move_times("completed", dt.timedelta(hours=2)), DENY),
    (
        "the doctor cannot make it end before it starts",
        "doctor",
        move_times("pending", dt.timedelta(hours=2), -HALF_HOUR),
        DENY,
    ),
    ("the patient cannot move times", "patient", move_times("pending", dt.timedelta(hours=2)), DENY),
    ("the doctor moves it to start within the grace", "doctor", move_to("pending", dt.timedelta(seconds=-20)), ALLOW),
    ("the doctor cannot move it into the past", "doctor", move_to("pending", dt.timedelta(minutes=-2)), DENY),
    ("the doctor moves it 364 days ahead", "doctor", move_to("confirmed", dt.timedelta(days=364)), ALLOW),
    ("the doctor cannot move it 366 days ahead", "doctor", move_to("confirmed", dt.timedelta(days=366)), DENY),
    ("the doctor makes it 4 hours long", "doctor", move_to("pending", DAY, dt.timedelta(hours=4)), ALLOW),
    (
        "the doctor cannot make it longer than 4 hours",
        "doctor",
        move_to("pending", DAY, dt.timedelta(hours=4, seconds=1)),
        DENY,
    ),
    (
        "the doctor cannot move times in the write that completes it",
        "doctor",
        move_to("confirmed", DAY + dt.timedelta(hours=2), status="completed"),
        DENY,
    ),
    (
        "the doctor cannot move times in the write that confirms it",
        "doctor",
        move_to("pending", DAY + dt.timedelta(hours=2), status="confirmed"),
        DENY,
    ),
    (
        "the doctor cannot move times in the write that cancels it",
        "doctor",
        move_to("confirmed", DAY + dt.timedelta(hours=2), status="cancelled"),
        DENY,
    ),
    # Server-only and fixed fields
    ("the doctor cannot write video", "doctor", update("confirmed", video={"roomName": "mine"}), DENY),
    ("the patient cannot give themselves a room", "patient", update("pending", video=ROOM), DENY),
    (
        "the doctor cannot delete video",
        "doctor",
        lambda fs, u: fs.update("appointments/confirmed", {}, ("video",)),
        DENY,
    ),
    ("the doctor cannot change patientId", "doctor", update("pending", patientId="someone-else"), DENY),
    (
        "the patient cannot change doctorId",
        "patient",
        lambda fs, u: fs.update("appointments/pending", {"doctorId": u["stranger"].uid}),
        DENY,
    ),
    ("the doctor cannot change the type", "doctor", update("pending", type="in_person"), DENY),
    # Deletes
    ("the patient cannot delete", "patient", lambda fs, u: fs.delete("appointments/pending"), DENY),
    ("the doctor cannot delete", "doctor", lambda fs, u: fs.delete("appointments/confirmed"), DENY),
    # The doctor directory: readable when signed in, written by no client
    ("a patient reads a doctor's entry", "patient", lambda fs, u: fs.get(f"doctors/{u['doctor'].uid}"), ALLOW),
    ("a patient lists the directory", "patient", lambda fs, u: fs.list("doctors"), ALLOW),
    ("a signed-out user cannot read it", "anon", lambda fs, u: fs.get(f"doctors/{u['doctor'].uid}"), DENY),
    (
        "an account cannot add itself to the directory",
        "impostor",
        lambda fs, u: fs.create("doctors", u["impostor"].uid, {"displayName": "Dr. Me", "active": True}),
        DENY,
    ),
    (
        "a removed doctor cannot reactivate their entry",
        "removed",
        lambda fs, u: fs.update(f"doctors/{u['removed'].uid}", {"active": True}),
        DENY,
    ),
    (
        "a doctor cannot edit their own entry",
        "doctor",
        lambda fs, u: fs.update(f"doctors/{u['doctor'].uid}", {"displayName": "Dr. Renamed"}),
        DENY,
    ),
    ("a doctor cannot delete their entry", "doctor", lambda fs, u: fs.delete(f"doctors/{u['doctor'].uid}"), DENY),
    # The audit log and unnamed collections
    ("the patient cannot read the audit log", "patient", lambda fs, u: fs.get("videoAccessLog/log1"), DENY),
    ("the doctor cannot list the audit log", "doctor", lambda fs, u: fs.list("videoAccessLog"), DENY),
    (
        "nobody can write the audit log",
        "patient",
        lambda fs, u: fs.create("videoAccessLog", "x", {"outcome": "ok"}),
        DENY,
    ),
    ("an unnamed collection is closed for writes", "patient", lambda fs, u: fs.create("notes", "n1", {"a": 1}), DENY),
    ("an unnamed collection is closed for reads", "doctor", lambda fs, u: fs.get(f"users/{u['doctor'].uid}"), DENY),
]


@pytest.mark.parametrize(("actor", "op", "expected"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX])
def test_rules_matrix(seeded: firestore.Client, users: dict[str, emu.User], actor: str, op: Op, expected: int) -> None:
    fs = emu.UserFirestore(users[actor].id_token if actor != "anon" else None)
    before = snapshot(seeded)

    status = op(fs, users)

    assert status == expected
    if expected == DENY:
        assert snapshot(seeded) == before, "a denied request changed data"


def snapshot(db: firestore.Client) -> dict[str, Any]:
    return {
        f"{collection.id}/{doc.id}": doc.to_dict() for collection in db.collections() for doc in collection.stream()
    }


def test_the_matrix_has_at_least_100_cases_and_an_allow_for_every_kind_of_write() -> None:
    assert len(MATRIX) >= 100
    assert sum(1 for *_, expected in MATRIX if expected == ALLOW) >= 20


def test_a_patient_listing_their_own_appointments_sees_exactly_theirs(
    seeded: firestore.Client, users: dict[str, emu.User]
) -> None:
    status, count = emu.UserFirestore(users["patient"].id_token).query_equal(
        "appointments", "patientId", users["patient"].uid
    )
    assert (status, count) == (ALLOW, 10)
