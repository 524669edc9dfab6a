"""Attendance from provider webhooks (``appointments/{id}/attendance``) and the ended-meeting markers.

An invited guest's events count while their invitation admits them: once removed (or ended), their
joins and leaves are no longer recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from google.cloud.firestore import SERVER_TIMESTAMP, transactional
from google.cloud.firestore_v1.base_query import FieldFilter

from ..invitations import INVITEE, REDEEMED
from .appointments import APPOINTMENTS, fields
from .guests import GUESTS, guest_of

ATTENDANCE = "attendance"
MEETINGS_ENDED = "videoMeetingsEnded"
# The summary field each kind of event moves, and which way: the earliest join, the latest leave.
SUMMARY_FIELDS = {("joined", "moderator"): "doctorJoinedAt", ("joined", "guest"): "patientJoinedAt"}
# The earliest join of each invited guest, by guest id.
GUEST_SUMMARY = "guestsJoinedAt"


def appointment_with_room(db: Any, room: str) -> str | None:
    """The id of the appointment that holds this room now, if any (one indexed query, at most one read)."""
    query = db.collection(APPOINTMENTS).where(filter=FieldFilter("video.roomName", "==", room)).limit(1)
    found = list(query.stream())
    return found[0].id if found else None


def appointment_with_provider_room(db: Any, provider_room_id: str) -> tuple[str, str] | None:
    """The appointment holding this provider room now and its room name, if any (one query, one read)."""
    query = db.collection(APPOINTMENTS).where(filter=FieldFilter("video.providerRoomId", "==", provider_room_id))
    for snapshot in query.limit(1).stream():
        video = (fields(snapshot) or {}).get("video")
        room = video.get("roomName") if isinstance(video, Mapping) else None
        if isinstance(room, str) and room:
            return snapshot.id, room
    return None


# Connections one meeting end looks at, at most (two people and their reconnects, with room to spare).
MAX_CONNECTIONS = 200


def still_connected(db: Any, appointment_id: str, provider_room_id: str) -> tuple[str, ...]:
    """The connections the provider's callbacks reported joining this provider room and not leaving, sorted."""
    query = (
        db.collection(APPOINTMENTS)
        .document(appointment_id)
        .collection(ATTENDANCE)
        .where(filter=FieldFilter("providerRoomId", "==", provider_room_id))
        .limit(MAX_CONNECTIONS)
    )
    joined: set[str] = set()
    left: set[str] = set()
    for snapshot in query.stream():
        event = snapshot.to_dict() or {}
        participant = event.get("participant")
        if isinstance(participant, str) and participant:
            (left if event.get("event") == "left" else joined).add(participant)
    return tuple(sorted(joined - left))


def summarise(
    summary: Mapping[str, Any], kind: str, role: str | None, at: dt.datetime, guest_id: str | None = None
) -> dict[str, Any]:
    """The attendance summary after one event; the same whatever order the events come in."""
    updated = dict(summary)
    if kind == "joined" and role == INVITEE and guest_id:
        found = updated.get(GUEST_SUMMARY)
        joined = dict(found) if isinstance(found, Mapping) else {}
        if joined.get(guest_id) is None or at < joined[guest_id]:
            joined[guest_id] = at
        updated[GUEST_SUMMARY] = joined
        return updated
    field_name = SUMMARY_FIELDS.get((kind, role or "")) if kind == "joined" else "lastLeftAt"
    if field_name is None:
        return updated
    current = updated.get(field_name)
    earlier_wins = kind == "joined"
    if current is None or (at < current if earlier_wins else at > current):
        updated[field_name] = at
    return updated


def record_attendance(
    db: Any,
    appointment_id: str,
    room: str,
    event_id: str,
    kind: str,
    role: str | None,
    at: Any,
    *,
    participant: str = "",
    provider_room_id: str = "",
    guest_id: str | None = None,
) -> bool:
    """Store one join/leave under the appointment and fold it into ``video.attendance``, once per event id.

    In one transaction: a re-delivered event (its document exists), an event for a room the
    appointment no longer holds, and an invited guest's event once their invitation no longer admits
    them to that room change nothing. Returns whether anything was written. A provider's connection id
    (``participant``) is stored with its provider room, for ``still_connected``.
    """
    appointment_ref = db.collection(APPOINTMENTS).document(appointment_id)
    event_ref = appointment_ref.collection(ATTENDANCE).document(event_id)
    guest_ref = appointment_ref.collection(GUESTS).document(guest_id) if guest_id else None

    @transactional
    def write(transaction: Any) -> bool:
        event_snapshot = next(iter(transaction.get(event_ref)), None)
        snapshot = next(iter(transaction.get(appointment_ref)), None)
        guest = guest_of(next(iter(transaction.get(guest_ref)), None)) if guest_ref is not None else None
        if event_snapshot is not None and event_snapshot.exists:
            return False
        stored = fields(snapshot) or {}
        video = stored.get("video")
        if not isinstance(video, Mapping) or video.get("roomName") != room:
            return False
        if guest_ref is not None and (guest is None or guest.status != REDEEMED or guest.room != room):
            return False  # a removed (or unknown) guest's attendance no longer counts
        found = video.get("attendance")
        summary: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        record: dict[str, Any] = {"role": role, "event": kind, "at": at} | ({"guestId": guest_id} if guest_id else {})
        if participant:
            record |= {"participant": participant, "providerRoomId": provider_room_id}
        transaction.create(event_ref, record)
        updated = summarise(summary, kind, role, at, guest_id)
        if updated != summary:
            transaction.update(appointment_ref, {"video.attendance": updated})
        return True

    result: bool = write(db.transaction())
    return result


def meeting_already_ended(db: Any, room: str) -> bool:
    """Whether this room's meeting was ended already (so a redelivered event does not end it twice)."""
    return bool(db.collection(MEETINGS_ENDED).document(room).get().exists)


def mark_meeting_ended(db: Any, room: str, provider: str) -> None:
    """Remember that the provider ended this room's meeting (server-only; no client rule names it)."""
    db.collection(MEETINGS_ENDED).document(room).set({"provider": provider, "at": SERVER_TIMESTAMP})
