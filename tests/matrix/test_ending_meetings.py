"""The real trigger ending a visit's meeting when it leaves confirmed, at loopback stand-ins of the providers'
server APIs (tests/standins.py): LiveKit's RoomService, and self-hosted Jitsi's Prosody end-meeting endpoint
with its ASAP key server. Each checks the request as the real server does; each meeting is ended once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import emulator_api as emu
import pytest
from provider_matrix import JITSI_END_KEY_ID, LOOPBACK_API
from standins import LiveKitRoomService, Prosody, asap_file_name, serve

PROVIDER = os.environ["MATRIX_PROVIDER"]
KEY_FILE = Path(os.environ["MATRIX_KEY_FILE"])
PORT = int(LOOPBACK_API.rsplit(":", 1)[1])
pytestmark = pytest.mark.skipif(
    os.environ["MATRIX_RUN"] not in ("livekit", "jitsi"),
    reason="the livekit run, and the jitsi run with end-meeting configured (livekit-rooms: test_provider_rooms)",
)


@pytest.fixture
def provider_api() -> Iterator[list[str]]:
    """The stand-in for this run's provider on the loopback port the deployment's params name; yields the
    rooms it ended."""
    if PROVIDER == "livekit":
        LiveKitRoomService.reset("APImatrix", KEY_FILE.read_text())
        with serve(LiveKitRoomService, PORT):
            yield LiveKitRoomService.deleted
        return
    public = (KEY_FILE.parent / "end-key.pub").read_bytes()
    Prosody.reset("telehealth-demo", "conference.meet.example.test", {asap_file_name(JITSI_END_KEY_ID): public}, set())
    with serve(Prosody, PORT):
        yield Prosody.ended


def confirmed_visit(name: str) -> tuple[Any, str]:
    emu.reset()
    doctor = emu.make_doctor("end-doctor@test.example", "end-pass-1", "Dr. End")
    patient = emu.sign_up("end-patient@test.example", "end-pass-1")
    ref = emu.admin_db().collection("appointments").document(name)
    ref.set(emu.video_appointment(doctor.uid, patient.uid, status="pending"))
    ref.update({"status": "confirmed"})
    room = emu.wait_for(lambda: ((ref.get().to_dict() or {}).get("video") or {}).get("roomName"), timeout=30)
    return ref, room


@pytest.mark.parametrize("ending", ["cancelled", "completed"])
def test_a_visit_leaving_confirmed_ends_its_meeting_once(provider_api: list[str], ending: str) -> None:
    ref, room = confirmed_visit("ending")
    Prosody.live.add(room)  # someone is in the Jitsi room (LiveKit's stand-in holds every room)

    ref.update({"status": ending})

    emu.wait_for(lambda: (room in provider_api) or None, timeout=30)
    emu.wait_for_quiet_triggers()
    # Once, however often the event is delivered (the reset above may end other, deleted visits' rooms).
    assert provider_api.count(room) == 1
    marker = emu.admin_db().collection("videoMeetingsEnded").document(room).get()
    assert marker.to_dict()["provider"] == PROVIDER
    stored = ref.get().to_dict()
    assert ("video" in stored) == (ending == "completed")  # a completed visit keeps its room as a record


@pytest.mark.skipif(PROVIDER != "jitsi", reason="Prosody's answers")
def test_a_jitsi_room_nobody_is_in_is_recorded_as_ended_after_prosodys_404(provider_api: list[str]) -> None:
    ref, room = confirmed_visit("empty")
    ref.update({"status": "cancelled"})

    marker = emu.admin_db().collection("videoMeetingsEnded").document(room)
    emu.wait_for(lambda: marker.get().exists or None, timeout=30)
    emu.wait_for_quiet_triggers()
    assert provider_api == []
    assert 404 in Prosody.statuses
    assert 200 not in Prosody.statuses
