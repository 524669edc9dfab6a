"""What an invitation is: its kinds and states, its code (only the hash is ever stored), and when it admits
its guest to a visit. Pure: the clock is a parameter.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .rooms import needs_room, room_of

KINDS = ("interpreter", "caregiver")
INVITED, REDEEMED, REMOVED, ENDED = "invited", "redeemed", "removed", "ended"
# States that hold a place among the visit's guests.
ACTIVE = (INVITED, REDEEMED)
# The role audit records and attendance give an invited guest: neither "moderator" (the doctor) nor
# "guest" (the patient, whose token role it is).
INVITEE = "invitee"
# 24 random bytes from ``secrets``: 192 bits, 32 URL-safe characters.
CODE_BYTES = 24
# What a code can look like (the format is public; a well-formed wrong code is just not found).
CODE = re.compile(r"[A-Za-z0-9_-]{16,128}")


# The appointment's mark that it has had an invitation (``video.guestsInvited``), set with the first one.
# Only a visit that has it can have a bound guest, so a stranger's join elsewhere looks for none.
INVITED_MARK = "guestsInvited"


def may_have_guests(appointment: Mapping[str, Any]) -> bool:
    """Whether the appointment's current room has had an invitation (its ``video`` map holds the mark)."""
    video = appointment.get("video")
    return isinstance(video, Mapping) and video.get(INVITED_MARK) is True


def new_code() -> str:
    """A fresh invitation code, derived from nothing."""
    return secrets.token_urlsafe(CODE_BYTES)


def code_hash(code: str) -> str:
    """What is stored of a code: its SHA-256 in hex. A plain hash is enough for 192 random bits."""
    return hashlib.sha256(code.encode()).hexdigest()


def is_code(value: Any) -> bool:
    """A well-formed code (checked before anything is read)."""
    return isinstance(value, str) and CODE.fullmatch(value) is not None


@dataclass(frozen=True)
class Guest:
    """One invitation as stored, and when it was read (the precondition of a write that follows)."""

    guest_id: str
    kind: str
    name: str
    status: str
    room: str
    expires_at: int  # epoch seconds
    redeemed_by: str | None
    read_at: Any = None


def admits(guest: Guest, appointment: Mapping[str, Any], now: int) -> bool:
    """An invitation lets its guest in while it is active, unexpired, and for the room the visit holds now
    (a withdrawn or replaced room, or a visit no longer confirmed, admits no old guest)."""
    return (
        guest.status in ACTIVE
        and now < guest.expires_at
        and needs_room(appointment)
        and guest.room == room_of(appointment)
    )


def admitted_guest(guest: Guest | None, appointment: Mapping[str, Any], now: int) -> Guest | None:
    """The caller's bound invitation, while it admits them to this visit; else None (a stranger)."""
    if guest is None or guest.status != REDEEMED or not admits(guest, appointment, now):
        return None
    return guest
