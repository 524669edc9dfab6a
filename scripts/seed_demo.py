"""Seed the emulators with a demo doctor, a demo patient and appointments covering the interesting cases."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import emulator_api as emu

DOCTOR = ("doctor@demo.test", "demo-doctor-1", "Dr. Demo")
PATIENT = ("patient@demo.test", "demo-patient-1", "Pat Demo")


def appointments(doctor: str, patient: str) -> dict[str, dict[str, Any]]:
    """The demo appointments by id: each shows one case a client must handle."""
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    base = {"patientId": patient, "doctorId": doctor, "type": "video"}
    return {
        "demo-now": {
            **base,
            "status": "confirmed",
            "startTime": emu.utc(dt.timedelta(minutes=5)),
            "endTime": emu.utc(dt.timedelta(minutes=35)),
        },
        "demo-pending": {**base, "status": "pending", "startTime": emu.utc(day), "endTime": emu.utc(day + hour / 2)},
        "demo-in-person": {
            **base,
            "type": "in_person",
            "status": "confirmed",
            "startTime": emu.utc(hour),
            "endTime": emu.utc(hour * 1.5),
        },
        # Confirmed 20 minutes ahead: its 15-minute reminder (VIDEO_REMINDERS_MIN) is due in 5 minutes, and the
        # local Cloud Tasks emulator runs it at once (it does not wait for a task's schedule time).
        "demo-soon": {
            **base,
            "status": "confirmed",
            "startTime": emu.utc(dt.timedelta(minutes=20)),
            "endTime": emu.utc(dt.timedelta(minutes=50)),
        },
        "demo-next-week": {
            **base,
            "status": "confirmed",
            "startTime": emu.utc(7 * day),
            "endTime": emu.utc(7 * day + hour / 2),
        },
    }


def seed() -> dict[str, Any]:
    emu.reset()
    # The doctor is made one by the clinic's admin command (scripts/clinic add-doctor), as in production.
    doctor = emu.make_doctor(*DOCTOR, specialty="General practice")
    patient = emu.sign_up(*PATIENT)
    db = emu.admin_db()
    docs = appointments(doctor.uid, patient.uid)
    for appointment_id, fields in docs.items():
        db.collection("appointments").document(appointment_id).set(fields)

    def room(appointment_id: str) -> str | None:
        data = db.collection("appointments").document(appointment_id).get().to_dict() or {}
        video = data.get("video")
        return video.get("roomName") if isinstance(video, dict) else None

    rooms = {key: emu.wait_for(lambda key=key: room(key), timeout=30) for key in ("demo-now", "demo-next-week")}
    return {
        "doctor": doctor,
        "patient": patient,
        "appointments": docs,
        "rooms": rooms,
        "reminder": wait_for_reminder(db, patient, "demo-soon"),
    }


def wait_for_reminder(db: Any, patient: emu.User, appointment_id: str) -> dict[str, Any]:
    """The patient's in-app reminder for the visit and its mail for the Trigger Email extension, once both are in."""

    def arrived() -> dict[str, Any] | None:
        notes = db.collection("users").document(patient.uid).collection("notifications").stream()
        note = next((n for n in notes if (n.to_dict() or {}).get("appointmentId") == appointment_id), None)
        # A send's mail document has the id of its in-app notification.
        mail = db.collection("mail").document(note.id).get() if note is not None else None
        if note is None or mail is None or not mail.exists:
            return None
        return {"note": note.to_dict(), "mail": mail.to_dict()}

    found: dict[str, Any] = emu.wait_for(arrived, timeout=90)
    return found


def describe(seeded: dict[str, Any]) -> str:
    lines = [
        "Demo data is in the emulators (project demo-telehealth):",
        f"  doctor   {DOCTOR[0]} / {DOCTOR[1]}   uid {seeded['doctor'].uid}  (added with scripts/clinic add-doctor)",
        f"  patient  {PATIENT[0]} / {PATIENT[1]}  uid {seeded['patient'].uid}",
        "  appointments:",
        "    demo-now        confirmed video, join window open now (room assigned by the trigger)",
        "    demo-pending    pending video, tomorrow (the doctor may confirm it)",
        "    demo-in-person  confirmed, in person (no room; get_join_token refuses: not_video)",
        "    demo-soon       confirmed video in 20 minutes: its 15-minute reminder has arrived (below)",
        "    demo-next-week  confirmed video next week (room assigned; get_join_token refuses: too_early)",
        "",
        *describe_reminder(seeded["reminder"]),
        "",
        "Ask for join tokens as the demo users (paste in another terminal):",
        "  scripts/demo-join                      # as the patient, demo-now: waiting_for_doctor (the waiting room)",
        "  scripts/demo-join doctor demo-now      # as the doctor (moderator): the patient may now join",
        "  scripts/demo-join                      # as the patient again: a token",
        "  scripts/demo-join patient demo-next-week",
    ]
    return "\n".join(lines)


def describe_reminder(reminder: dict[str, Any]) -> list[str]:
    """What the reminder task wrote for the patient: the in-app notification and the mail with its invitation."""
    note, mail = reminder["note"], reminder["mail"]
    [attachment] = mail["message"]["attachments"]
    method = next(line for line in attachment["content"].splitlines() if line.startswith("METHOD:"))
    return [
        "A reminder arrived for demo-soon (sendVisitReminder, through the Cloud Tasks emulator):",
        f"  in-app   users/<patient>/notifications: kind {note['kind']}, read {note['read']}",
        f"  mail     to {mail['to']}: {mail['message']['subject']}",
        f"           with {attachment['filename']} ({method}), for the Trigger Email extension's mail collection",
    ]


if __name__ == "__main__":
    print(describe(seed()))
    sys.exit(0)
