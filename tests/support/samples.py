"""Signed sample webhooks for Twilio and Zoom, built from each provider's documented format and signed the way
each documents it (written out here, not with the code under test, so a verifier bug cannot sign for itself).

- Twilio room status callbacks (twilio.com/docs/video/api/status-callbacks): a form post of AccountSid,
  RoomName, RoomSid, RoomStatus, RoomType, StatusCallbackEvent, Timestamp, SequenceNumber and, for
  participant events, ParticipantSid, ParticipantStatus, ParticipantIdentity (and ParticipantDuration
  on a disconnect). ``X-Twilio-Signature`` is base64 HMAC-SHA1, keyed with the Auth Token, of the full
  callback URL followed by each parameter's name and value, names sorted.
- Zoom Video SDK webhooks (Zoom's rivet client's ``SessionUserJoinedEvent`` and friends):
  ``{"event", "event_ts", "payload": {"account_id", "object": {"id", "session_id", "session_name",
  "session_key", "user": {"id", "name", "join_time" | "leave_time", "user_key", "participant_uuid"}}}}``,
  signed ``x-zm-signature: v0=<hex HMAC-SHA256 of "v0:<x-zm-request-timestamp>:<body>">``.
- Vonage Video session monitoring callbacks (Vonage's session monitoring guide): a JSON body
  ``{"sessionId", "projectId", "event": "connectionCreated" | "connectionDestroyed", "reason", "timestamp"
  (ms), "connection": {"id", "createdAt", "data"}}``, signed as Vonage's secure callbacks are: an HS256 JWT
  in ``Authorization`` with the signature secret, claims ``iat``, ``jti``, ``iss: "Vonage"``, ``payload_hash``
  (the body's sha256, hex), ``api_key``, ``application_id``.
- EnableX webhooks (EnableX's webhook notification guide): a raw JSON body with ``type`` (``roomdrop``
  when a session ended, ``recording``, ``transcoded``, ``file-transfer``), ``app_id``, ``room_id``,
  ``conf_num``, sent with HTTP basic auth when the project configures it; and the CDR route's answer
  (``GET /video/v2/cdr/room/<room_id>``): ``{"result": 0, "cdr": [{"cdr_id", "app_id", "conf_num",
  "room": {"room_id", "connect_dt", "disconnect_dt", ...}, "user": {"role", "name", "ref", ...}}]}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
import uuid
from typing import Any

import jwt

TWILIO_ACCOUNT = "AC" + "1f" * 16
TWILIO_API_KEY = "SK" + "2e" * 16
TWILIO_AUTH_TOKEN = "3d" * 16  # an Auth Token: 32 hex digits
TWILIO_CALLBACK = "https://europe-west1-clinic-demo.cloudfunctions.net/video_events/twilio"
ROOM_SID = "RM" + "4c" * 16
PARTICIPANT_SID = "PA" + "5b" * 16
ZOOM_SECRET_TOKEN = "R8GpGCQNSoq5xCbDL8YyNQ"  # the shape Zoom generates: 22 characters
ZOOM_ACCOUNT = "zAcc0unt1d"
ZOOM_SESSION_ID = "Mo9b4SqtQMKQ0dBZhsMvRA=="
VONAGE_APPLICATION = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
VONAGE_SECRET = "vonage-signature-secret-0123456789abcdef"  # chosen in the dashboard: 32 bytes and more
VONAGE_SESSION = "2_MX4wZjFlMmQzYy00YjVhLTY5Nzgtfn4xNzAwMDAwMDAwMDAwfn5-fg"
ENABLEX_APP_ID = "0123456789abcdef01234567"
ENABLEX_ROOM = "6419d3e2c0a3e84d2f1e5a7b"
VONAGE_CONNECTION = "c053fcc8-c681-41d5-8ec2-7a9e1434a21e"


def iso(at: dt.datetime) -> str:
    """A time as Twilio and Zoom write it: UTC, ``Z``, milliseconds for Twilio."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def twilio_params(
    event: str, room: str, at: dt.datetime, identity: str | None = "patient", **changes: Any
) -> dict[str, str]:
    """A room status callback's parameters; ``changes`` replace (or, set to None, drop) any of them."""
    params = {
        "AccountSid": TWILIO_ACCOUNT,
        "RoomName": room,
        "RoomSid": ROOM_SID,
        "RoomStatus": "in-progress",
        "RoomType": "group",
        "StatusCallbackEvent": event,
        "Timestamp": iso(at),
        "SequenceNumber": "3",
    }
    if event.startswith("participant-"):
        params |= {
            "ParticipantSid": PARTICIPANT_SID,
            "ParticipantStatus": "connected" if event == "participant-connected" else "disconnected",
        }
        if identity is not None:
            params["ParticipantIdentity"] = identity
        if event == "participant-disconnected":
            params["ParticipantDuration"] = "1200"
    params |= changes
    return {name: value for name, value in params.items() if value is not None}


def twilio_signature(url: str, params: list[tuple[str, str]] | dict[str, str], token: str = TWILIO_AUTH_TOKEN) -> str:
    """``X-Twilio-Signature`` as Twilio documents it: base64 HMAC-SHA1 of the URL and the sorted name+value pairs."""
    pairs = sorted(params.items() if isinstance(params, dict) else params)
    signed = url + "".join(name + value for name, value in pairs)
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def twilio_post(
    params: dict[str, str] | list[tuple[str, str]], url: str = TWILIO_CALLBACK, token: str = TWILIO_AUTH_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """The form body and headers of a status callback signed for ``url``."""
    body = urllib.parse.urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(url, params, token),
    }
    return body, headers


def zoom_payload(
    event: str, room: str, at: dt.datetime, user_key: str | None = "patient", **object_changes: Any
) -> dict[str, Any]:
    """A Video SDK webhook; ``object_changes`` replace fields of ``payload.object``."""
    user: dict[str, Any] = {"id": "16778240", "name": "Pat", "participant_uuid": "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"}
    user["join_time" if event == "session.user_joined" else "leave_time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if user_key is not None:
        user["user_key"] = user_key
    session: dict[str, Any] = {
        "id": ZOOM_SESSION_ID,
        "session_id": ZOOM_SESSION_ID,
        "session_name": room,
        "session_key": "",
        "user": user,
    }
    session |= object_changes
    return {
        "event": event,
        "event_ts": int(at.timestamp() * 1000),
        "payload": {"account_id": ZOOM_ACCOUNT, "object": session},
    }


def url_validation(challenge: Any = "qgg8vlvZRS6UYooatFL8Aw", at: dt.datetime | None = None) -> dict[str, Any]:
    """Zoom's ``endpoint.url_validation`` challenge."""
    when = int((at or dt.datetime.now(dt.UTC)).timestamp() * 1000)
    return {"payload": {"plainToken": challenge}, "event_ts": when, "event": "endpoint.url_validation"}


def zoom_post(
    payload: dict[str, Any] | bytes, stamp: int, secret: str = ZOOM_SECRET_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a webhook Zoom signed at ``stamp`` (seconds)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "x-zm-request-timestamp": str(stamp),
        "x-zm-signature": f"v0={digest}",
    }
    return body, headers


def vonage_payload(
    event: str, at: dt.datetime, identity: str | None = "patient", connection: str = VONAGE_CONNECTION
) -> dict[str, Any]:
    """A session monitoring callback for a connection; its data is what our token's ``connection_data`` holds
    (none on a ``connectionDestroyed`` when ``identity`` is None, as Vonage's own sample shows)."""
    data = "" if identity is None else json.dumps({"identity": identity, "name": "Pat · patient"})
    body: dict[str, Any] = {
        "sessionId": VONAGE_SESSION,
        "projectId": VONAGE_APPLICATION,
        "event": event,
        "timestamp": int(at.timestamp() * 1000),
        "connection": {"id": connection, "createdAt": int(at.timestamp() * 1000) - 50, "data": data},
    }
    if event == "connectionDestroyed":
        body["reason"] = "clientDisconnected"
    return body


def vonage_post(
    payload: dict[str, Any] | bytes,
    at: dt.datetime,
    secret: str = VONAGE_SECRET,
    application: str = VONAGE_APPLICATION,
    signed_body: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a secure callback Vonage signed at ``at`` (``signed_body``: hash another body)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    claims = {
        "iat": int(at.timestamp()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body if signed_body is None else signed_body).hexdigest(),
        "api_key": "a1b2c3d",
        "application_id": application,
    }
    token = jwt.encode(claims, secret, algorithm="HS256")
    return body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def enablex_notification(kind: str = "roomdrop", room: str = ENABLEX_ROOM, app_id: str = ENABLEX_APP_ID) -> bytes:
    """An EnableX webhook body."""
    return json.dumps({"type": kind, "app_id": app_id, "room_id": room, "conf_num": "3a4b5c6d7e8f"}).encode()


def enablex_basic(user: str, password: str) -> dict[str, str]:
    """The headers of an EnableX webhook sent with HTTP basic auth."""
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}


def enablex_cdr(
    ref: str, joined: dt.datetime, left: dt.datetime | None, room: str = ENABLEX_ROOM, app_id: str = ENABLEX_APP_ID
) -> dict[str, Any]:
    """One CDR entry: a user (``ref``: our token's ``user_ref``) in the room from ``joined`` until ``left``."""
    times = {"connect_dt": iso(joined)} | ({} if left is None else {"disconnect_dt": iso(left)})
    return {
        "trans_date": iso(joined),
        "conf_num": "3a4b5c6d7e8f",
        "call_num": "1",
        "cdr_id": hashlib.sha256(f"{ref}{joined}".encode()).hexdigest()[:24],
        "app_id": app_id,
        "room": {"room_id": room, **times, "duration": 60.0},
        "user": {"role": "moderator" if ref == "doctor" else "participant", "name": "Pat", "ref": ref},
    }
