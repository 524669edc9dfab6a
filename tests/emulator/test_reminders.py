"""Reminders through the emulators: the real trigger enqueues on the Cloud Tasks emulator, which runs the real
``sendVisitReminder``; in-app notifications and Trigger Email documents land in the Firestore emulator.

The Cloud Tasks emulator (firebase-tools 15.34) dispatches every task as soon as it is enqueued: it reads a
task's ``scheduleTime`` only into the ``X-CloudTasks-TaskETA`` header. So a reminder due in a minute arrives
here at once, and "a reminder still queued when the visit was cancelled or moved" is shown by enqueueing that
task again after the change, as Cloud Tasks would still deliver it (``enqueue_again``). When tasks are due is
checked in tests/unit/test_reminder_scheduling.py. The suite's params hold VIDEO_REMINDERS_MIN=15
(scripts/demo.env); a visit 16 minutes ahead gets the 15-minute reminder and no other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import emulator_api as emu
import firebase_admin
import icalendar
import pytest
from google.cloud import firestore

from telehealth.notify.queue import AdminTaskQueue

FUNCTION = "sendVisitReminder"
MIN = dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def tasks_settled() -> Any:
    """No reminder task of this test may still run when the next test resets the emulators."""
    yield
    emu.wait_for_quiet_triggers(FUNCTION, quiet=1.0, timeout=90)


def visit(db: firestore.Client, people: dict[str, emu.User], start_in: dt.timedelta, **changes: Any) -> Any:
    ref = db.collection("appointments").document(f"visit-{uuid.uuid4().hex[:8]}")
    start = emu.utc(start_in)
    fields = emu.video_appointment(
        people["doctor"].uid, people["patient"].uid, startTime=start, endTime=start + 30 * MIN, **changes
    )
    ref.set(fields)
    return ref


def notes(db: firestore.Client, uid: str, kind: str | None = None) -> list[dict[str, Any]]:
    found = [s.to_dict() or {} for s in db.collection("users").document(uid).collection("notifications").stream()]
    return [note for note in found if kind is None or note.get("kind") == kind]


def mails(db: firestore.Client, to: str) -> list[dict[str, Any]]:
    return [mail for mail in (s.to_dict() or {} for s in db.collection("mail").stream()) if mail.get("to") == to]


def calendar_of(mail: dict[str, Any]) -> tuple[icalendar.Calendar, Any]:
    [attachment] = mail["message"]["attachments"]
    calendar = icalendar.Calendar.from_ical(attachment["content"])
    [event] = calendar.walk("VEVENT")
    return calendar, event


def wait_for_count(probe: Any, count: int, timeout: float = 60.0) -> list[Any]:
    found: list[Any] = emu.wait_for(lambda: (lambda items: items if len(items) >= count else None)(probe()), timeout)
    return found


def enqueue_again(payload: dict[str, Any]) -> None:
    """Deliver a task once more, under a new id (Cloud Tasks delivers at least once), and wait for its run."""
    try:
        app = firebase_admin.get_app("reminder-tests")
    except ValueError:
        app = firebase_admin.initialize_app(options={"projectId": emu.PROJECT}, name="reminder-tests")
    runs = emu.finished_runs(FUNCTION)
    assert AdminTaskQueue(FUNCTION, app).enqueue(payload, uuid.uuid4().hex, None)
    emu.wait_for_runs(FUNCTION, runs + 1)


def method(mail: dict[str, Any]) -> str:
    return str(calendar_of(mail)[0]["METHOD"])


def test_a_visit_confirmed_16_minutes_ahead_gets_one_reminder_and_one_invitation_per_participant(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = visit(db, people, 16 * MIN, status="pending")
    ref.update({"status": "confirmed"})

    for who in ("patient", "doctor"):
        user = people[who]
        [note] = wait_for_count(lambda user=user: notes(db, user.uid), 1)
        [mail] = wait_for_count(lambda user=user: mails(db, user.email), 1)
        assert (note["kind"], note["appointmentId"], note["read"]) == ("reminder", ref.id, False)
        assert note["startsAt"] == ref.get().to_dict()["startTime"]
        assert "Demo Clinic" in mail["message"]["subject"]
        assert f"?appointmentId={ref.id}" in mail["message"]["text"]
        calendar, event = calendar_of(mail)
        assert (str(calendar["METHOD"]), str(event["STATUS"])) == ("REQUEST", "CONFIRMED")
        assert event.decoded("DTSTART") == ref.get().to_dict()["startTime"]
    emu.wait_for_quiet_triggers(FUNCTION, quiet=1.0)
    for user in (people["patient"], people["doctor"]):
        assert (len(notes(db, user.uid)), len(mails(db, user.email))) == (1, 1)

    # Delivered once more (Cloud Tasks delivers at least once): nothing is sent twice.
    task = ref.get().to_dict()
    payload = {
        "kind": "reminder",
        "appointmentId": ref.id,
        "uid": people["patient"].uid,
        "role": "patient",
        "startsAt": int(task["startTime"].timestamp()),
        "sequence": int(calendar_of(mails(db, people["patient"].email)[0])[1]["SEQUENCE"]),
        "offsetMin": 15,
        "roomTag": "",
    }
    enqueue_again(payload)
    assert (len(notes(db, people["patient"].uid)), len(mails(db, people["patient"].email))) == (1, 1)


def past_the_second_of_its_last_write(ref: firestore.DocumentReference) -> None:
    """Return once the whole second of the visit's last write has passed.

    SEQUENCE counts whole seconds to the write (docs/reminders.md): two writes in one second share it (seen:
    the confirmation and the cancellation, or the move), so a test of a raised SEQUENCE writes in a later
    second. The clock is the event waited for here.
    """
    written = ref.get().update_time.replace(microsecond=0)
    emu.wait_for(lambda: True if dt.datetime.now(dt.UTC).replace(microsecond=0) > written else None, timeout=5)


def test_a_cancellation_sends_the_calendar_cancellation_and_no_reminder(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = visit(db, people, 16 * MIN)
    patient = people["patient"]
    [invite] = wait_for_count(lambda: mails(db, patient.email), 1)
    start = int(ref.get().to_dict()["startTime"].timestamp())
    past_the_second_of_its_last_write(ref)
    ref.update({"status": "cancelled"})

    for user in (patient, people["doctor"]):
        wait_for_count(lambda user=user: notes(db, user.uid, "cancelled"), 1)
        [cancel] = wait_for_count(lambda user=user: [m for m in mails(db, user.email) if method(m) == "CANCEL"], 1)
        _, event = calendar_of(cancel)
        assert str(event["STATUS"]) == "CANCELLED"
        assert cancel["message"]["subject"].startswith("Cancelled:")
        if user is patient:
            _, first = calendar_of(invite)
            assert str(event["UID"]) == str(first["UID"])
            assert int(event["SEQUENCE"]) > int(first["SEQUENCE"])

    # The 15-minute reminder, had it still been queued at the cancellation, now sends nothing.
    payload = {"kind": "reminder", "appointmentId": ref.id, "uid": patient.uid, "role": "patient"}
    enqueue_again({**payload, "startsAt": start, "sequence": int(first["SEQUENCE"]), "offsetMin": 15, "roomTag": ""})
    assert len(notes(db, patient.uid, "reminder")) == 1
    assert len(mails(db, patient.email)) == 2


def test_a_move_reschedules_with_a_raised_sequence_and_the_old_reminder_sends_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = visit(db, people, 16 * MIN)
    patient = people["patient"]
    [first_mail] = wait_for_count(lambda: mails(db, patient.email), 1)
    old_start = ref.get().to_dict()["startTime"]
    past_the_second_of_its_last_write(ref)
    new_start = emu.utc(20 * MIN)
    ref.update({"startTime": new_start, "endTime": new_start + 30 * MIN})

    later = wait_for_count(lambda: notes(db, patient.uid, "reminder"), 2)
    assert sorted(note["startsAt"] for note in later) == sorted([old_start, ref.get().to_dict()["startTime"]])
    second_mail = next(mail for mail in wait_for_count(lambda: mails(db, patient.email), 2) if mail != first_mail)
    _, before = calendar_of(first_mail)
    _, after = calendar_of(second_mail)
    assert str(after["UID"]) == str(before["UID"])
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART") == ref.get().to_dict()["startTime"]

    payload = {"kind": "reminder", "appointmentId": ref.id, "uid": patient.uid, "role": "patient", "roomTag": ""}
    sequence = int(before["SEQUENCE"])
    enqueue_again({**payload, "startsAt": int(old_start.timestamp()), "sequence": sequence, "offsetMin": 15})
    assert len(notes(db, patient.uid, "reminder")) == 2


def test_the_doctors_first_join_tells_the_patient_once(db: firestore.Client, people: dict[str, emu.User]) -> None:
    ref = visit(db, people, 5 * MIN)  # sooner than every offset: no reminder
    emu.wait_for(lambda: (ref.get().to_dict() or {}).get("video"), timeout=30)
    for _ in range(2):
        answer = emu.call("get_join_token", {"appointmentId": ref.id}, people["doctor"].id_token)
        assert answer.ok, answer.status
    [note] = wait_for_count(lambda: notes(db, people["patient"].uid), 1)
    assert (note["kind"], note["appointmentId"]) == ("ready", ref.id)
    emu.wait_for_quiet_triggers()
    emu.wait_for_quiet_triggers(FUNCTION, quiet=1.0)
    assert len(notes(db, people["patient"].uid)) == 1
    assert notes(db, people["doctor"].uid) == []
    assert mails(db, people["patient"].email) == []


def test_opted_out_channels_stay_silent(db: firestore.Client, people: dict[str, emu.User]) -> None:
    patient = people["patient"]
    db.collection("users").document(patient.uid).set({"notify": {"email": False}, "locale": "tr"})
    visit(db, people, 16 * MIN)

    wait_for_count(lambda: mails(db, people["doctor"].email), 1)
    [note] = wait_for_count(lambda: notes(db, patient.uid), 1)
    emu.wait_for_quiet_triggers(FUNCTION, quiet=1.0)
    assert note["kind"] == "reminder"
    assert mails(db, patient.email) == []
    outcomes = {
        (record["uid"], record["channel"]): record["outcome"]
        for record in (s.to_dict() or {} for s in db.collection("videoNotificationLog").stream())
    }
    assert outcomes[(patient.uid, "email")] == "opted_out"
    assert outcomes[(people["doctor"].uid, "email")] == "sent"
