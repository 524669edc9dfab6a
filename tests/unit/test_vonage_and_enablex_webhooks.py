"""Vonage session monitoring callbacks and EnableX's webhook, from each provider's documented format (signed or
authenticated as each documents it: tests/support/samples.py), then tampered, stale, re-addressed and malformed:
each refusal with its exact status and reason. EnableX's joins and leaves come from its CDR route (the stand-in)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from conftest import NOW
from standins import EnableX, serve
from support import samples
from support.configs import video_config
from vonage_jwt.verify_jwt import verify_signature

from telehealth.errors import Misconfigured, ProviderCallFailed
from telehealth.errors import WebhookRejected as Rejected
from telehealth.providers import build_settings, enablex, vonage
from telehealth.providers.base import AttendanceEvent, Deployment, WebhookRequest
from telehealth.providers.events import derived_event_id

MINUTE = dt.timedelta(minutes=1)
ENABLEX_KEY = "enablex-app-key-0123456789abcdefXYZ"
ENABLEX_HOOK = "enablex-webhook-password-0123456789abcdef"


def vonage_deployment(secret: str = samples.VONAGE_SECRET) -> Deployment:
    config = video_config(provider="vonage", app_id=samples.VONAGE_APPLICATION)
    return Deployment(config=lambda: config, settings=pytest.fail, secret={"VIDEO_WEBHOOK_SECRET": secret}.__getitem__)


def vonage_events(body: bytes, headers: dict[str, str], path: str = "", secret: str = samples.VONAGE_SECRET) -> Any:
    return vonage.events(WebhookRequest(path, headers, body, NOW), vonage_deployment(secret))


def signed(event: str = "connectionCreated", identity: str | None = "doctor", at: dt.datetime = NOW, **kw: Any) -> Any:
    return samples.vonage_post(samples.vonage_payload(event, at, identity), at, **kw)


# Vonage: what a signed callback records ------------------------------------------------------------------------


def test_a_signed_connection_created_is_a_join_of_the_session_by_its_connection() -> None:
    [event] = vonage_events(*signed(identity="doctor", at=NOW - MINUTE))

    assert event == AttendanceEvent(
        derived_event_id("vonage", "joined", samples.VONAGE_SESSION, samples.VONAGE_CONNECTION),
        "",
        "joined",
        "moderator",
        NOW - MINUTE,
        provider_room_id=samples.VONAGE_SESSION,
        participant=samples.VONAGE_CONNECTION,
    )
    assert event.event_id == "3e02b228cac40e3483a21e4536ff838957f28646"  # pinned: a deploy never records it twice


def test_an_invited_guests_connection_carries_their_invitation() -> None:
    [event] = vonage_events(*signed(identity="guest-g6"))
    assert (event.kind, event.role, event.guest_id) == ("joined", "invitee", "g6")


def test_a_connection_destroyed_without_data_is_a_leave_without_a_role() -> None:
    [event] = vonage_events(*signed("connectionDestroyed", identity=None))
    assert (event.kind, event.role, event.participant) == ("left", None, samples.VONAGE_CONNECTION)


@pytest.mark.parametrize(
    ("data", "role", "guest_id"),
    [
        pytest.param(json.dumps({"identity": "patient"}), "guest", None, id="the patient"),
        pytest.param(json.dumps({"identity": "guest-g7"}), "invitee", "g7", id="an invited guest"),
        pytest.param(json.dumps({"identity": "recorder"}), None, None, id="someone else"),
        pytest.param("not json", None, None, id="data that is not JSON"),
        pytest.param(json.dumps(["doctor"]), None, None, id="data that is no object"),
        pytest.param(json.dumps({"identity": ["doctor"]}), None, None, id="an identity that is no text"),
        pytest.param(None, None, None, id="no data"),
    ],
)
def test_the_role_is_the_identity_in_our_connection_data(data: Any, role: str | None, guest_id: str | None) -> None:
    who = vonage.attendee_in({"id": "c1", "data": data})
    assert (who.role, who.guest_id) == (role, guest_id)


def test_the_signer_here_signs_as_vonage_does_the_packages_own_verifier_takes_it() -> None:
    _, headers = signed()
    token = headers["Authorization"].removeprefix("Bearer ")
    assert verify_signature(token, samples.VONAGE_SECRET) is True
    assert verify_signature(token, "another-signature-secret-0123456789abc") is False


@pytest.mark.parametrize(
    "event", ["streamCreated", "streamDestroyed", "sessionCreated", "sessionDestroyed", "archiveStatus"]
)
def test_other_session_events_are_accepted_and_record_nothing(event: str) -> None:
    assert vonage_events(*signed(event)) == []


def test_a_callback_for_another_application_records_nothing() -> None:
    assert vonage_events(*signed(application="aaaaaaaa-bbbb-cccc-dddd-0123456789ab")) == []


def test_the_token_may_come_without_bearer() -> None:
    body, headers = signed()
    headers["Authorization"] = headers["Authorization"].removeprefix("Bearer ")
    assert len(vonage_events(body, headers)) == 1


# Vonage: refusals ---------------------------------------------------------------------------------------------


def other_body(body: bytes) -> bytes:
    return body.replace(b'"connectionCreated"', b'"connectionDestroyed"')


def claims_token(claims: dict[str, Any], secret: str = samples.VONAGE_SECRET) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}


BODY, HEADERS = signed()
HASH = jwt.decode(HEADERS["Authorization"][7:], samples.VONAGE_SECRET, algorithms=["HS256"])["payload_hash"]
REFUSALS = [
    pytest.param(BODY, {}, 401, "no Authorization token", id="unsigned"),
    pytest.param(BODY, {"Authorization": "Bearer "}, 401, "no Authorization token", id="an empty token"),
    pytest.param(BODY, {"Authorization": "Bearer x.y.z"}, 401, "Vonage signature does not verify", id="garbage"),
    pytest.param(
        *signed(secret="another-signature-secret-0123456789abc"),
        401,
        "Vonage signature does not verify",
        id="mis-signed",
    ),
    pytest.param(other_body(BODY), HEADERS, 401, "payload_hash is not this body's", id="a body changed after signing"),
    pytest.param(
        BODY,
        claims_token({"iat": int(NOW.timestamp()), "application_id": samples.VONAGE_APPLICATION}),
        401,
        "Vonage signature does not verify",
        id="no payload_hash claim",
    ),
    pytest.param(
        BODY,
        claims_token({"payload_hash": HASH, "application_id": samples.VONAGE_APPLICATION}),
        401,
        "Vonage signature does not verify",
        id="no iat claim",
    ),
    pytest.param(
        BODY,
        claims_token({"iat": int(NOW.timestamp()), "payload_hash": ["x"]}),
        401,
        "payload_hash is not this body's",
        id="a payload_hash that is no text",
    ),
    pytest.param(
        BODY,
        claims_token({"iat": "now", "payload_hash": HASH}),
        401,
        "Vonage signature does not verify",
        id="an iat that is no number",
    ),
    pytest.param(
        *samples.vonage_post(samples.vonage_payload("connectionCreated", NOW), NOW - 6 * MINUTE),
        400,
        "stale event",
        id="signed six minutes ago",
    ),
    pytest.param(
        *samples.vonage_post(samples.vonage_payload("connectionCreated", NOW), NOW + 6 * MINUTE),
        400,
        "stale event",
        id="signed six minutes ahead",
    ),
    pytest.param(*samples.vonage_post(b"not json", NOW), 400, "body is not JSON", id="a body that is not JSON"),
    pytest.param(*samples.vonage_post(b"[1]", NOW), 400, "payload is not an object", id="a list"),
    pytest.param(
        *samples.vonage_post({"event": ["connectionCreated"]}, NOW), 400, "event is not text", id="a list event"
    ),
    pytest.param(
        *samples.vonage_post({"event": "connectionCreated", "sessionId": "s", "connection": "c"}, NOW),
        400,
        "connection is not an object",
        id="a connection that is no object",
    ),
    pytest.param(
        *samples.vonage_post(
            {"event": "connectionCreated", "sessionId": "s", "connection": {"id": 7}, "timestamp": 1}, NOW
        ),
        400,
        "id is not text",
        id="a connection id that is no text",
    ),
    pytest.param(
        *samples.vonage_post(samples.vonage_payload("connectionCreated", NOW, connection="../../x"), NOW),
        400,
        "session or connection id missing or not plain",
        id="a connection id with a path in it",
    ),
    pytest.param(
        *samples.vonage_post(
            {"event": "connectionCreated", "sessionId": "", "connection": {"id": "c1"}, "timestamp": 1}, NOW
        ),
        400,
        "session or connection id missing or not plain",
        id="no session",
    ),
    pytest.param(
        *samples.vonage_post(
            {"event": "connectionCreated", "sessionId": "s1", "connection": {"id": "c1"}, "timestamp": "x"}, NOW
        ),
        400,
        "timestamp is not a number",
        id="a timestamp that is no number",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "why"), REFUSALS)
def test_each_bad_vonage_callback_is_refused_with_its_status_and_reason(
    body: bytes, headers: dict[str, str], status: int, why: str
) -> None:
    with pytest.raises(Rejected) as refused:
        vonage_events(body, headers)
    assert (refused.value.status, refused.value.why) == (status, why)


def test_a_vonage_callback_on_a_sub_path_is_404() -> None:
    with pytest.raises(Rejected) as refused:
        vonage_events(BODY, HEADERS, path="more")
    assert (refused.value.status, refused.value.why) == (404, "no such Vonage callback path")


@pytest.mark.parametrize("secret", ["none", "x" * 40, "short-secret"])
def test_a_weak_signature_secret_fails_closed_before_anything_is_read(secret: str) -> None:
    with pytest.raises(Misconfigured) as refused:
        vonage_events(*signed(), secret=secret)
    assert "VIDEO_WEBHOOK_SECRET" in refused.value.problem


# EnableX ------------------------------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[str]:
    EnableX.reset(samples.ENABLEX_APP_ID, ENABLEX_KEY)
    with serve(EnableX) as url:
        yield url


def enablex_deployment(url: str, hook: str = ENABLEX_HOOK) -> Deployment:
    settings = build_settings(
        video_config(provider="enablex", app_id=samples.ENABLEX_APP_ID, server_api=url), ENABLEX_KEY
    )
    return Deployment(
        config=lambda: settings.config, settings=lambda: settings, secret={"VIDEO_WEBHOOK_SECRET": hook}.__getitem__
    )


def enablex_events(url: str, body: bytes, headers: dict[str, str], path: str = "") -> list[AttendanceEvent]:
    return enablex.events(WebhookRequest(path, headers, body, NOW), enablex_deployment(url))


AUTH = samples.enablex_basic(samples.ENABLEX_APP_ID, ENABLEX_HOOK)


def test_a_room_drop_reads_the_rooms_joins_and_leaves_from_enablexs_records(api: str) -> None:
    doctor = samples.enablex_cdr("doctor", NOW - 20 * MINUTE, NOW - 2 * MINUTE)
    patient = samples.enablex_cdr("patient", NOW - 18 * MINUTE, None)  # still in, as EnableX last knew
    foreign = [
        samples.enablex_cdr("doctor", NOW, NOW, app_id="another-project"),
        samples.enablex_cdr("doctor", NOW, NOW, room="another-room"),
        {"cdr_id": "x", "app_id": samples.ENABLEX_APP_ID, "room": "not an object"},
        {**samples.enablex_cdr("patient", NOW, NOW), "cdr_id": 7},
        "not a record",
    ]
    unparsed = samples.enablex_cdr("patient", NOW, None)
    unparsed["room"]["connect_dt"] = "yesterday"
    nobody = samples.enablex_cdr("recorder", NOW - MINUTE, None)
    nobody["user"] = "not an object"
    EnableX.cdr[samples.ENABLEX_ROOM] = [doctor, patient, *foreign, unparsed, nobody]

    events = enablex_events(api, samples.enablex_notification(), AUTH)

    assert EnableX.requests == [("GET", f"/video/v2/cdr/room/{samples.ENABLEX_ROOM}")]
    assert [(e.kind, e.role, e.at, e.provider_room_id, e.room) for e in events] == [
        ("joined", "moderator", NOW - 20 * MINUTE, samples.ENABLEX_ROOM, ""),
        ("left", "moderator", NOW - 2 * MINUTE, samples.ENABLEX_ROOM, ""),
        ("joined", "guest", NOW - 18 * MINUTE, samples.ENABLEX_ROOM, ""),
        ("joined", None, NOW - MINUTE, samples.ENABLEX_ROOM, ""),
    ]
    assert events[0].event_id == derived_event_id("enablex", "joined", doctor["cdr_id"])
    assert events[1].event_id == derived_event_id("enablex", "left", doctor["cdr_id"])


def test_an_invited_guests_records_carry_their_invitation(api: str) -> None:
    EnableX.cdr[samples.ENABLEX_ROOM] = [samples.enablex_cdr("guest-g8", NOW - 5 * MINUTE, NOW - MINUTE)]
    events = enablex_events(api, samples.enablex_notification(), AUTH)
    assert [(e.kind, e.role, e.guest_id) for e in events] == [("joined", "invitee", "g8"), ("left", "invitee", "g8")]


def test_a_cdr_answer_with_its_result_as_text_is_taken(api: str) -> None:
    EnableX.cdr_answer = (200, {"result": "0", "cdr": [samples.enablex_cdr("doctor", NOW, None)]})
    assert [e.kind for e in enablex_events(api, samples.enablex_notification(), AUTH)] == ["joined"]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param((500, {"result": 5000}), id="a server error"),
        pytest.param((200, {"result": 1404, "cdr": []}), id="a refusal"),
        pytest.param((200, {"result": 0, "cdr": {"a": 1}}), id="records that are no list"),
        pytest.param((200, {"result": 0}), id="no records"),
    ],
)
def test_records_enablex_cannot_give_raise_for_a_retry(api: str, answer: tuple[int, dict[str, Any]]) -> None:
    EnableX.cdr_answer = answer
    with pytest.raises(ProviderCallFailed) as raised:
        enablex_events(api, samples.enablex_notification(), AUTH)
    assert (raised.value.status, raised.value.why) == (
        answer[0],
        "EnableX did not answer the room's call detail records",
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(samples.enablex_notification("recording"), id="a recording"),
        pytest.param(samples.enablex_notification("file-transfer"), id="a file transfer"),
        pytest.param(samples.enablex_notification(app_id="another-project"), id="another project's room"),
    ],
)
def test_other_notifications_record_nothing_and_read_nothing(api: str, body: bytes) -> None:
    assert enablex_events(api, body, AUTH) == []
    assert EnableX.requests == []


ENABLEX_REFUSALS = [
    pytest.param(samples.enablex_notification(), {}, 401, "no Authorization header", id="unauthenticated"),
    pytest.param(
        samples.enablex_notification(),
        samples.enablex_basic(samples.ENABLEX_APP_ID, "another-password-0123456789abcdef"),
        401,
        "EnableX webhook credentials do not match",
        id="a wrong password",
    ),
    pytest.param(
        samples.enablex_notification(),
        samples.enablex_basic("another-user", ENABLEX_HOOK),
        401,
        "EnableX webhook credentials do not match",
        id="a wrong user",
    ),
    pytest.param(b"{", AUTH, 400, "body is not JSON", id="not JSON"),
    pytest.param(b'{"type": ["roomdrop"]}', AUTH, 400, "type is not text", id="a list type"),
    pytest.param(
        samples.enablex_notification(room="../../rooms"), AUTH, 400, "room_id missing or not plain", id="a path"
    ),
    pytest.param(
        json.dumps({"type": "roomdrop", "app_id": samples.ENABLEX_APP_ID}).encode(),
        AUTH,
        400,
        "room_id missing or not plain",
        id="no room",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "why"), ENABLEX_REFUSALS)
def test_each_bad_enablex_webhook_is_refused_with_its_status_and_reason_before_enablex_is_asked(
    api: str, body: bytes, headers: dict[str, str], status: int, why: str
) -> None:
    with pytest.raises(Rejected) as refused:
        enablex_events(api, body, headers)
    assert (refused.value.status, refused.value.why) == (status, why)
    assert EnableX.requests == []


def test_an_enablex_webhook_on_a_sub_path_is_404(api: str) -> None:
    with pytest.raises(Rejected) as refused:
        enablex_events(api, samples.enablex_notification(), AUTH, path="x")
    assert (refused.value.status, refused.value.why) == (404, "no such EnableX webhook path")


def test_a_weak_enablex_webhook_password_fails_closed(api: str) -> None:
    request = WebhookRequest("", samples.enablex_basic(samples.ENABLEX_APP_ID, "none"), b"{}", NOW)
    with pytest.raises(Misconfigured):
        enablex.events(request, enablex_deployment(api, hook="none"))
