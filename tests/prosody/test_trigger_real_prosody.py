"""The backend's own trigger (main.assign_video_room on the Functions emulator) ending a cancelled visit's
meeting at a real Prosody: the doctor and the patient join with the tokens the deployed get_join_token hands
them, the visit is cancelled, and Prosody destroys the room with both in it. Runs under
``tests/prosody/run --trigger`` (the emulators on the tier's own ports, tests/prosody/trigger_layout.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import StartProsody
from prosody_harness import DOMAIN, MUC, AsapKeys, Bosh, ProsodyServer, asap_file_name, destroyed

pytestmark = pytest.mark.skipif(
    "PROSODY_TRIGGER_DIR" not in os.environ or "FUNCTIONS_EMULATOR_HOST" not in os.environ,
    reason="SKIPPED: the trigger test runs under tests/prosody/run --trigger (it needs the Firebase emulators)",
)


@pytest.fixture(scope="module")
def trigger_prosody(start_prosody: StartProsody) -> ProsodyServer:
    """The working set-up, on the port and with the app_secret the emulated functions were given."""
    given = json.loads((Path(os.environ["PROSODY_TRIGGER_DIR"]) / "secrets.json").read_text())
    AsapKeys.keys[asap_file_name(given["end_key_id"])] = given["end_public_key"].encode()
    return start_prosody(
        http_port=int(os.environ["PROSODY_TRIGGER_PORT"]), app_secret=given["app_secret"], jaas_host=False
    )


def confirmed_visit(emu: Any, name: str) -> tuple[Any, str, Any, Any]:
    emu.reset()
    doctor = emu.make_doctor(f"{name}-doctor@test.example", "tier-pass-1", "Dr. Tier")
    patient = emu.sign_up(f"{name}-patient@test.example", "tier-pass-1", "Pat Tier")
    ref = emu.admin_db().collection("appointments").document(name)
    ref.set(emu.video_appointment(doctor.uid, patient.uid, status="pending"))
    ref.update({"status": "confirmed"})
    room = emu.wait_for(lambda: ((ref.get().to_dict() or {}).get("video") or {}).get("roomName"), timeout=60)
    return ref, room, doctor, patient


def test_a_cancelled_visits_meeting_is_destroyed_by_the_trigger(trigger_prosody: ProsodyServer) -> None:
    import emulator_api as emu

    ref, room, doctor, patient = confirmed_visit(emu, "tier-cancel")
    room_jid = f"{room}@{MUC}"
    occupants = []
    try:
        for user, nick in ((doctor, "doctor"), (patient, "patient")):  # the doctor first: waiting room "host"
            answer = emu.call("get_join_token", {"appointmentId": "tier-cancel"}, user.id_token)
            assert answer.ok, (answer.status, answer.details)
            client = Bosh(trigger_prosody.url, DOMAIN, answer.result["token"])
            occupants.append(client)
            client.login()
            assert client.join(room_jid, nick).get("type") != "error"
        mark = trigger_prosody.mark()

        ref.update({"status": "cancelled"})

        trigger_prosody.wait_for_log(rf"Destroy room jid {room_jid}", timeout=90, since=mark)
        for client in occupants:
            client.wait_for(destroyed, timeout=30)
        marker = emu.admin_db().collection("videoMeetingsEnded").document(room)
        emu.wait_for(lambda: marker.get().exists or None, timeout=60)
        assert marker.get().to_dict()["provider"] == "jitsi"
    finally:
        for client in occupants:
            client.close()


def test_a_cancelled_visit_nobody_joined_is_recorded_as_ended_after_the_modules_404(
    trigger_prosody: ProsodyServer,
) -> None:
    import emulator_api as emu

    ref, room, _doctor, _patient = confirmed_visit(emu, "tier-empty")
    mark = trigger_prosody.mark()
    ref.update({"status": "cancelled"})
    trigger_prosody.wait_for_log("Room not found", timeout=90, since=mark)
    marker = emu.admin_db().collection("videoMeetingsEnded").document(room)
    emu.wait_for(lambda: marker.get().exists or None, timeout=60)
