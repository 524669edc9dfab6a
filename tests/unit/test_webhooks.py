"""Provider webhooks signed as the providers sign them, tampered, stale and malformed; the attendance summary."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
from typing import Any

import pytest
from conftest import HMAC_SECRET, NOW
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent
from support.configs import video_config

from telehealth.config import Settings, SigningKey
from telehealth.errors import Misconfigured
from telehealth.errors import WebhookRejected as Rejected
from telehealth.providers import build_settings
from telehealth.providers import jaas as jaas_provider
from telehealth.providers import jitsi as jitsi_provider
from telehealth.providers import livekit as livekit_provider
from telehealth.providers.base import AttendanceEvent, Deployment, WebhookRequest
from telehealth.store.attendance import summarise

KEY = "APIwebhooks"
ROOM = "r" * 32
APP_ID = "vpaas-magic-cookie-0123"
JAAS_SECRET = "jaas-webhook-secret-value-0123456789"
JITSI_SECRET = "event-sync-shared-secret-0123456789"
NOW_TS = int(NOW.timestamp())


def deployment(settings: Settings, webhook_secret: str = "") -> Deployment:
    return Deployment(
        config=lambda: settings.config,
        settings=lambda: settings,
        secret=lambda name: {"VIDEO_WEBHOOK_SECRET": webhook_secret}[name],
    )


def livekit_events(body: bytes, authorization: str, api_key: str, api_secret: str, now: Any) -> list[AttendanceEvent]:
    """LiveKit's verifier on a deployment with this API key and secret."""
    settings = build_settings(video_config(provider="livekit", domain="lk.test", app_id=api_key), api_secret)
    headers = {"authorization": authorization} if authorization else {}
    return livekit_provider.events(WebhookRequest("", headers, body, now), deployment(settings))


def jaas_events(body: bytes, signature: str, secret: str, app_id: str, now: Any) -> list[AttendanceEvent]:
    """JaaS's verifier on a deployment of this AppID with this webhook secret (its signing key is not read)."""
    settings = Settings(video_config(provider="jaas", app_id=app_id, key_id="k"), SigningKey("RS256", None))
    headers = {"X-Jaas-Signature": signature} if signature else {}
    return jaas_provider.events(WebhookRequest("", headers, body, now), deployment(settings, secret))


def jitsi_events(path: str, body: bytes, authorization: str, secret: str, now: Any) -> list[AttendanceEvent]:
    """Jitsi's event-sync verifier on a deployment with this webhook secret (its signing key is not read)."""
    config = video_config(provider="jitsi", domain="meet.clinic.test", app_id="app")
    headers = {"Authorization": authorization} if authorization else {}
    return jitsi_provider.events(
        WebhookRequest(path, headers, body, now), deployment(Settings(config, SigningKey("HS256", b"")), secret)
    )


def livekit_body(event: str = "participant_joined", identity: str = "patient", created: int = NOW_TS) -> bytes:
    message = WebhookEvent(
        event=event,
        id="EV_abc123",
        created_at=created,
        room=Room(name=ROOM),
        participant=ParticipantInfo(identity=identity),
    )
    return MessageToJson(message).encode()


def livekit_auth(body: bytes, secret: str = HMAC_SECRET) -> str:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return AccessToken(KEY, secret).with_sha256(digest).to_jwt()


def test_a_livekit_webhook_signed_by_livekits_own_token_verifies() -> None:
    body = livekit_body()
    [event] = livekit_events(body, livekit_auth(body), KEY, HMAC_SECRET, NOW)
    assert (event.event_id, event.room, event.kind, event.role, event.at) == ("EV_abc123", ROOM, "joined", "guest", NOW)


LIVEKIT_BAD = "LiveKit signature or body hash does not verify"


@pytest.mark.parametrize(
    ("make", "status", "why"),
    [
        pytest.param(lambda b: (b, ""), 401, "no Authorization header", id="unsigned"),
        pytest.param(lambda b: (b.replace(b"patient", b"doctor_"), livekit_auth(b)), 401, LIVEKIT_BAD, id="tampered"),
        pytest.param(
            lambda b: (b, livekit_auth(b, "another-secret-that-is-long-enough-00")), 401, LIVEKIT_BAD, id="key"
        ),
        pytest.param(lambda b: (b, "not-a-jwt"), 401, LIVEKIT_BAD, id="garbage token"),
        pytest.param(lambda b: (b"\xff" + b, livekit_auth(b)), 400, "body is not UTF-8", id="not UTF-8"),
    ],
)
def test_bad_livekit_webhooks_are_refused_with_their_reason(make: Any, status: int, why: str) -> None:
    body, auth = make(livekit_body())
    with pytest.raises(Rejected) as caught:
        livekit_events(body, auth, KEY, HMAC_SECRET, NOW)
    assert (caught.value.status, caught.value.why, str(caught.value)) == (status, why, why)


def test_a_stale_livekit_event_is_400_and_other_events_are_ignored() -> None:
    stale = livekit_body(created=NOW_TS - 301)
    with pytest.raises(Rejected) as caught:
        livekit_events(stale, livekit_auth(stale), KEY, HMAC_SECRET, NOW)
    assert caught.value.status == 400
    finished = livekit_body(event="room_finished")
    assert livekit_events(finished, livekit_auth(finished), KEY, HMAC_SECRET, NOW) == []
    left = livekit_body(event="participant_connection_aborted", identity="doctor")
    [event] = livekit_events(left, livekit_auth(left), KEY, HMAC_SECRET, NOW)
    assert (event.kind, event.role) == ("left", "moderator")


def jaas(payload: dict[str, Any] | bytes, stamp: int = NOW_TS, secret: str = JAAS_SECRET) -> tuple[bytes, str]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).digest())
    return body, f"t={stamp},v1={signature.decode()}"


def jaas_payload(**changes: Any) -> dict[str, Any]:
    return {
        "idempotencyKey": "8f2c6a1e-0000-4000-8000-000000000001",
        "customerId": "c1",
        "appId": APP_ID,
        "eventType": "PARTICIPANT_JOINED",
        "sessionId": "s1",
        "timestamp": NOW_TS * 1000,
        "fqn": f"{APP_ID}/{ROOM}",
        "data": {"moderator": "true", "name": "Dr. Ada", "id": "doctor"},
    } | changes


def test_a_jaas_webhook_with_its_documented_signature_verifies() -> None:
    [event] = jaas_events(*jaas(jaas_payload()), JAAS_SECRET, APP_ID, NOW)
    assert (event.event_id, event.room, event.kind, event.role, event.at) == (
        "8f2c6a1e-0000-4000-8000-000000000001",
        ROOM,
        "joined",
        "moderator",
        NOW,
    )


def test_the_jaas_signature_is_standard_base64_as_in_8x8s_example() -> None:
    """8x8's page shows ``v1=xlzqEojlh4qb21sQpXYsWgyK8x9HVpz+RQldsv18rV0=``: 44 characters, '+' and '=' padding."""
    _, header = jaas(jaas_payload())
    value = header.split("v1=", 1)[1]
    assert len(value) == 44
    assert value.endswith("=")
    assert len(base64.b64decode(value, validate=True)) == 32


def test_any_of_several_v1_signatures_will_do_and_spaces_are_allowed() -> None:
    """During a secret rotation the header may carry a signature per secret; other schemes are ignored."""
    body, good = jaas(jaas_payload())
    _, old = jaas(jaas_payload(), secret="the-previous-secret")
    stamp, signature = good.split(",")
    old_signature = old.split(",")[1]
    for header in (
        f"{stamp},{old_signature},{signature}",
        f"{stamp}, {signature}",
        f"{stamp},v0=ignored,{signature}",
    ):
        assert len(jaas_events(body, header, JAAS_SECRET, APP_ID, NOW)) == 1
    for header, why in (
        (f"{stamp},{old_signature}", "JaaS signature does not verify"),
        (f"{stamp},v0={signature.split('=', 1)[1]}", "no JaaS signature"),  # a right value under another scheme
        (f"{stamp},t=1,{signature}", "no JaaS signature"),  # two timestamps: which one was signed?
        (f"t=,{signature}", "no JaaS signature"),
    ):
        with pytest.raises(Rejected) as caught:
            jaas_events(body, header, JAAS_SECRET, APP_ID, NOW)
        assert (caught.value.status, caught.value.why) == (401, why)


@pytest.mark.parametrize(
    ("body_and_signature", "status", "why"),
    [
        pytest.param((json.dumps(jaas_payload()).encode(), ""), 401, "no JaaS signature", id="unsigned"),
        pytest.param((b"{}", "t=1"), 401, "no JaaS signature", id="no v1"),
        pytest.param((b"{}", "v1=abc"), 401, "no JaaS signature", id="no t"),
        pytest.param(jaas(jaas_payload(), secret="wrong"), 401, "JaaS signature does not verify", id="wrong secret"),
        pytest.param(
            (b"{}" + jaas(jaas_payload())[0][2:], jaas(jaas_payload())[1]),
            401,
            "JaaS signature does not verify",
            id="tampered",
        ),
        pytest.param(jaas(jaas_payload(), stamp=NOW_TS - 301), 400, "stale event", id="stale"),
        pytest.param(jaas(jaas_payload(), stamp=NOW_TS + 301), 400, "stale event", id="from the future"),
        pytest.param(jaas(b"not json"), 400, "body is not JSON", id="malformed"),
        pytest.param(jaas(b"[1]"), 400, "payload is not an object", id="not an object"),
        pytest.param(jaas(jaas_payload(idempotencyKey=None)), 400, "event id missing or too long", id="no event id"),
        pytest.param(jaas(jaas_payload(fqn="no-slash")), 400, "payload without fqn or data", id="no tenant in fqn"),
        pytest.param(jaas(jaas_payload(data="x")), 400, "payload without fqn or data", id="data not an object"),
    ],
)
def test_bad_jaas_webhooks(body_and_signature: tuple[bytes, str], status: int, why: str) -> None:
    with pytest.raises(Rejected) as caught:
        jaas_events(*body_and_signature, JAAS_SECRET, APP_ID, NOW)
    assert (caught.value.status, caught.value.why) == (status, why)


def test_jaas_events_of_another_app_or_kind_are_ignored() -> None:
    assert jaas_events(*jaas(jaas_payload(fqn=f"vpaas-other/{ROOM}")), JAAS_SECRET, APP_ID, NOW) == []
    assert jaas_events(*jaas(jaas_payload(eventType="ROOM_CREATED")), JAAS_SECRET, APP_ID, NOW) == []


def jitsi_payload(kind: str = "joined", at: int = NOW_TS, user: str = "patient") -> bytes:
    occupant = {"name": "Pat", "id": user, "occupant_jid": f"{ROOM}@conference.meet/abcd", "email": ""}
    occupant["joined_at" if kind == "joined" else "left_at"] = at
    return json.dumps({"event_name": f"muc-occupant-{kind}", "room_name": ROOM, "occupant": occupant}).encode()


def test_a_jitsi_event_sync_post_verifies_and_its_id_is_stable() -> None:
    body = jitsi_payload()
    [first] = jitsi_events("events/occupant/joined", body, f"Bearer {JITSI_SECRET}", JITSI_SECRET, NOW)
    [again] = jitsi_events("/events/occupant/joined/", body, f"Bearer {JITSI_SECRET}", JITSI_SECRET, NOW)
    assert (first.kind, first.role, first.room) == ("joined", "guest", ROOM)
    assert first.event_id == again.event_id
    [left] = jitsi_events("events/occupant/left", jitsi_payload("left"), f"Bearer {JITSI_SECRET}", JITSI_SECRET, NOW)
    assert left.event_id != first.event_id


JITSI_AUTH = f"Bearer {JITSI_SECRET}"


@pytest.mark.parametrize(
    ("body", "auth", "status", "why"),
    [
        pytest.param(jitsi_payload(), "", 401, "event-sync secret does not match", id="no secret"),
        pytest.param(jitsi_payload(), "Bearer nope", 401, "event-sync secret does not match", id="wrong secret"),
        pytest.param(jitsi_payload(), JITSI_SECRET, 200, "", id="the secret without Bearer is accepted too"),
        pytest.param(b"[", JITSI_AUTH, 400, "body is not JSON", id="malformed"),
        pytest.param(b"{}", JITSI_AUTH, 400, "payload without room or occupant", id="no occupant"),
        pytest.param(b"[]", JITSI_AUTH, 400, "payload is not an object", id="a list"),
        pytest.param(jitsi_payload(at=NOW_TS - 400), JITSI_AUTH, 400, "stale event", id="stale"),
    ],
)
def test_bad_jitsi_posts(body: bytes, auth: str, status: int, why: str) -> None:
    if status == 200:
        assert len(jitsi_events("events/occupant/joined", body, auth, JITSI_SECRET, NOW)) == 1
        return
    with pytest.raises(Rejected) as caught:
        jitsi_events("events/occupant/joined", body, auth, JITSI_SECRET, NOW)
    assert (caught.value.status, caught.value.why) == (status, why)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        pytest.param("", "VIDEO_WEBHOOK_SECRET is not set", id="empty"),
        pytest.param("none", "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="none"),
        pytest.param("short-secret", "VIDEO_WEBHOOK_SECRET is too short: at least 32 bytes needed", id="short"),
    ],
)
def test_a_weak_secret_verifies_nothing_and_is_named(secret: str, problem: str) -> None:
    """``Bearer none`` must not forge attendance: the deployment fails closed (500) and says which setting."""
    with pytest.raises(Misconfigured) as caught:
        jitsi_events("events/occupant/joined", jitsi_payload(), f"Bearer {secret}", secret, NOW)
    assert caught.value.problem == problem
    with pytest.raises(Misconfigured) as jaas_caught:
        jaas_events(*jaas(jaas_payload(), secret=secret or "x"), secret, APP_ID, NOW)
    assert jaas_caught.value.problem == problem


@pytest.mark.parametrize(
    "event_type",
    [pytest.param(["PARTICIPANT_JOINED"], id="a list"), pytest.param(7, id="a number"), pytest.param(None, id="null")],
)
def test_a_signed_jaas_body_with_a_wrongly_typed_event_type_is_400(event_type: Any) -> None:
    with pytest.raises(Rejected) as caught:
        jaas_events(*jaas(jaas_payload(eventType=event_type)), JAAS_SECRET, APP_ID, NOW)
    assert (caught.value.status, caught.value.why) == (400, "eventType is not text")


def test_room_events_from_jitsi_are_ignored() -> None:
    body = json.dumps({"event_name": "muc-room-created", "room_name": ROOM}).encode()
    assert jitsi_events("events/room/created", body, f"Bearer {JITSI_SECRET}", JITSI_SECRET, NOW) == []


EVENTS = [
    ("joined", "guest", NOW + dt.timedelta(seconds=30)),
    ("joined", "moderator", NOW),
    ("left", "guest", NOW + dt.timedelta(minutes=20)),
    ("joined", "guest", NOW + dt.timedelta(minutes=5)),  # a rejoin: the first join stays
    ("left", "moderator", NOW + dt.timedelta(minutes=25)),
    ("joined", None, NOW - dt.timedelta(minutes=1)),  # not one of ours: no summary field
]


def test_the_attendance_summary_is_the_same_for_every_order_of_events() -> None:
    results = set()
    for order in itertools.permutations(EVENTS):
        summary: dict[str, Any] = {}
        for kind, role, at in order:
            summary = summarise(summary, kind, role, at)
        results.add(tuple(sorted(summary.items())))
    assert results == {
        (
            ("doctorJoinedAt", NOW),
            ("lastLeftAt", NOW + dt.timedelta(minutes=25)),
            ("patientJoinedAt", NOW + dt.timedelta(seconds=30)),
        )
    }


# Edges a reviewer's planted bug would cross ------------------------------------------------------------------


def test_a_livekit_event_exactly_five_minutes_old_still_counts() -> None:
    edge = livekit_body(created=NOW_TS - 300)
    assert len(livekit_events(edge, livekit_auth(edge), KEY, HMAC_SECRET, NOW)) == 1


def test_a_livekit_authorization_with_a_bearer_prefix_verifies() -> None:
    body = livekit_body()
    assert len(livekit_events(body, f"Bearer {livekit_auth(body)}", KEY, HMAC_SECRET, NOW)) == 1


def test_a_livekit_join_without_a_room_is_400() -> None:
    message = WebhookEvent(
        event="participant_joined", id="EV_x", created_at=NOW_TS, participant=ParticipantInfo(identity="patient")
    )
    body = MessageToJson(message).encode()
    with pytest.raises(Rejected) as caught:
        livekit_events(body, livekit_auth(body), KEY, HMAC_SECRET, NOW)
    assert (caught.value.status, caught.value.why) == (400, "event without a room")


def test_a_jaas_timestamp_that_is_signed_but_not_a_number_is_400() -> None:
    body = json.dumps(jaas_payload()).encode()
    stamp = "17x"
    signature = base64.b64encode(hmac.new(JAAS_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).digest())
    with pytest.raises(Rejected) as caught:
        jaas_events(body, f"t={stamp},v1={signature.decode()}", JAAS_SECRET, APP_ID, NOW)
    assert (caught.value.status, caught.value.why) == (400, "signature timestamp is not a number")


def test_the_jaas_tenant_is_what_comes_before_the_first_slash() -> None:
    [event] = jaas_events(*jaas(jaas_payload(fqn=f"{APP_ID}/{ROOM}/extra")), JAAS_SECRET, APP_ID, NOW)
    assert event.room == f"{ROOM}/extra"  # not a room of ours, so it is recorded nowhere; and nothing crashes
    assert jaas_events(*jaas(jaas_payload(fqn=f"other/{APP_ID}/{ROOM}")), JAAS_SECRET, APP_ID, NOW) == []


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"room_name": 5, "occupant": {"joined_at": NOW_TS}}, id="a numeric room"),
        pytest.param({"room_name": "", "occupant": {"joined_at": NOW_TS}}, id="an empty room"),
        pytest.param({"room_name": ROOM, "occupant": "someone"}, id="an occupant that is not an object"),
    ],
)
def test_jitsi_posts_without_a_usable_room_or_occupant_are_400(payload: dict[str, Any]) -> None:
    with pytest.raises(Rejected) as caught:
        jitsi_events("events/occupant/joined", json.dumps(payload).encode(), JITSI_AUTH, JITSI_SECRET, NOW)
    assert (caught.value.status, caught.value.why) == (400, "payload without room or occupant")


def test_a_path_that_only_resembles_an_event_path_is_no_event() -> None:
    assert jitsi_events("events/occupant/joinedX", jitsi_payload(), JITSI_AUTH, JITSI_SECRET, NOW) == []


def test_a_jitsi_event_id_is_derived_from_kind_room_occupant_and_time_and_never_changes() -> None:
    """Event-sync sends no id; the derived one is stored, so it is pinned (a deploy must not re-record events)."""
    [event] = jitsi_events("events/occupant/joined", jitsi_payload(), JITSI_AUTH, JITSI_SECRET, NOW)
    assert event.event_id == "9cb2c5cc1ab4abcba6c0f919799f5c9e2540054d"
    without_jid = json.loads(jitsi_payload())
    del without_jid["occupant"]["occupant_jid"]
    [other] = jitsi_events("events/occupant/joined", json.dumps(without_jid).encode(), JITSI_AUTH, JITSI_SECRET, NOW)
    assert other.event_id == "dd70c15179a781db06f34cde1851f1fb387aa634"


def test_a_jitsi_leave_is_a_leave() -> None:
    [left] = jitsi_events("events/occupant/left", jitsi_payload("left"), JITSI_AUTH, JITSI_SECRET, NOW)
    assert (left.kind, left.role, left.at) == ("left", "guest", NOW)


def test_a_signed_jaas_body_without_an_event_type_records_nothing() -> None:
    payload = {key: value for key, value in jaas_payload().items() if key != "eventType"}
    assert jaas_events(*jaas(payload), JAAS_SECRET, APP_ID, NOW) == []
