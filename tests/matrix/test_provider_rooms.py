"""Rooms created at the provider, through the real trigger and callable on the emulators: the EnableX run, its
server API a loopback stand-in (tests/standins.py) that checks basic auth, paths and bodies as EnableX does.

Runs when the matrix deploys ``enablex`` with ``VIDEO_SERVER_API_URL`` at a loopback port and the matrix key
as the App Key (the stand-in takes both from the deployed .env); skipped in every other run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import emulator_api as emu
import pytest
from provider_matrix import SOURCE
from standins import EnableX, serve

PROVIDER = os.environ["MATRIX_PROVIDER"]
pytestmark = pytest.mark.skipif(
    PROVIDER != "enablex" or os.environ["MATRIX_WAITING_ROOM"] != "host", reason="the enablex run"
)


def deployed_params() -> dict[str, str]:
    """The params this run deployed (the laid-out functions folder's .env)."""
    lines = (SOURCE / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture
def enablex() -> Iterator[None]:
    """EnableX's stand-in with the deployment's App ID and App Key, on the port its server API URL names."""
    params = deployed_params()
    EnableX.reset(params["VIDEO_APP_ID"], Path(os.environ["MATRIX_KEY_FILE"]).read_text())
    with serve(EnableX, int(params["VIDEO_SERVER_API_URL"].rsplit(":", 1)[1])):
        yield


def video_of(ref: Any) -> dict[str, Any]:
    stored: dict[str, Any] = (ref.get().to_dict() or {}).get("video") or {}
    return stored


def confirmed(name: str) -> tuple[Any, emu.User, emu.User]:
    """A visit confirmed by its doctor; returns it once the trigger created its room at EnableX, its doctor and
    its patient."""
    emu.reset()
    doctor = emu.make_doctor("rooms-doctor@test.example", "rooms-pass-1", "Dr. Rooms")
    patient = emu.sign_up("rooms-patient@test.example", "rooms-pass-1")
    ref = emu.admin_db().collection("appointments").document(name)
    ref.set(emu.video_appointment(doctor.uid, patient.uid, status="pending"))
    ref.update({"status": "confirmed"})
    emu.wait_for(lambda: video_of(ref).get("providerRoomId"), timeout=30)
    emu.wait_for_quiet_triggers()
    return ref, doctor, patient


@pytest.mark.usefixtures("enablex")
def test_a_confirmed_visit_gets_one_room_at_enablex_and_the_patient_its_token() -> None:
    ref, doctor, patient = confirmed("rooms")
    video = video_of(ref)

    assert list(EnableX.rooms) == [video["providerRoomId"]]  # one, however often the event came
    assert EnableX.rooms[video["providerRoomId"]]["name"] == video["roomName"]
    for user in (doctor, patient):  # the doctor first: the default waiting room lets the patient in then
        answer = emu.call("get_join_token", {"appointmentId": "rooms"}, user.id_token)
        assert answer.ok, answer
        assert (answer.result["provider"], answer.result["roomId"]) == ("enablex", video["providerRoomId"])
    assert [token["role"] for token in EnableX.tokens] == ["moderator", "participant"]


@pytest.mark.usefixtures("enablex")
def test_a_token_enablex_cannot_give_is_unavailable() -> None:
    ref, doctor, _ = confirmed("unavailable")
    EnableX.fail_tokens_with = 503

    answer = emu.call("get_join_token", {"appointmentId": "unavailable"}, doctor.id_token)

    assert (answer.status, answer.details) == ("UNAVAILABLE", {"reason": "provider_unavailable"})
    assert "doctorJoinedAt" not in video_of(ref)


@pytest.mark.usefixtures("enablex")
def test_a_cancelled_visits_room_is_deleted_at_enablex() -> None:
    ref, _, _ = confirmed("cancelled")
    room_id = video_of(ref)["providerRoomId"]

    ref.update({"status": "cancelled"})

    emu.wait_for(lambda: (room_id in EnableX.deleted) or None, timeout=30)
    emu.wait_for_quiet_triggers()
    assert EnableX.deleted == [room_id]
    assert "video" not in (ref.get().to_dict() or {})
