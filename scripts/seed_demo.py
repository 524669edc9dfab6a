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
    return {"doctor": doctor, "patient": patient, "appointments": docs, "rooms": rooms}


def describe(seeded: dict[str, Any]) -> str:
    lines = [
        "Demo data is in the emulators (project demo-telehealth):",
        f"  doctor   {DOCTOR[0]} / {DOCTOR[1]}   uid {seeded['doctor'].uid}  (added with scripts/clinic add-doctor)",
        f"  patient  {PATIENT[0]} / {PATIENT[1]}  uid {seeded['patient'].uid}",
        "  appointments:",
        "    demo-now        confirmed video, join window open now (room assigned by the trigger)",
        "    demo-pending    pending video, tomorrow (the doctor may confirm it)",
        "    demo-in-person  confirmed, in person (no room; get_join_token refuses: not_video)",
        "    demo-next-week  confirmed video next week (room assigned; get_join_token refuses: too_early)",
        "",
        "Ask for join tokens as the demo users (paste in another terminal):",
        "  scripts/demo-join                      # as the patient, demo-now: waiting_for_doctor (the waiting room)",
        "  scripts/demo-join doctor demo-now      # as the doctor (moderator): the patient may now join",
        "  scripts/demo-join                      # as the patient again: a token",
        "  scripts/demo-join patient demo-next-week",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(seed()))
    sys.exit(0)
