"""The rules and the backend agree: a doctor's allowed confirm fires the trigger; a patient cannot get a room."""

from __future__ import annotations

import datetime as dt

import emulator_api as emu
from google.cloud import firestore


def test_the_doctors_allowed_confirm_is_what_fires_the_trigger(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    patient = emu.UserFirestore(people["patient"].id_token)
    doctor = emu.UserFirestore(people["doctor"].id_token)
    start = emu.utc(dt.timedelta(days=1))
    booking = emu.video_appointment(
        people["doctor"].uid,
        people["patient"].uid,
        status="pending",
        startTime=start,
        endTime=start + dt.timedelta(minutes=30),
    )
    assert patient.create("appointments", "booked", booking) == 200
    ref = db.collection("appointments").document("booked")

    assert patient.update("appointments/booked", {"status": "confirmed"}) == 403
    assert patient.update("appointments/booked", {"video": {"roomName": "x" * 32}}) == 403
    assert "video" not in (ref.get().to_dict() or {})

    assert doctor.update("appointments/booked", {"status": "confirmed"}) == 200

    # A deadline, not a sleep: returns as soon as the room is there.
    video = emu.wait_for(lambda: (ref.get().to_dict() or {}).get("video"), timeout=60)
    assert len(video["roomName"]) == 32
    assert video["roomName"] != "x" * 32
