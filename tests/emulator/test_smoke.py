"""The suite runs our functions for real: a trigger round trip and an HTTP callable round trip."""

from __future__ import annotations

import emulator_api as emu
from google.cloud import firestore


def test_confirming_a_video_appointment_gives_it_a_room_and_the_patient_a_token(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = db.collection("appointments").document("smoke")
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending"))
    ref.update({"status": "confirmed"})
    video = emu.wait_for(lambda: (ref.get().to_dict() or {}).get("video"))
    assert len(video["roomName"]) == 32

    # The waiting room (host): the doctor's first token lets the patient in.
    assert emu.call("get_join_token", {"appointmentId": "smoke"}, people["doctor"].id_token).ok
    answer = emu.call("get_join_token", {"appointmentId": "smoke"}, people["patient"].id_token)

    assert answer.ok, answer
    assert answer.result["roomName"] == video["roomName"]
    assert answer.result["role"] == "guest"
