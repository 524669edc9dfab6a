"""The only module that talks to Firestore: room writes in a transaction, appointment reads, audit records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import FailedPrecondition
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


@dataclass(frozen=True)
class RoomWrite:
    """What the trigger did for one event, and how: ``via`` is ``event``, ``precondition`` or ``transaction``."""

    action: Action
    via: str


def video_change(action: Action, config: VideoConfig) -> dict[str, Any]:
    """The one field update an action makes: a fresh ``video`` map, or its deletion."""
    if action is Action.WITHDRAW:
        return {"video": DELETE_FIELD}
    return {"video": room_record(config)}


def apply_room_lifecycle(
    db: Any,
    appointment_id: str,
    before: Doc | None,
    after: Doc | None,
    config: VideoConfig,
    after_update_time: Any = None,
) -> RoomWrite:
    """Bring the stored appointment's ``video`` in line with its status; returns what was written, and how.

    1. The event alone decides whether anything could be needed: the trigger's own write, replays of
       it and irrelevant updates end here with no read and no write.
    2. If the event says when ``after`` was written, one write with that update time as precondition:
       it lands only if the stored document is still exactly ``after``, so the event's decision holds.
    3. Otherwise, or if the document has moved on since, decide again from the stored document inside
       a transaction; so re-delivered, reordered and racing events converge on one room.
    """
    planned = decide(before, after, after)
    if planned is Action.NOTHING:
        return RoomWrite(Action.NOTHING, "event")
    ref = db.collection(APPOINTMENTS).document(appointment_id)
    if after_update_time is not None:
        try:
            ref.update(video_change(planned, config), option=db.write_option(last_update_time=after_update_time))
        except FailedPrecondition:
            pass  # written again since this event: the stored state decides, below
        else:
            return RoomWrite(planned, "precondition")

    @transactional
    def write_if_needed(transaction: Any) -> Action:
        snapshot = next(iter(transaction.get(ref)), None)
        stored = snapshot.to_dict() if snapshot is not None and snapshot.exists else None
        action = decide(before, after, stored)
        if action is not Action.NOTHING:
            transaction.update(ref, video_change(action, config))
        return action

    result: Action = write_if_needed(db.transaction())
    return RoomWrite(result, "transaction")


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
