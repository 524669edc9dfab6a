"""The only module that talks to Firestore: room writes in a transaction, appointment reads, audit records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud.firestore import DELETE_FIELD, SERVER_TIMESTAMP, transactional

from .config import VideoConfig
from .rooms import Action, decide, new_room_name

APPOINTMENTS = "appointments"
ACCESS_LOG = "videoAccessLog"

Doc = Mapping[str, Any]


def room_record(config: VideoConfig) -> dict[str, Any]:
    """A new ``video`` map: a fresh room, server time, the provider and the token-free room URL."""
    name = new_room_name()
    return {
        "roomName": name,
        "assignedAt": SERVER_TIMESTAMP,
        "provider": config.provider,
        "roomUrl": config.room_url(name),
    }


def apply_room_lifecycle(
    db: Any, appointment_id: str, before: Doc | None, after: Doc | None, config: VideoConfig
) -> Action:
    """Bring the stored appointment's ``video`` in line with its status; returns what was written.

    The event alone decides whether anything could be needed (no I/O at all for the trigger's own
    write or for irrelevant updates); the write itself is decided again from the stored document,
    inside a transaction, so re-delivered, reordered and racing events converge on one room.
    """
    if decide(before, after, after) is Action.NOTHING:
        return Action.NOTHING
    ref = db.collection(APPOINTMENTS).document(appointment_id)

    @transactional
    def write_if_needed(transaction: Any) -> Action:
        snapshot = next(iter(transaction.get(ref)), None)
        stored = snapshot.to_dict() if snapshot is not None and snapshot.exists else None
        action = decide(before, after, stored)
        if action in (Action.ASSIGN, Action.REPLACE):
            transaction.update(ref, {"video": room_record(config)})
        elif action is Action.WITHDRAW:
            transaction.update(ref, {"video": DELETE_FIELD})
        return action

    result: Action = write_if_needed(db.transaction())
    return result


def read_appointment(db: Any, appointment_id: str) -> dict[str, Any] | None:
    """The appointment's fields, or None when there is no such document."""
    snapshot = db.collection(APPOINTMENTS).document(appointment_id).get()
    if not snapshot.exists:
        return None
    data: dict[str, Any] = snapshot.to_dict() or {}
    return data


def record_access(
    db: Any,
    *,
    appointment_id: str,
    uid: str | None,
    role: str | None,
    outcome: str,
    reason: str,
    expires_at: int | None = None,
) -> None:
    """Write one ``videoAccessLog`` record; it never holds a token or a secret."""
    record: dict[str, Any] = {
        "appointmentId": appointment_id,
        "uid": uid,
        "role": role,
        "outcome": outcome,
        "reason": reason,
        "at": SERVER_TIMESTAMP,
    }
    if expires_at is not None:
        record["expiresAt"] = expires_at
    db.collection(ACCESS_LOG).document().set(record)
