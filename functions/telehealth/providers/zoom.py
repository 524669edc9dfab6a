"""Zoom Video SDK: session JWTs (HS256 with the SDK secret), host for the doctor; webhooks for attendance;
sessions ended through the Video SDK REST API where its credentials are configured.

Zoom refuses a token that lives less than 30 minutes or more than 48 hours, so a Zoom token's
``exp`` is lengthened to 30 minutes where the join window would make it shorter (the window still
decides who gets a token). Recording is an account setting at Zoom, not a token switch.

Webhooks carry ``x-zm-signature: v0=<hex HMAC-SHA256 of "v0:<x-zm-request-timestamp>:<raw body>">``
keyed with the app's Secret Token (held in ``VIDEO_WEBHOOK_SECRET``; Zoom generates it, 22
characters). The ``endpoint.url_validation`` challenge is answered with the token's HMAC. Ending a
session lists the live sessions by name (``GET /v2/videosdk/sessions?type=live``) and ends each
(``PUT /v2/videosdk/sessions/<id>/status`` ``{"action": "end"}``, the method Zoom's own rivet client
uses), with a short JWT signed by the Video SDK API key and secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from ..access import Grant
from ..config import WEBHOOK_SECRET, ParamSpec, SecretSpec, VideoConfig, check_shared_secret, text
from ..errors import Misconfigured, ProviderCallFailed, WebhookRejected
from . import rest
from .base import (
    AttendanceEvent,
    Deployment,
    MeetingEnd,
    Participant,
    Provider,
    WebhookOutcome,
    WebhookReply,
    WebhookRequest,
    attendee,
)
from .events import derived_event_id, epoch, iso_time, parse_json_object, require_fresh, text_field

MIN_LIFETIME = 1800
MAX_LIFETIME = 48 * 3600
API_KEY = "VIDEO_ZOOM_API_KEY"
API_SECRET = "VIDEO_ZOOM_API_SECRET"  # noqa: S105 - the param's name, not a secret
API_BASE = "https://api.zoom.us"
# Zoom generates the webhook Secret Token itself: 22 characters (16 random bytes, base64url).
SECRET_TOKEN_MIN_BYTES = 22
API_TOKEN_SECONDS = 120
MAX_PLAIN_TOKEN = 256
MAX_PAGES = 10
_API_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class ZoomOptions:
    """Zoom's own settings: the Video SDK API key (empty: sessions are not ended)."""

    api_key: str


def _options(config: VideoConfig) -> ZoomOptions:
    options = config.options
    assert isinstance(options, ZoomOptions)
    return options


def configure(values: Mapping[str, Any], shared: Mapping[str, Any]) -> ZoomOptions:
    """Zoom needs its SDK key as the app id; the Video SDK API key, where set, is a plain key."""
    if not shared["app_id"]:
        raise Misconfigured("VIDEO_APP_ID is required for provider zoom")
    api_key = text(values, API_KEY)
    if api_key and not _API_KEY.fullmatch(api_key):
        raise Misconfigured("VIDEO_ZOOM_API_KEY must be the Video SDK API key (1-128 of A-Z a-z 0-9 _ -)")
    return ZoomOptions(api_key=api_key)


def expiry(grant: Grant) -> int:
    """Zoom's ``exp``: the usual expiry, lengthened to Zoom's 30-minute minimum where shorter."""
    return min(max(grant.issued_at + MIN_LIFETIME, grant.expires_at), grant.issued_at + MAX_LIFETIME)


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a Zoom Video SDK session: host (1) for the doctor, participant (0) for everyone else."""
    return {
        "app_key": config.app_id,
        "tpc": grant.room_name,
        "role_type": 1 if grant.role == "moderator" else 0,
        "version": 1,
        "iat": grant.issued_at,
        "exp": expiry(grant),
        "user_identity": who.identity,
    }


def hex_hmac(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256, as Zoom signs requests and the validation challenge."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, stamp: str, signature: str, secret: str) -> None:
    """Check ``x-zm-signature`` over ``v0:<timestamp>:<raw body>``."""
    if not signature or not stamp:
        raise WebhookRejected(401, "no Zoom signature")
    expected = "v0=" + hex_hmac(secret, b"v0:" + stamp.encode() + b":" + body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookRejected(401, "Zoom signature does not verify")


KINDS = {"session.user_joined": ("joined", "join_time"), "session.user_left": ("left", "leave_time")}


def _object(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    if not isinstance(value, Mapping):
        raise WebhookRejected(400, f"payload without {name}")
    return value


def events(request: WebhookRequest, deployment: Deployment) -> WebhookOutcome:
    """A Video SDK webhook: signed, fresh within five minutes; the URL-validation challenge answered."""
    secret = check_shared_secret(WEBHOOK_SECRET, deployment.secret(WEBHOOK_SECRET), SECRET_TOKEN_MIN_BYTES)
    stamp = request.header("x-zm-request-timestamp")
    verify_signature(request.body, stamp, request.header("x-zm-signature"), secret)
    if not stamp.isdigit():
        raise WebhookRejected(400, "signature timestamp is not a number")
    require_fresh(epoch(int(stamp)), request.now)
    payload = parse_json_object(request.body)
    event = text_field(payload, "event")
    inner = _object(payload, "payload")
    if event == "endpoint.url_validation":
        plain = text_field(inner, "plainToken")
        if not 0 < len(plain) <= MAX_PLAIN_TOKEN:
            raise WebhookRejected(400, "plainToken missing or too long")
        return WebhookReply({"plainToken": plain, "encryptedToken": hex_hmac(secret, plain.encode())})
    if event not in KINDS:
        return []  # session.started, session.ended and the rest: nothing to record
    kind, time_field = KINDS[event]
    session = _object(inner, "object")
    user = _object(session, "user")
    room = text_field(session, "session_name")
    session_id = text_field(session, "session_id") or text_field(session, "id")
    if not room or not session_id:
        raise WebhookRejected(400, "payload without session name or id")
    stamp_text = text_field(user, time_field)
    at = iso_time(stamp_text, time_field)
    user_id = text_field(user, "participant_uuid") or text_field(user, "id")
    event_id = derived_event_id("zoom", kind, session_id, user_id, stamp_text)
    who = attendee(text_field(user, "user_key"))
    # Zoom's session names ignore case; ours are lowercase.
    return [
        AttendanceEvent(event_id, room.lower(), "joined" if kind == "joined" else "left", who.role, at, who.guest_id)
    ]


def api_token(api_key: str, api_secret: str, now: int) -> str:
    """The Video SDK REST API's JWT: HS256, ``iss`` the API key, two minutes (one end's worth)."""
    return jwt.encode({"iss": api_key, "iat": now, "exp": now + API_TOKEN_SECONDS}, api_secret, algorithm="HS256")


def judge_failure(status: int) -> ProviderCallFailed:
    """The failure a refusal means (raised by the caller, to be retried)."""
    if status == 401:
        return ProviderCallFailed(401, "token refused: check VIDEO_ZOOM_API_KEY and VIDEO_ZOOM_API_SECRET")
    return ProviderCallFailed(status)


def live_sessions(base: str, token: str, room: str, now: int) -> list[str]:
    """The ids of the live sessions named ``room`` (none: nobody is in it, or it ended)."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    query = {
        "type": "live",
        "from": (today - dt.timedelta(days=1)).isoformat(),
        "to": today.isoformat(),
        "session_name": room,
        "page_size": "300",
    }
    found: list[str] = []
    for _page in range(MAX_PAGES):
        request = urllib.request.Request(  # noqa: S310 - the config admits only http(s) server URLs
            f"{base}/v2/videosdk/sessions?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {token}"},
        )
        status, body = rest.send(request)
        if status != 200:
            raise judge_failure(status)
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            answer = None
        sessions = answer.get("sessions", []) if isinstance(answer, Mapping) else None
        if not isinstance(sessions, list):
            raise ProviderCallFailed(200, "the session list is not readable")
        found += [
            str(item["id"])
            for item in sessions
            if isinstance(item, Mapping)
            and str(item.get("session_name")).lower() == room.lower()  # Zoom's session names ignore case
            and isinstance(item.get("id"), str)
        ]
        next_page = answer.get("next_page_token") if isinstance(answer, Mapping) else None
        if not isinstance(next_page, str) or not next_page:
            return found
        query["next_page_token"] = next_page
    raise ProviderCallFailed(200, "too many pages of live sessions")


def session_path(session_id: str) -> str:
    """A session id as a path segment: encoded, and twice where Zoom asks (it begins with / or holds //)."""
    once = urllib.parse.quote(session_id, safe="")
    return urllib.parse.quote(once, safe="") if session_id.startswith("/") or "//" in session_id else once


def end_session(base: str, token: str, session_id: str) -> None:
    """``PUT /v2/videosdk/sessions/<id>/status`` ``{"action": "end"}``; 404 means it ended meanwhile."""
    request = urllib.request.Request(  # noqa: S310 - the config admits only http(s) server URLs
        f"{base}/v2/videosdk/sessions/{session_path(session_id)}/status",
        data=json.dumps({"action": "end"}).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    status, _body = rest.send(request)
    if status not in (200, 204, 404):
        raise judge_failure(status)


def end(room: str, deployment: Deployment, now: int) -> None:
    """End every live session named after the room (there is one at most, in practice)."""
    config = deployment.config()
    options = _options(config)
    secret = check_shared_secret(API_SECRET, deployment.secret(API_SECRET))
    token = api_token(options.api_key, secret, now)
    base = config.server_api or API_BASE
    for session_id in live_sessions(base, token, room, now):
        end_session(base, token, session_id)


PROVIDER = Provider(
    name="zoom",
    algorithm="HS256",
    claims=claims,
    configure=configure,
    params=(ParamSpec(API_KEY, "str", "", "Zoom Video SDK API key; empty: sessions are not ended", exclusive=True),),
    secrets=(SecretSpec(API_SECRET, "Zoom Video SDK API secret; 'none' where not used"),),
    expires_at=expiry,
    webhook=events,
    meeting_end=MeetingEnd(end=end, enabled=lambda values: bool(str(values.get(API_KEY, "")).strip())),
)
