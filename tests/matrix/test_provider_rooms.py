"""Rooms created at the provider, through the real trigger and callable on the emulators: the EnableX and Vonage
runs, their server APIs loopback stand-ins (tests/standins.py) that check each request as the provider does.

EnableX: the matrix deploys ``enablex`` with ``VIDEO_SERVER_API_URL`` at a loopback port and the matrix key as
the App Key. Vonage: ``vonage`` with an RSA matrix key, ``VIDEO_SERVER_API_URL=https://127.0.0.1:<port>``, and
a loopback certificate (``loopback.crt``/``loopback.key`` beside the laid-out functions folder, made with
``standins.loopback_certificate``) that the suite trusts through ``REQUESTS_CA_BUNDLE``. The stand-ins take
the ids and ports from the deployed .env; every other run skips these tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import emulator_api as emu
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from provider_matrix import SOURCE
from standins import EnableX, VonageVideo, serve

PROVIDER = os.environ["MATRIX_PROVIDER"]
pytestmark = pytest.mark.skipif(os.environ["MATRIX_WAITING_ROOM"] != "host", reason="a waiting-room mode run")
enablex_run = pytest.mark.skipif(PROVIDER != "enablex", reason="the enablex run")
vonage_run = pytest.mark.skipif(PROVIDER != "vonage", reason="the vonage run")


def deployed_params() -> dict[str, str]:
    """The params this run deployed (the laid-out functions folder's .env)."""
    lines = (SOURCE / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def enablex() -> Iterator[None]:
    """EnableX's stand-in with the deployment's App ID and App Key, on the port its server API URL names."""
    params = deployed_params()
    EnableX.reset(params["VIDEO_APP_ID"], Path(os.environ["MATRIX_KEY_FILE"]).read_text())
    with serve(EnableX, port_of(params["VIDEO_SERVER_API_URL"])):
        yield


@pytest.fixture
def vonage() -> Iterator[Any]:
    """Vonage's Video API stand-in over HTTPS, checking the application JWT with the matrix key's public half;
    yields that public key."""
    params = deployed_params()
    key: Any = serialization.load_pem_private_key(Path(os.environ["MATRIX_KEY_FILE"]).read_bytes(), None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    VonageVideo.reset(params["VIDEO_APP_ID"], public)
    tls = (SOURCE.parent / "loopback.crt", SOURCE.parent / "loopback.key")
    with serve(VonageVideo, port_of(params["VIDEO_SERVER_API_URL"]), tls=tls):
        yield key.public_key()


def video_of(ref: Any) -> dict[str, Any]:
    stored: dict[str, Any] = (ref.get().to_dict() or {}).get("video") or {}
    return stored


def confirmed(name: str) -> tuple[Any, emu.User, emu.User]:
    """A visit confirmed by its doctor; returns it once the trigger created its room at the provider, its doctor and
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


@enablex_run
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


@enablex_run
@pytest.mark.usefixtures("enablex")
def test_a_token_enablex_cannot_give_is_unavailable() -> None:
    ref, doctor, _ = confirmed("unavailable")
    EnableX.fail_tokens_with = 503

    answer = emu.call("get_join_token", {"appointmentId": "unavailable"}, doctor.id_token)

    assert (answer.status, answer.details) == ("UNAVAILABLE", {"reason": "provider_unavailable"})
    assert "doctorJoinedAt" not in video_of(ref)


@enablex_run
@pytest.mark.usefixtures("enablex")
def test_a_cancelled_visits_room_is_deleted_at_enablex() -> None:
    ref, _, _ = confirmed("cancelled")
    room_id = video_of(ref)["providerRoomId"]

    ref.update({"status": "cancelled"})

    emu.wait_for(lambda: (room_id in EnableX.deleted) or None, timeout=30)
    emu.wait_for_quiet_triggers()
    assert EnableX.deleted == [room_id]
    assert "video" not in (ref.get().to_dict() or {})


@vonage_run
def test_a_confirmed_visit_gets_one_vonage_session_and_tokens_for_it(vonage: Any) -> None:
    ref, doctor, patient = confirmed("session")
    session_id, application = video_of(ref)["providerRoomId"], deployed_params()["VIDEO_APP_ID"]

    assert VonageVideo.sessions == [session_id]  # one, however often the event came
    for user, role in ((doctor, "moderator"), (patient, "publisher")):
        answer = emu.call("get_join_token", {"appointmentId": "session"}, user.id_token)
        assert answer.ok, answer
        assert (answer.result["sessionId"], answer.result["applicationId"]) == (session_id, application)
        claims = jwt.decode(answer.result["token"], vonage, algorithms=["RS256"])
        assert (claims["session_id"], claims["role"], claims["scope"]) == (session_id, role, "session.connect")
