"""Provider webhooks, verified and reduced to attendance events. Pure: the clock and the keys are parameters.

- LiveKit: the ``Authorization`` JWT (signed with the API key/secret, carrying the body's sha256),
  checked by livekit-api's own ``WebhookReceiver``.
- JaaS: ``X-Jaas-Signature: t=<timestamp>,v1=<base64 HMAC-SHA256 of "<t>.<body>">`` with the webhook secret.
- Self-hosted Jitsi (jitsi-contrib event_sync): ``Authorization: Bearer <webhook secret>`` from its
  ``api_headers``; the event is in the path (``/events/occupant/joined``) and the body.

A request that fails verification raises ``Rejected(401)``; one that is verified but malformed or
stale raises ``Rejected(400)``. Nothing from the request is echoed in either.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_BODY_BYTES = 64 * 1024
MAX_AGE = dt.timedelta(minutes=5)
# Our tokens name participants by role, never by person (tokens.IDENTITIES).
ROLE_OF_IDENTITY = {"doctor": "moderator", "patient": "guest"}

Kind = Literal["joined", "left"]


class Rejected(Exception):
    """The request is refused with ``status``; ``why`` is for the server log only (no request data in it)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


@dataclass(frozen=True)
class AttendanceEvent:
    """Someone joined or left a room, as a provider reported it."""

    event_id: str
    room: str
    kind: Kind
    role: str | None  # "moderator" / "guest" for our identities; None for anyone else (a recorder, a bot)
    at: dt.datetime


def _fresh(at: dt.datetime, now: dt.datetime) -> None:
    if abs(now - at) > MAX_AGE:
        raise Rejected(400, "stale event")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not JSON") from None


def _epoch(value: Any) -> dt.datetime:
    """Seconds or milliseconds since the epoch (providers use both), as an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(400, "timestamp is not a number")
    seconds = value / 1000 if value > 10**11 else value
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejected(400, "timestamp out of range") from None


def _event_id(*parts: str) -> str:
    """A document id for an event the provider gives no id of its own (stable across re-deliveries)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _safe_id(raw: Any) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise Rejected(400, "event id missing or too long")
    # Firestore ids: no '/', not '.'/'..', not __x__; hash anything else that is not plain.
    plain = raw.replace("-", "").replace("_", "").isalnum() and raw.isascii()
    return raw if plain and len(raw) <= 128 else _event_id(raw)


LIVEKIT_KINDS: dict[str, Kind] = {
    "participant_joined": "joined",
    "participant_left": "left",
    "participant_connection_aborted": "left",
}


def livekit_events(
    body: bytes, authorization: str, api_key: str, api_secret: str, now: dt.datetime
) -> list[AttendanceEvent]:
    """A LiveKit webhook, verified with livekit-api's WebhookReceiver (token signature and body hash)."""
    from livekit.api import TokenVerifier, WebhookReceiver  # imported here: only LiveKit deployments need it

    if not authorization:
        raise Rejected(401, "no Authorization header")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    try:
        event = WebhookReceiver(TokenVerifier(api_key, api_secret)).receive(text, authorization.removeprefix("Bearer "))
    except Exception:  # noqa: BLE001 - the receiver raises bare Exception for a bad hash; any failure is a 401
        raise Rejected(401, "LiveKit signature or body hash does not verify") from None
    kind = LIVEKIT_KINDS.get(event.event)
    if kind is None:
        return []
    at = _epoch(event.created_at)
    _fresh(at, now)
    if not event.room.name:
        raise Rejected(400, "event without a room")
    identity = event.participant.identity
    return [AttendanceEvent(_safe_id(event.id), event.room.name, kind, ROLE_OF_IDENTITY.get(identity), at)]


JAAS_KINDS: dict[str, Kind] = {"PARTICIPANT_JOINED": "joined", "PARTICIPANT_LEFT": "left"}


def jaas_events(body: bytes, signature: str, secret: str, app_id: str, now: dt.datetime) -> list[AttendanceEvent]:
    """A JaaS webhook: a ``v1`` signature over ``<t>.<body>``, fresh within five minutes, for this AppID.

    The header holds one timestamp and one or more signatures (8x8: ``t=…,v1=…[,v1=…]``; other schemes
    are ignored, so no downgrade); any ``v1`` that matches will do.
    """
    pairs = [item.strip().split("=", 1) for item in signature.split(",") if "=" in item]
    stamps = [value for name, value in pairs if name == "t"]
    given = [value for name, value in pairs if name == "v1"]
    if len(stamps) != 1 or not stamps[0] or not given or not secret:
        raise Rejected(401, "no JaaS signature")
    stamp = stamps[0]
    expected = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest())
    if not any(hmac.compare_digest(expected, value.encode()) for value in given):
        raise Rejected(401, "JaaS signature does not verify")
    if not stamp.isdigit():
        raise Rejected(400, "signature timestamp is not a number")
    _fresh(_epoch(int(stamp)), now)
    payload = _json(body)
    if not isinstance(payload, Mapping):
        raise Rejected(400, "payload is not an object")
    kind = JAAS_KINDS.get(payload.get("eventType", ""))
    if kind is None:
        return []
    fqn, data = payload.get("fqn"), payload.get("data")
    if not isinstance(fqn, str) or "/" not in fqn or not isinstance(data, Mapping):
        raise Rejected(400, "payload without fqn or data")
    tenant, room = fqn.split("/", 1)
    if tenant != app_id:
        return []  # another AppID's room: not ours to record
    at = _epoch(payload.get("timestamp"))
    identity = data.get("id")
    return [
        AttendanceEvent(
            _safe_id(payload.get("idempotencyKey")), room.lower(), kind, ROLE_OF_IDENTITY.get(str(identity)), at
        )
    ]


JITSI_PATHS: dict[str, Kind] = {"events/occupant/joined": "joined", "events/occupant/left": "left"}


def jitsi_events(path: str, body: bytes, authorization: str, secret: str, now: dt.datetime) -> list[AttendanceEvent]:
    """A jitsi-contrib event_sync post: the shared secret in ``Authorization``, the event in the path."""
    given = authorization.removeprefix("Bearer ").encode()
    if not secret or not hmac.compare_digest(given, secret.encode()):
        raise Rejected(401, "event-sync secret does not match")
    kind = JITSI_PATHS.get(path.strip("/"))
    payload = _json(body)
    if kind is None:
        return []  # room created/destroyed: nothing to record
    occupant = payload.get("occupant") if isinstance(payload, Mapping) else None
    room = payload.get("room_name") if isinstance(payload, Mapping) else None
    if not isinstance(occupant, Mapping) or not isinstance(room, str) or not room:
        raise Rejected(400, "payload without room or occupant")
    at = _epoch(occupant.get("joined_at" if kind == "joined" else "left_at"))
    _fresh(at, now)
    jid = str(occupant.get("occupant_jid", ""))
    event_id = _event_id("jitsi", kind, room, jid, str(int(at.timestamp())))
    return [AttendanceEvent(event_id, room.lower(), kind, ROLE_OF_IDENTITY.get(str(occupant.get("id"))), at)]
