"""The red-team findings that live in the functions, through the emulators: a moved visit is a new meeting,
a name a caller chose carries their role, and the doctor's token carries no capture feature without consent.

(The admin command's and the rules' findings are tested as a user and a client would meet them, in
test_clinicians.py and the rules tests.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import emulator_api as emu
import jwt
from google.cloud import firestore


def video_of(ref: firestore.DocumentReference) -> dict[str, Any] | None:
    video = (ref.get().to_dict() or {}).get("video")
    return video if isinstance(video, dict) else None


def confirmed_with_a_joined_doctor(db: firestore.Client, people: dict[str, emu.User], doc_id: str) -> Any:
    """A confirmed visit, given its room by the real trigger, that the doctor has joined and the patient entered."""
    ref = db.collection("appointments").document(doc_id)
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending"))
    ref.update({"status": "confirmed"})
    emu.wait_for(lambda: video_of(ref))
    assert emu.call("get_join_token", {"appointmentId": doc_id}, people["doctor"].id_token).ok
    assert emu.call("get_join_token", {"appointmentId": doc_id}, people["patient"].id_token).ok
    emu.wait_for_quiet_triggers()
    return ref


def test_a_moved_confirmed_visit_gets_a_new_room_and_the_patient_waits_for_the_doctor_again(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    """The doctor's test join this week must not let the patient in next week without waiting."""
    ref = confirmed_with_a_joined_doctor(db, people, "moved")
    old = video_of(ref)
    assert old is not None
    assert "doctorJoinedAt" in old

    stored = ref.get().to_dict() or {}
    start, end = stored["startTime"], stored["endTime"]
    ref.update({"startTime": start + dt.timedelta(minutes=2), "endTime": end + dt.timedelta(minutes=2)})

    new = emu.wait_for(lambda: v if (v := video_of(ref)) and v["roomName"] != old["roomName"] else None)
    assert set(new) == {"roomName", "provider", "roomUrl", "assignedAt"}  # no stamps carried over
    answer = emu.call("get_join_token", {"appointmentId": "moved"}, people["patient"].id_token)
    assert (answer.status, answer.details) == ("FAILED_PRECONDITION", {"reason": "waiting_for_doctor"})
    doctor = emu.call("get_join_token", {"appointmentId": "moved"}, people["doctor"].id_token)
    assert doctor.ok
    assert doctor.result["roomName"] == new["roomName"] != old["roomName"]


def test_a_patient_cannot_pass_as_the_doctor_by_name(db: firestore.Client, people: dict[str, emu.User]) -> None:
    impostor = emu.sign_up("impostor@test.example", "impostor-pass-1", "Dr. Who (your doctor)")
    ref = db.collection("appointments").document("named")
    video = {"roomName": "n" * 32, "provider": "jitsi", "roomUrl": "https://meet.example.test/" + "n" * 32}
    ref.set(emu.video_appointment(people["doctor"].uid, impostor.uid, video=video | {"doctorJoinedAt": emu.utc()}))

    patient = emu.call("get_join_token", {"appointmentId": "named"}, impostor.id_token)
    doctor = emu.call("get_join_token", {"appointmentId": "named"}, people["doctor"].id_token)

    assert patient.ok
    assert doctor.ok
    names = [
        jwt.decode(answer.result["token"], options={"verify_signature": False})["context"]["user"]["name"]
        for answer in (patient, doctor)
    ]
    assert names == ["Dr. Who (your doctor) · patient", "Dr. Who"]
