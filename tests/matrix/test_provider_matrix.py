"""Every provider x role x join-window edge through the real callable, with that provider deployed.

The emulator's clock cannot be frozen, so each edge is placed 20 to 30 seconds from the real now, and
that now is taken right before the call (the visit's times are written then): a call takes milliseconds,
a cold worker on a loaded machine a few seconds, well inside the margin. (Placing all edges when the
module started left the margin to however long the earlier cases took.)
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import emulator_api as emu
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from livekit.api import TokenVerifier

PROVIDER = os.environ["MATRIX_PROVIDER"]
pytestmark = [
    pytest.mark.skipif(os.environ["MATRIX_WAITING_ROOM"] != "host", reason="a waiting-room mode run"),
    # Its visits are seeded with a room and no provider room: those runs are tests/matrix/test_provider_rooms.
    pytest.mark.skipif(bool(os.environ["MATRIX_CREATES_ROOMS"]), reason="rooms created at the provider"),
]
KEY = Path(os.environ["MATRIX_KEY_FILE"]).read_text()
MINUTE = dt.timedelta(minutes=1)
ROOM = "matrixroom234567matrixroom234567"

# Start and end of each case, from now; opens 15 minutes before the start, closes 30 after the end.
EDGES: dict[str, tuple[dt.timedelta, str | None]] = {
    "30 s before the window opens": (15 * MINUTE + dt.timedelta(seconds=30), "too_early"),
    "20 s after it opened": (15 * MINUTE - dt.timedelta(seconds=20), None),
    "90 s before it closes": (-60 * MINUTE + dt.timedelta(seconds=90), None),
    "30 s before it closes (under the minute)": (-60 * MINUTE + dt.timedelta(seconds=30), "too_late"),
}


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    emu.reset()
    doctor = emu.make_doctor("matrix-doctor@test.example", "matrix-pass-1", "Dr. Matrix")
    patient = emu.sign_up("matrix-patient@test.example", "matrix-pass-1", "Pat Matrix")
    stranger = emu.sign_up("matrix-stranger@test.example", "matrix-pass-1")
    db = emu.admin_db()
    for n, (start_in, _) in enumerate(EDGES.values()):
        start = emu.utc(start_in)
        room = {"roomName": ROOM, "provider": PROVIDER}
        fields = emu.video_appointment(doctor.uid, patient.uid, startTime=start, endTime=start + 30 * MINUTE)
        db.collection("appointments").document(f"edge-{n}").set(fields | {"video": room})
    return {"moderator": doctor, "guest": patient, "stranger": stranger}


def verified_claims(token: str) -> dict[str, Any]:
    """Decode with the deployed key: the signature must hold, and exactly one algorithm is accepted."""
    options = {"verify_aud": False, "verify_iat": False}
    if PROVIDER == "jaas":
        public = load_pem_private_key(KEY.encode(), password=None).public_key()
        claims: dict[str, Any] = jwt.decode(token, public, algorithms=["RS256"], options=options)  # type: ignore[arg-type]
        return claims
    claims = jwt.decode(token, KEY, algorithms=["HS256"], options=options)
    return claims


def role_in_token(claims: dict[str, Any]) -> str:
    if PROVIDER in ("jitsi", "jaas"):
        return "moderator" if claims["context"]["user"]["moderator"] == "true" else "guest"
    if PROVIDER == "livekit":
        return "moderator" if claims["video"]["roomAdmin"] else "guest"
    if PROVIDER == "twilio":
        return {"doctor": "moderator", "patient": "guest"}[claims["grants"]["identity"]]
    return "moderator" if claims["role_type"] == 1 else "guest"


def room_in_token(claims: dict[str, Any]) -> str:
    return {
        "jitsi": lambda: claims["room"],
        "jaas": lambda: claims["room"],
        "livekit": lambda: claims["video"]["room"],
        "twilio": lambda: claims["grants"]["video"]["room"],
        "zoom": lambda: claims["tpc"],
    }[PROVIDER]()


CASES = [(edge, role) for edge in EDGES for role in ("moderator", "guest")]


@pytest.mark.parametrize(("edge", "role"), CASES, ids=[f"{PROVIDER}: {role} {edge}" for edge, role in CASES])
def test_each_role_at_each_window_edge(world: dict[str, Any], edge: str, role: str) -> None:
    # A visit of its own, written right before the call: moving a confirmed visit's times would make it a new
    # meeting (a new room from the trigger), so the edge is set at creation, with the doctor already in.
    doc_id = f"edge-{list(EDGES).index(edge)}-{role}"
    start_in, refusal = EDGES[edge]
    start = emu.utc(start_in)
    doctor, patient = world["moderator"].uid, world["guest"].uid
    fields = emu.video_appointment(doctor, patient, startTime=start, endTime=start + 30 * MINUTE)
    room = {"roomName": ROOM, "provider": PROVIDER, "doctorJoinedAt": emu.utc()}
    emu.admin_db().collection("appointments").document(doc_id).set(fields | {"video": room})

    answer = emu.call("get_join_token", {"appointmentId": doc_id}, world[role].id_token)

    if refusal is not None:
        assert (answer.status, answer.details["reason"]) == ("FAILED_PRECONDITION", refusal)
        return
    assert answer.ok, answer
    result = answer.result
    assert (result["provider"], result["role"], result["roomName"]) == (PROVIDER, role, ROOM)
    assert ("serverUrl" in result) == (PROVIDER == "livekit")
    assert result["token"] not in result["roomUrl"]
    claims = verified_claims(result["token"])
    assert role_in_token(claims) == role
    assert room_in_token(claims) == ROOM
    assert claims["exp"] == result["expiresAt"]
    if PROVIDER == "zoom":
        assert 1800 <= claims["exp"] - claims["iat"] <= 48 * 3600
    else:
        start = emu.admin_db().collection("appointments").document(doc_id).get().to_dict()["startTime"]
        closes = int((start + 60 * MINUTE).timestamp())
        assert claims["exp"] <= closes
    if PROVIDER == "jaas":
        assert jwt.get_unverified_header(result["token"])["kid"] == "vpaas-magic-cookie-0123456789abcdef/matrixkey"
        assert result["roomUrl"] == f"https://8x8.vc/vpaas-magic-cookie-0123456789abcdef/{ROOM}"
    if PROVIDER == "livekit":
        assert TokenVerifier("APImatrix", KEY).verify(result["token"]).video.room == ROOM
        assert result["serverUrl"] == "wss://lk.example.test"
    if PROVIDER == "twilio":
        assert jwt.get_unverified_header(result["token"])["cty"] == "twilio-fpa;v=1"


def test_a_stranger_is_not_found_with_this_provider(world: dict[str, Any]) -> None:
    answer = emu.call("get_join_token", {"appointmentId": "edge-1"}, world["stranger"].id_token)
    assert (answer.status, answer.details) == ("NOT_FOUND", None)
