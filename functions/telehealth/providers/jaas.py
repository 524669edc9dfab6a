"""8x8 Jitsi as a Service: RS256 tokens with ``kid`` ``<AppID>/<key id>``, and signed attendance webhooks.

Rooms live under the AppID (``https://8x8.vc/<AppID>/<room>``). Webhooks carry
``X-Jaas-Signature: t=<timestamp>,v1=<base64 HMAC-SHA256 of "<t>.<body>">`` with the webhook
secret; the header may hold several ``v1`` values (any that matches will do) and other schemes,
which are ignored so nothing can be downgraded. JaaS has no API to end a meeting. A finished
recording (``RECORDING_UPLOADED``) is kept by JaaS for 24 hours behind ``data.preAuthenticatedLink``;
the event hands that link on, for the backend to copy the file into its own bucket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import CAPTURE_FEATURES, WEBHOOK_SECRET, ParamSpec, VideoConfig, check_shared_secret, text
from ..errors import Misconfigured, WebhookRejected
from .base import (
    AttendanceEvent,
    Deployment,
    Participant,
    Provider,
    RecordingEvent,
    WebhookRequest,
    attendee,
)
from .events import epoch, parse_json_object, require_fresh, safe_event_id, text_field
from .jitsi import jitsi_context


def configure(values: Mapping[str, Any], shared: Mapping[str, Any]) -> str:
    """Check JaaS's params: the AppID and the API key id (without the ``AppID/`` prefix); returns the key id."""
    if not shared["app_id"]:
        raise Misconfigured("VIDEO_APP_ID is required for provider jaas")
    key_id = text(values, "VIDEO_KEY_ID")
    if not key_id:
        raise Misconfigured("VIDEO_KEY_ID (the JaaS API key id) is required for provider jaas")
    if "/" in key_id:
        raise Misconfigured("VIDEO_KEY_ID is the key id alone, without the AppID/ prefix")
    return key_id


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for 8x8 JaaS."""
    return {
        "iss": "chat",
        "aud": "jitsi",
        "sub": config.app_id,
        "room": grant.room_name.lower(),
        "iat": grant.issued_at,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "context": jitsi_context(grant, who, grant.features),
    }


KINDS = {"PARTICIPANT_JOINED": "joined", "PARTICIPANT_LEFT": "left"}


def verify_signature(body: bytes, signature: str, secret: str) -> str:
    """Check the ``X-Jaas-Signature`` header; returns its timestamp."""
    pairs = [item.strip().split("=", 1) for item in signature.split(",") if "=" in item]
    stamps = [value for name, value in pairs if name == "t"]
    given = [value for name, value in pairs if name == "v1"]
    if len(stamps) != 1 or not stamps[0] or not given:
        raise WebhookRejected(401, "no JaaS signature")
    stamp = stamps[0]
    expected = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest())
    if not any(hmac.compare_digest(expected, value.encode()) for value in given):
        raise WebhookRejected(401, "JaaS signature does not verify")
    return stamp


def recording_uploaded(payload: Mapping[str, Any], data: Mapping[str, Any], room: str) -> RecordingEvent:
    """``RECORDING_UPLOADED``: the recording's link, and when it started and ended (milliseconds)."""
    link = text_field(data, "preAuthenticatedLink")
    if not link:
        raise WebhookRejected(400, "recording event without a link")
    session = data.get("recordingSessionId") or payload.get("idempotencyKey")
    started, ended = data.get("startTimestamp"), data.get("endTimestamp")
    return RecordingEvent(
        event_id=safe_event_id(payload.get("idempotencyKey")),
        room=room,
        kind="uploaded",
        provider_recording_id=safe_event_id(session),
        at=epoch(payload.get("timestamp")),
        started_at=None if started is None else epoch(started),
        ended_at=None if ended is None else epoch(ended),
        link=link,
    )


def events(request: WebhookRequest, deployment: Deployment) -> list[AttendanceEvent | RecordingEvent]:
    """A JaaS webhook: signed, fresh within five minutes, for this AppID."""
    secret = check_shared_secret(WEBHOOK_SECRET, deployment.secret(WEBHOOK_SECRET))
    stamp = verify_signature(request.body, request.header("X-Jaas-Signature"), secret)
    if not stamp.isdigit():
        raise WebhookRejected(400, "signature timestamp is not a number")
    require_fresh(epoch(int(stamp)), request.now)
    payload = parse_json_object(request.body)
    event_type = text_field(payload, "eventType")
    kind = KINDS.get(event_type)
    if kind is None and event_type != "RECORDING_UPLOADED":
        return []
    fqn, data = payload.get("fqn"), payload.get("data")
    if not isinstance(fqn, str) or "/" not in fqn or not isinstance(data, Mapping):
        raise WebhookRejected(400, "payload without fqn or data")
    tenant, room = fqn.split("/", 1)
    if tenant != deployment.config().app_id:
        return []  # another AppID's room: not ours to record
    if kind is None:
        return [recording_uploaded(payload, data, room.lower())]
    at = epoch(payload.get("timestamp"))
    who = attendee(data.get("id"))
    event_id = safe_event_id(payload.get("idempotencyKey"))
    return [
        AttendanceEvent(event_id, room.lower(), "joined" if kind == "joined" else "left", who.role, at, who.guest_id)
    ]


PROVIDER = Provider(
    name="jaas",
    algorithm="RS256",
    claims=claims,
    configure=configure,
    params=(ParamSpec("VIDEO_KEY_ID", "str", "", "JaaS API key id (without the AppID/ prefix)"),),
    default_domain="8x8.vc",
    capture_features=frozenset(CAPTURE_FEATURES),
    headers=lambda config: {"kid": f"{config.app_id}/{config.options}"},
    room_url=lambda config, room: f"https://{config.domain}/{config.app_id}/{room}",
    webhook=events,
)
