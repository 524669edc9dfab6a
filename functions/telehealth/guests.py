"""Guests: an interpreter or a caregiver in the visit. The doctor invites (``invite_guest``), the account that
opens the link is bound to the invitation (``redeem_invite``), the doctor or the patient removes a guest
(``remove_guest``); the join lets a bound guest in (``join``).

Each passes the gate every callable passes and leaves one audit record naming the invitation, never its
code or the guest's name. The code exists only in the doctor's answer and the link; the store keeps its
SHA-256. Free of the functions SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .access import MIN_TOKEN_SECONDS, JoinWindow, is_appointment_id, join_window
from .config import VideoConfig
from .errors import AppointmentNotFound, InvalidArgument, InvitationNotFound, NotJoinable
from .gate import Caller, Granted, Policy, Visit, serve
from .invitations import ENDED, KINDS, REMOVED, Guest, admits, code_hash, is_code, new_code
from .rooms import room_of
from .store import guests
from .store.guests import FULL, STALE, Invitation
from .tokens import clean_display_name

# The longest invited name (its label follows it in the meeting: "Ana · interpreter").
MAX_NAME = 60
# Longer than this is not a name; refused before it is cleaned.
MAX_RAW_NAME = 1000


def field_of(data: Any, name: str) -> Any:
    """A field of the request payload, or None when the payload is not an object."""
    return data.get(name) if isinstance(data, Mapping) else None


def parse_kind(data: Any) -> str:
    """``kind``: ``interpreter`` or ``caregiver``."""
    kind = field_of(data, "kind")
    if kind not in KINDS:
        raise InvalidArgument("kind")
    return str(kind)


def parse_name(data: Any) -> str:
    """``name``: the guest's name as the doctor gives it, cleaned (control and format characters gone)."""
    raw = field_of(data, "name")
    if not isinstance(raw, str) or len(raw) > MAX_RAW_NAME:
        raise InvalidArgument("name")
    name = clean_display_name(raw)  # cut at 80 characters: longer than MAX_NAME either way
    if name is None or len(name) > MAX_NAME:
        raise InvalidArgument("name")
    return name


def check_invitation_fields(data: Any) -> None:
    """Both fields of an invitation, before anything is read."""
    parse_kind(data)
    parse_name(data)


def check_code(data: Any) -> None:
    """``inviteCode``: the code's form (a well-formed wrong code is ``not-found``, like any other)."""
    if not is_code(field_of(data, "inviteCode")):
        raise InvalidArgument("inviteCode")


def check_guest_id(data: Any) -> None:
    """``guestId``: a document id."""
    if not is_appointment_id(field_of(data, "guestId")):
        raise InvalidArgument("guestId")


def open_for_invitations(appointment: Mapping[str, Any], now: int, config: VideoConfig) -> JoinWindow:
    """The visit's join window, if guests may be invited now: a confirmed video visit with its room whose
    window has not closed (it may not have opened yet: the doctor invites ahead)."""
    if appointment.get("type") != "video":
        raise NotJoinable("not_video")
    if appointment.get("status") != "confirmed":
        raise NotJoinable("not_confirmed")
    if room_of(appointment) is None:
        raise NotJoinable("room_not_ready")
    window = join_window(appointment, config)
    if window is None:
        raise NotJoinable("bad_schedule")
    if now > window.closes_at - MIN_TOKEN_SECONDS:
        raise NotJoinable("too_late", closesAt=window.closes_at)
    return window


def invite_url(config: VideoConfig, code: str) -> str | None:
    """The link for the guest: the clinic's join page with the code in the fragment (browsers send no
    fragment to any server, so the code stays out of every access log and Referer); None without a page."""
    return f"{config.join_page_url}#invite={code}" if config.join_page_url else None


def invite_step(data: Any) -> Callable[[Visit], Granted | None]:
    """The doctor's invitation: a place among the visit's guests, and a new code for it."""

    def step(visit: Visit) -> Granted | None:
        kind, name = parse_kind(data), parse_name(data)
        if visit.appointment is None or visit.role != "moderator":
            raise AppointmentNotFound()
        config = visit.settings.config
        window = open_for_invitations(visit.appointment, visit.now, config)
        code = new_code()
        invitation = Invitation(kind, name, str(room_of(visit.appointment)), window.closes_at, code_hash(code))
        outcome, guest_id = guests.create_invitation(
            visit.db, visit.appointment_id, invitation, config.max_guests, visit.now
        )
        if outcome == STALE:
            return None  # the visit changed since it was read: read again, decide again
        if outcome == FULL:
            raise NotJoinable("guest_limit", maxGuests=config.max_guests)
        answer = {
            "guestId": guest_id,
            "inviteCode": code,
            "inviteUrl": invite_url(config, code),
            "expiresAt": window.closes_at,
        }
        return Granted(answer, "guest_invited", guest_id=guest_id)

    return step


def refusal_for(guest: Guest, appointment: Mapping[str, Any], uid: str, now: int) -> InvitationNotFound | None:
    """Why this account may not use this invitation now, for the audit (the caller sees only not-found)."""
    if uid in (appointment.get("patientId"), appointment.get("doctorId")):
        return InvitationNotFound("invite_participant")
    if guest.redeemed_by not in (None, uid):
        return InvitationNotFound("invite_taken")
    if guest.status == REMOVED:
        return InvitationNotFound("invite_removed")
    if now >= guest.expires_at:
        return InvitationNotFound("invite_expired")
    if guest.status == ENDED or not admits(guest, appointment, now):
        return InvitationNotFound("invite_ended")
    return None


def redeem_step(visit: Visit) -> Granted | None:
    """Bind the invitation to the caller's account, once; the same account may open its link again."""
    guest = guests.read_guest(visit.db, visit.appointment_id, str(visit.found))
    if visit.appointment is None or guest is None:
        raise InvitationNotFound()
    refusal = refusal_for(guest, visit.appointment, visit.caller.uid, visit.now)
    window = join_window(visit.appointment, visit.settings.config)
    if refusal is not None or window is None:
        raise refusal or InvitationNotFound("invite_ended")
    if guest.redeemed_by is None:
        if guests.bound_guest(visit.db, visit.appointment_id, visit.caller.uid) is not None:
            raise InvitationNotFound("already_a_guest")  # one invitation per account and visit
        if not guests.bind(visit.db, visit.appointment_id, guest, visit.caller.uid):
            return None  # another account (or a removal) got there first: read again, decide again
    answer = {
        "appointmentId": visit.appointment_id,
        "guestId": guest.guest_id,
        "kind": guest.kind,
        "opensAt": window.opens_at,
        "expiresAt": guest.expires_at,
    }
    return Granted(answer, "invite_redeemed", guest_id=guest.guest_id)


def locate_invitation(db: Any, data: Any) -> tuple[str, str]:
    """The appointment and guest a code belongs to (one read of its hash), or not-found."""
    found = guests.find_invitation(db, code_hash(str(field_of(data, "inviteCode"))))
    if found is None:
        raise InvitationNotFound()
    return found


def remove_step(data: Any) -> Callable[[Visit], Granted | None]:
    """The doctor's or the patient's removal of a guest; removing one already gone changes nothing."""
    guest_id = str(field_of(data, "guestId"))

    def step(visit: Visit) -> Granted | None:
        if visit.appointment is None or visit.role is None:
            raise AppointmentNotFound()
        guest = guests.read_guest(visit.db, visit.appointment_id, guest_id)
        if guest is None:
            raise InvitationNotFound("guest_not_found")
        answer = {"guestId": guest_id, "removed": True}
        if guest.status in (REMOVED, ENDED):
            return Granted(answer, "guest_already_removed", guest_id=guest_id)
        removed_by = "doctor" if visit.role == "moderator" else "patient"
        if not guests.remove(visit.db, visit.appointment_id, guest, removed_by):
            return None
        return Granted(answer, "guest_removed", guest_id=guest_id)

    return step


def invite_guest(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """The visit's active doctor invites an interpreter or a caregiver; the answer holds the only copy of
    the code."""
    check = check_invitation_fields
    return serve(db, caller=caller, data=data, policy=policy, now=now, step=invite_step(data), check_input=check)


def redeem_invite(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """Any signed-in account (anonymous included) opens an invitation: bound to it once, under a rate
    limit of its own."""
    return serve(
        db,
        caller=caller,
        data=data,
        policy=policy,
        now=now,
        step=redeem_step,
        check_input=check_code,
        limiter=policy.redeem_limiter,
        locate=locate_invitation,
    )


def remove_guest(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """The visit's doctor or patient removes a guest: refused from then on."""
    return serve(
        db, caller=caller, data=data, policy=policy, now=now, step=remove_step(data), check_input=check_guest_id
    )
