"""Helpers the providers' webhook verifiers share: bounded JSON, timestamps, freshness, event ids.

A request that fails verification raises ``WebhookRejected(401)``; one that is verified but
malformed or stale raises ``WebhookRejected(400)``. Nothing from the request is echoed in either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..errors import WebhookRejected

MAX_AGE = dt.timedelta(minutes=5)


def require_fresh(at: dt.datetime, now: dt.datetime) -> None:
    """Refuse an event more than five minutes from now (a replay, or a clock far off)."""
    if abs(now - at) > MAX_AGE:
        raise WebhookRejected(400, "stale event")


def parse_json_object(body: bytes) -> Mapping[str, Any]:
    """The body as a JSON object, or 400."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, "body is not JSON") from None
    if not isinstance(payload, Mapping):
        raise WebhookRejected(400, "payload is not an object")
    return payload


def text_field(payload: Mapping[str, Any], name: str, default: str = "") -> str:
    """A field that must be text when present (a list or a number there is a malformed body: 400)."""
    value = payload.get(name, default)
    if not isinstance(value, str):
        raise WebhookRejected(400, f"{name} is not text")
    return value


def epoch(value: Any) -> dt.datetime:
    """Seconds or milliseconds since the epoch (providers use both), as an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookRejected(400, "timestamp is not a number")
    seconds = value / 1000 if value > 10**11 else value
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookRejected(400, "timestamp out of range") from None


def iso_time(value: Any, name: str) -> dt.datetime:
    """An ISO 8601 time as providers send them (``2026-03-02T10:00:00Z``, fractions allowed); UTC if it has no
    offset. Anything else is a malformed body (400)."""
    if not isinstance(value, str):
        raise WebhookRejected(400, f"{name} is not an ISO 8601 time")
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise WebhookRejected(400, f"{name} is not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def derived_event_id(*parts: str) -> str:
    """A document id for an event the provider gives no id of its own (stable across re-deliveries)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def safe_event_id(raw: Any) -> str:
    """The provider's event id as a Firestore document id: as is when plain, else hashed."""
    if not isinstance(raw, str) or not raw or len(raw) > 200:
        raise WebhookRejected(400, "event id missing or too long")
    # Firestore ids: no '/', not '.'/'..', not __x__; hash anything else that is not plain.
    plain = raw.replace("-", "").replace("_", "").isalnum() and raw.isascii()
    return raw if plain and len(raw) <= 128 else derived_event_id(raw)
