"""The matrix's Twilio and Zoom runs through the real functions: signed webhooks recorded once, unsigned and
mis-signed ones refused with nothing written, Zoom's URL validation answered, and a cancelled visit's meeting ended
once at a loopback stand-in of the provider's REST API (the run's params point VIDEO_SERVER_API_URL there and
VIDEO_TWILIO_CALLBACK_URL at this suite's own video_events/twilio)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import emulator_api as emu
import pytest
import requests
from google.cloud import firestore
from provider_matrix import LOOPBACK_API, RUNS, ZOOM_API_KEY
from standins import TwilioRooms, ZoomVideoSdk, serve
from support import samples

PROVIDER = os.environ["MATRIX_RUN"]
pytestmark = pytest.mark.skipif(PROVIDER not in ("twilio", "zoom"), reason="the twilio and zoom runs")
KEYS = Path(os.environ["MATRIX_KEY_FILE"]).parent
SECRETS = {
    "VIDEO_SIGNING_KEY": Path(os.environ["MATRIX_KEY_FILE"]).read_text(),
    "VIDEO_WEBHOOK_SECRET": (KEYS / "webhook-secret").read_text(),
    "VIDEO_ZOOM_API_SECRET": (KEYS / "zoom-api-secret").read_text(),
}
STAND_IN_PORT = int(LOOPBACK_API.rsplit(":", 1)[1])
TWILIO = RUNS["twilio"].params
ROOM = "p" * 32


def webhook_url() -> str:
    return f"{emu.functions_base()}/{emu.PROJECT}/{emu.REGION}/video_events/{PROVIDER}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def signed(role: str, kind: str = "joined", at: dt.datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """A webhook of this run's provider, signed with this deployment's secret."""
    when = at or now()
    participant = hashlib.sha256(role.encode()).hexdigest()[:32]  # each participant is its own, as at the provider
    if PROVIDER == "twilio":
        event = "participant-connected" if kind == "joined" else "participant-disconnected"
        account = TWILIO["VIDEO_ACCOUNT_ID"]
        params = samples.twilio_params(
            event, ROOM, when, identity=role, AccountSid=account, ParticipantSid="PA" + participant
        )
        return samples.twilio_post(params, url=webhook_url(), token=SECRETS["VIDEO_WEBHOOK_SECRET"])
    event = "session.user_joined" if kind == "joined" else "session.user_left"
    payload = samples.zoom_payload(event, ROOM, when, user_key=role)
    payload["payload"]["object"]["user"]["participant_uuid"] = participant
    return samples.zoom_post(payload, int(time.time()), secret=SECRETS["VIDEO_WEBHOOK_SECRET"])


def visit_with_room(db: firestore.Client, people: dict[str, emu.User]) -> firestore.DocumentReference:
    ref = db.collection("appointments").document("parity-visit")
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, video={"roomName": ROOM}))
    return ref


def test_signed_webhooks_are_recorded_once_with_their_roles(db: firestore.Client, people: dict[str, emu.User]) -> None:
    ref = visit_with_room(db, people)
    joined = now() - dt.timedelta(seconds=30)
    for _ in range(2):  # each delivered twice
        assert emu.post_webhook(PROVIDER, *signed("doctor", at=joined)) == 200
        assert emu.post_webhook(PROVIDER, *signed("patient", at=joined + dt.timedelta(seconds=5))) == 200
    events = sorted((snap.to_dict() for snap in ref.collection("attendance").stream()), key=lambda e: e["at"])
    assert [(event["event"], event["role"]) for event in events] == [("joined", "moderator"), ("joined", "guest")]
    summary = ref.get().to_dict()["video"]["attendance"]
    assert summary["doctorJoinedAt"] == joined
    assert summary["patientJoinedAt"] == joined + dt.timedelta(seconds=5)


def test_unsigned_and_mis_signed_webhooks_are_refused_and_write_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = visit_with_room(db, people)
    body, headers = signed("doctor")
    signature = "X-Twilio-Signature" if PROVIDER == "twilio" else "x-zm-signature"
    assert emu.post_webhook(PROVIDER, body, {k: v for k, v in headers.items() if k != signature}) == 401
    assert emu.post_webhook(PROVIDER, body.replace(b"doctor", b"patient"), headers) == 401
    assert emu.post_webhook("jitsi/events/occupant/joined", b"{}", {}) == 404  # another provider's path
    assert list(ref.collection("attendance").stream()) == []


@pytest.mark.skipif(PROVIDER != "zoom", reason="Zoom's challenge")
def test_zoom_url_validation_is_answered_through_the_function(db: firestore.Client) -> None:
    body, headers = samples.zoom_post(
        samples.url_validation(), int(time.time()), secret=SECRETS["VIDEO_WEBHOOK_SECRET"]
    )
    reply = requests.post(webhook_url(), data=body, headers=headers, timeout=30)
    expected = hmac.new(SECRETS["VIDEO_WEBHOOK_SECRET"].encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert (reply.status_code, reply.json()) == (
        200,
        {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected},
    )


@pytest.fixture
def provider_api() -> Iterator[Any]:
    """The stand-in of this run's REST API on the port the deployment names; yields its class."""
    if PROVIDER == "twilio":
        TwilioRooms.reset(TWILIO["VIDEO_APP_ID"], SECRETS["VIDEO_SIGNING_KEY"], TWILIO["VIDEO_ACCOUNT_ID"], {})
        with serve(TwilioRooms, STAND_IN_PORT):
            yield TwilioRooms
        return
    ZoomVideoSdk.reset(ZOOM_API_KEY, SECRETS["VIDEO_ZOOM_API_SECRET"], {})
    with serve(ZoomVideoSdk, STAND_IN_PORT):
        yield ZoomVideoSdk


def test_a_cancelled_visits_meeting_is_ended_once_at_the_provider(
    db: firestore.Client, people: dict[str, emu.User], provider_api: Any
) -> None:
    ref = db.collection("appointments").document("ending")
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending"))
    ref.update({"status": "confirmed"})
    room = emu.wait_for(lambda: ((ref.get().to_dict() or {}).get("video") or {}).get("roomName"), timeout=30)
    if PROVIDER == "twilio":
        provider_api.live[room] = samples.ROOM_SID
    else:
        provider_api.live["session-" + room[:8]] = room

    ref.update({"status": "cancelled"})

    ended = provider_api.completed if PROVIDER == "twilio" else provider_api.ended
    emu.wait_for(lambda: ended or None, timeout=30)
    emu.wait_for_quiet_triggers()
    assert ended == ([room] if PROVIDER == "twilio" else ["session-" + room[:8]])
    marker = db.collection("videoMeetingsEnded").document(room).get()
    assert marker.to_dict()["provider"] == PROVIDER
