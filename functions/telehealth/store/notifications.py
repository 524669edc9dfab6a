"""Users' notification settings and devices, in-app notifications, mail for the Trigger Email extension, and
the send log (``videoNotificationLog``) that makes each send happen once and records it without its content.

Every send has a deterministic id (``send_id``). A Firestore channel (in-app, mail) creates its document
under that id, so a second delivery of the same task finds it and writes nothing; a channel outside
Firestore (push, SMS) first claims its log record (create-only), sends, then records the outcome, and
gives the claim back only when the send failed (so the task's retry may try again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from google.api_core.exceptions import Conflict
from google.cloud.firestore import SERVER_TIMESTAMP

from .appointments import fields

USERS = "users"
NOTIFICATIONS = "notifications"
DEVICES = "devices"
NOTIFICATION_LOG = "videoNotificationLog"
# Push goes to at most this many of a user's devices (FCM's send_each takes 500; a person has a few).
MAX_DEVICES = 20
SENDING = "sending"


def read_profile(db: Any, uid: str) -> dict[str, Any]:
    """``users/{uid}`` (locale, time zone, opt-outs), or empty where the user has none."""
    return fields(db.collection(USERS).document(uid).get()) or {}


def devices(db: Any, uid: str) -> list[tuple[str, bool]]:
    """The user's registered app instances (``users/{uid}/devices/{id}``): each id, and whether it is a
    legacy registration token (``kind: "token"``) rather than a Firebase Installation ID."""
    found = db.collection(USERS).document(uid).collection(DEVICES).limit(MAX_DEVICES).stream()
    return [(snapshot.id, (snapshot.to_dict() or {}).get("kind") == "token") for snapshot in found]


def remove_devices(db: Any, uid: str, tokens: list[str]) -> None:
    """Forget devices FCM reported as unregistered (the app registers again when it next runs)."""
    devices = db.collection(USERS).document(uid).collection(DEVICES)
    for token in tokens:
        devices.document(token).delete()


def _log_ref(db: Any, send_id: str, channel: str) -> Any:
    return db.collection(NOTIFICATION_LOG).document(f"{send_id}-{channel}")


def _record(audit: Mapping[str, Any], channel: str, outcome: str, now: int, retention_days: int) -> dict[str, Any]:
    return {
        **audit,
        "channel": channel,
        "outcome": outcome,
        "at": SERVER_TIMESTAMP,
        "expireAt": dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(days=retention_days),
    }


def log_outcome(
    db: Any, send_id: str, channel: str, audit: Mapping[str, Any], outcome: str, *, now: int, retention_days: int
) -> bool:
    """Record what one channel did for one send (once: False when it was recorded already)."""
    try:
        _log_ref(db, send_id, channel).create(_record(audit, channel, outcome, now, retention_days))
    except Conflict:
        return False
    return True


def _create_once(ref: Any, data: Mapping[str, Any]) -> bool:
    try:
        ref.create(dict(data))
    except Conflict:
        return False
    return True


def add_in_app(db: Any, uid: str, send_id: str, notification: Mapping[str, Any]) -> bool:
    """``users/{uid}/notifications/{send_id}``, unread; False when this send was made already."""
    ref = db.collection(USERS).document(uid).collection(NOTIFICATIONS).document(send_id)
    return _create_once(ref, {**notification, "at": SERVER_TIMESTAMP, "read": False})


def add_mail(db: Any, collection: str, send_id: str, mail: Mapping[str, Any]) -> bool:
    """A document for the Trigger Email extension (``to``, ``message``, ...); False when already queued."""
    return _create_once(db.collection(collection).document(send_id), mail)


def claim(db: Any, send_id: str, channel: str, audit: Mapping[str, Any], *, now: int, retention_days: int) -> bool:
    """Take the right to make this send on a channel outside Firestore; False when it was taken already."""
    return _create_once(_log_ref(db, send_id, channel), _record(audit, channel, SENDING, now, retention_days))


def settle(db: Any, send_id: str, channel: str, outcome: str, counts: Mapping[str, int]) -> None:
    """A claimed send's outcome (and counts, e.g. devices reached and pruned), never its content."""
    _log_ref(db, send_id, channel).update({"outcome": outcome, **counts})


def release(db: Any, send_id: str, channel: str) -> None:
    """Give a claim back after a failed send, so the task's next attempt can make it."""
    _log_ref(db, send_id, channel).delete()
