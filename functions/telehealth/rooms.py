"""The room lifecycle as a pure decision, and room names.

A room exists on an appointment only while it is a confirmed (or completed) video appointment, and
belongs to one schedule: a confirmed visit moved to other times is a new meeting with a new room. The
trigger calls ``decide`` twice: first on the event alone, to skip all I/O when nothing can be needed,
then inside a transaction on the stored document, which is the only state that counts.
"""

from __future__ import annotations

import base64
import enum
import secrets
from collections.abc import Mapping
from typing import Any

Doc = Mapping[str, Any]

# 20 random bytes is 160 bits; base32 makes 32 characters of [a-z2-7], safe in any URL and any provider's room names.
ROOM_NAME_BYTES = 20
ROOM_NAME_LENGTH = 32
ROOM_NAME_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")
STATUSES = ("pending", "confirmed", "cancelled", "completed")
TYPES = ("video", "in_person")
# Statuses in which an assigned room stays on the document; a completed visit keeps its room as a record.
ROOM_KEEPING_STATUSES = frozenset({"confirmed", "completed"})
# The one definition the sweep's queries come from: states whose room must go.
ROOM_LESS_STATUSES = tuple(status for status in STATUSES if status not in ROOM_KEEPING_STATUSES)
ROOM_LESS_TYPES = tuple(kind for kind in TYPES if kind != "video")
# The fields whose change makes a confirmed visit a new meeting.
SCHEDULE_FIELDS = ("startTime", "endTime")


class Action(enum.Enum):
    """What the trigger does to ``video`` for one stored state."""

    NOTHING = "nothing"
    ASSIGN = "assign"  # confirmed video appointment without a room
    REPLACE = "replace"  # the stored room was retired (seen on a room-less state, or the visit moved)
    WITHDRAW = "withdraw"  # a room on an appointment that must not have one


def new_room_name() -> str:
    """A fresh room name: 160 bits from ``secrets``, lowercase, derived from nothing."""
    return base64.b32encode(secrets.token_bytes(ROOM_NAME_BYTES)).decode("ascii").lower()


def room_of(doc: Doc | None) -> str | None:
    """The room name stored on an appointment, if any."""
    video = doc.get("video") if doc else None
    if isinstance(video, Mapping):
        name = video.get("roomName")
        if isinstance(name, str) and name:
            return name
    return None


def provider_room_of(doc: Doc | None) -> str | None:
    """The provider's id of the stored room (``video.providerRoomId``), where the provider creates rooms."""
    video = doc.get("video") if doc else None
    if isinstance(video, Mapping):
        value = video.get("providerRoomId")
        if isinstance(value, str) and value:
            return value
    return None


def room_awaiting_provider(doc: Doc | None) -> str | None:
    """The room of a confirmed video visit that is named but not yet created at the provider, else None."""
    return room_of(doc) if needs_room(doc) and provider_room_of(doc) is None else None


def needs_room(doc: Doc | None) -> bool:
    """A confirmed video appointment: it must have a room."""
    return doc is not None and doc.get("type") == "video" and doc.get("status") == "confirmed"


def may_keep_room(doc: Doc | None) -> bool:
    """A video appointment in a state where an assigned room stays."""
    return doc is not None and doc.get("type") == "video" and doc.get("status") in ROOM_KEEPING_STATUSES


def moved(before: Doc | None, after: Doc | None) -> bool:
    """A confirmed video visit whose times changed: the old room, links and stamps belong to the old slot."""
    if before is None or after is None or not (needs_room(before) and needs_room(after)):
        return False
    return any(before.get(name) != after.get(name) for name in SCHEDULE_FIELDS)


def retired_rooms(before: Doc | None, after: Doc | None) -> frozenset[str]:
    """Rooms an event shows on, or leaving for, a state that keeps no room: never valid again.

    That is the room of either side that is itself room-less (cancelled, pending, not video), the
    room of ``before`` when ``after`` is room-less (e.g. confirmed -> cancelled, or completed ->
    in_person), and the room of a confirmed visit that moved to other times.
    """
    retired = {room_of(state) for state in (before, after) if state is not None and not may_keep_room(state)}
    if (after is not None and not may_keep_room(after)) or moved(before, after):
        retired.add(room_of(before))
    return frozenset(room for room in retired if room is not None)


def decide(before: Doc | None, after: Doc | None, stored: Doc | None) -> Action:
    """What to do to ``stored`` for an event that changed ``before`` into ``after``."""
    if stored is None:
        return Action.NOTHING
    room = room_of(stored)
    # A retired room goes, whatever state the document has reached since (even one that keeps rooms,
    # like completed: from there a server could confirm it again and bring the room back).
    if room is not None and room in retired_rooms(before, after):
        return Action.REPLACE if needs_room(stored) else Action.WITHDRAW
    if needs_room(stored):
        return Action.ASSIGN if room is None else Action.NOTHING
    if may_keep_room(stored) or "video" not in stored:
        return Action.NOTHING
    return Action.WITHDRAW
