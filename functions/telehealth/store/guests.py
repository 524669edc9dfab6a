"""Invitations: ``appointments/{id}/guests/{guestId}``, and ``guestInvites/{hash}`` from a code's hash to its
invitation. Both server-written; the code itself is never stored, only its SHA-256.

A guest document holds ``kind``, ``name``, ``status`` (``invited``, then ``redeemed`` once an account is
bound; ``removed`` by the doctor or the patient; ``ended`` when the visit's room goes), ``invitedAt``,
``redeemedBy`` (the bound uid, or None), ``roomName`` (the room it admits to: a replaced room admits no
old guest), ``expiresAt`` (the join window's close), and ``redeemedAt`` / ``removedAt`` / ``removedBy`` /
``endedAt`` as they happen. An invitation is created in a transaction that counts the visit's active
guests; every later write a request makes is conditional on the guest document being unchanged since
it was read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import FailedPrecondition
from google.cloud.firestore import SERVER_TIMESTAMP, transactional
from google.cloud.firestore_v1.base_query import FieldFilter

from ..invitations import ACTIVE, ENDED, INVITED, INVITED_MARK, REDEEMED, REMOVED, Guest, may_have_guests
from ..rooms import needs_room, room_of
from .appointments import APPOINTMENTS, fields

GUESTS = "guests"
INVITES = "guestInvites"
# What create_invitation found: the invitation is stored; the visit has its guests already; or the
# visit changed since the request read it (the caller reads again and decides again).
CREATED, FULL, STALE = "created", "full", "stale"


@dataclass(frozen=True)
class Invitation:
    """A new invitation: who it is for, the room it admits to, until when, and its code's hash."""

    kind: str
    name: str
    room: str
    expires_at: int
    code_hash: str


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def guest_of(snapshot: Any) -> Guest | None:
    """A guest document as a ``Guest``, or None where it does not exist."""
    data = fields(snapshot)
    if data is None:
        return None
    expires = data.get("expiresAt")
    redeemed_by = data.get("redeemedBy")
    return Guest(
        guest_id=str(snapshot.id),
        kind=_text(data, "kind"),
        name=_text(data, "name"),
        status=_text(data, "status"),
        room=_text(data, "roomName"),
        expires_at=int(expires.timestamp()) if isinstance(expires, dt.datetime) else 0,
        redeemed_by=redeemed_by if isinstance(redeemed_by, str) and redeemed_by else None,
        read_at=getattr(snapshot, "update_time", None),
    )


def _guests(db: Any, appointment_id: str) -> Any:
    return db.collection(APPOINTMENTS).document(appointment_id).collection(GUESTS)


def find_invitation(db: Any, code_hash: str) -> tuple[str, str] | None:
    """The appointment and guest a code's hash belongs to (one read), or None for a code never issued."""
    data = fields(db.collection(INVITES).document(code_hash).get()) or {}
    appointment_id, guest_id = _text(data, "appointmentId"), _text(data, "guestId")
    return (appointment_id, guest_id) if appointment_id and guest_id else None


def read_guest(db: Any, appointment_id: str, guest_id: str) -> Guest | None:
    """One guest of an appointment (one read), or None."""
    return guest_of(_guests(db, appointment_id).document(guest_id).get())


def bound_guest(db: Any, appointment_id: str, uid: str) -> Guest | None:
    """The invitation of this appointment bound to ``uid``, whatever its status (one query, one read)."""
    query = _guests(db, appointment_id).where(filter=FieldFilter("redeemedBy", "==", uid)).limit(1)
    found = list(query.stream())
    return guest_of(found[0]) if found else None


def create_invitation(
    db: Any, appointment_id: str, invitation: Invitation, max_guests: int, now: int
) -> tuple[str, str | None]:
    """Store a new invitation and its code's lookup, if the visit still holds ``invitation.room`` while
    confirmed and has fewer than ``max_guests`` active, unexpired guests (one transaction, so two
    invitations at once cannot both take the last place), and mark the room's map ``guestsInvited`` if it
    is not yet. Returns what happened and the new guest's id."""
    appointment_ref = db.collection(APPOINTMENTS).document(appointment_id)
    guest_ref = _guests(db, appointment_id).document()
    invite_ref = db.collection(INVITES).document(invitation.code_hash)
    same_room = _guests(db, appointment_id).where(filter=FieldFilter("roomName", "==", invitation.room))
    expires = dt.datetime.fromtimestamp(invitation.expires_at, dt.UTC)

    @transactional
    def write(transaction: Any) -> str:
        stored = fields(next(iter(transaction.get(appointment_ref)), None))
        if not needs_room(stored) or room_of(stored) != invitation.room:
            return STALE
        taken = [
            guest
            for guest in (guest_of(snapshot) for snapshot in transaction.get(same_room))
            if guest is not None and guest.status in ACTIVE and guest.expires_at > now
        ]
        if len(taken) >= max_guests:
            return FULL
        transaction.create(
            guest_ref,
            {
                "kind": invitation.kind,
                "name": invitation.name,
                "status": INVITED,
                "invitedAt": SERVER_TIMESTAMP,
                "redeemedBy": None,
                "roomName": invitation.room,
                "expiresAt": expires,
            },
        )
        # expireAt: the TTL policy's field (firestore.indexes.json); the lookup is useless after it.
        transaction.create(invite_ref, {"appointmentId": appointment_id, "guestId": guest_ref.id, "expireAt": expires})
        if not may_have_guests(stored or {}):
            # In the same commit as the invitation: no guest can be bound to a room whose map lacks the mark.
            transaction.update(appointment_ref, {f"video.{INVITED_MARK}": True})
        return CREATED

    outcome: str = write(db.transaction())
    return outcome, guest_ref.id if outcome == CREATED else None


def _update_guest(db: Any, appointment_id: str, guest: Guest, changes: Mapping[str, Any]) -> bool:
    """Write to a guest document only if it is unchanged since ``guest`` was read; False when it changed."""
    ref = _guests(db, appointment_id).document(guest.guest_id)
    try:
        if guest.read_at is None:
            ref.update(dict(changes))
        else:
            ref.update(dict(changes), option=db.write_option(last_update_time=guest.read_at))
    except FailedPrecondition:
        return False
    return True


def bind(db: Any, appointment_id: str, guest: Guest, uid: str) -> bool:
    """Redeem an invitation: bind it to ``uid`` (a second account racing for it finds it changed)."""
    changes = {"status": REDEEMED, "redeemedBy": uid, "redeemedAt": SERVER_TIMESTAMP}
    return _update_guest(db, appointment_id, guest, changes)


def remove(db: Any, appointment_id: str, guest: Guest, removed_by: str) -> bool:
    """Remove a guest (``removed_by``: ``doctor`` or ``patient``); they are refused from then on."""
    changes = {"status": REMOVED, "removedAt": SERVER_TIMESTAMP, "removedBy": removed_by}
    return _update_guest(db, appointment_id, guest, changes)


def end_invitations(db: Any, appointment_id: str, room: str) -> int:
    """End every active invitation to a room the visit no longer holds (withdrawn, replaced, completed);
    returns how many. Unconditional: whatever happened to one since the query, it ends."""
    query = _guests(db, appointment_id).where(filter=FieldFilter("roomName", "==", room))
    ended = 0
    for snapshot in query.stream():
        guest = guest_of(snapshot)
        if guest is not None and guest.status in ACTIVE:
            snapshot.reference.update({"status": ENDED, "endedAt": SERVER_TIMESTAMP})
            ended += 1
    return ended
