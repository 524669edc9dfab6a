"""Who may join which room, when, and as what role. Pure: the clock is a parameter."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .config import VideoConfig
from .errors import AppointmentNotFound, InvalidArgument, NotJoinable
from .rooms import room_of

Role = Literal["moderator", "guest"]

MAX_APPOINTMENT_ID_LENGTH = 128
# The one appointment id format (firestore.rules mirrors it at creation): Firestore's auto-ids are 20 of these.
APPOINTMENT_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_APPOINTMENT_ID_LENGTH}}}")
# Seconds `nbf` lies in the past, so that a clock running a little fast here locks nobody out.
NOT_BEFORE_SKEW = 10
# A token must have at least this long to live, or it could die in transit (some providers allow no leeway on `exp`).
MIN_TOKEN_SECONDS = 60
DOCTOR_ROLE_CLAIM = "doctor"


def parse_appointment_id(data: Any) -> str:
    """The ``appointmentId`` of a request payload, checked before anything is read."""
    if not isinstance(data, Mapping):
        raise InvalidArgument()
    value = data.get("appointmentId")
    if not is_appointment_id(value):
        raise InvalidArgument()
    return str(value)


def is_appointment_id(value: Any) -> bool:
    """An appointment id: 1 to 128 ASCII letters, digits, ``-`` or ``_`` (nothing else, no look-alikes).

    Ids of the form ``__x__`` are reserved by Firestore (no document can have one), so they are refused too.
    The same format holds for every id a request names (a guest's too).
    """
    if not isinstance(value, str) or APPOINTMENT_ID.fullmatch(value) is None:
        return False
    return not (len(value) >= 4 and value.startswith("__") and value.endswith("__"))


def claims_doctor(claims: Mapping[str, Any]) -> bool:
    """The caller's ID token carries the clinic's doctor claim (set only by ``scripts/clinic``)."""
    return claims.get("role") == DOCTOR_ROLE_CLAIM


def is_active_doctor(claims: Mapping[str, Any], entry: Mapping[str, Any] | None) -> bool:
    """A doctor in the clinic's sense: the claim and an active ``doctors/{uid}`` entry, both server-written."""
    return claims_doctor(claims) and entry is not None and entry.get("active") is True


def role_of(
    appointment: Mapping[str, Any], uid: str, claims: Mapping[str, Any], doctor_entry: Mapping[str, Any] | None
) -> Role | None:
    """The caller's role: the appointment's active doctor moderates, its patient is a guest, anyone else none.

    A uid that is the appointment's ``doctorId`` but not an active doctor gets no role, like a stranger.
    """
    if appointment.get("doctorId") == uid:
        return "moderator" if is_active_doctor(claims, doctor_entry) else None
    if appointment.get("patientId") == uid:
        return "guest"
    return None


@dataclass(frozen=True)
class JoinWindow:
    """When tokens may be issued, in epoch seconds: ``opens_at <= now < closes_at``."""

    opens_at: int
    closes_at: int


def join_window(appointment: Mapping[str, Any], config: VideoConfig) -> JoinWindow | None:
    """The join window of an appointment, or None when its times are missing or inconsistent."""
    start, end = appointment.get("startTime"), appointment.get("endTime")
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime) or start.tzinfo is None:
        return None
    if end.tzinfo is None or start >= end:
        return None
    return JoinWindow(
        opens_at=int(start.timestamp()) - config.opens_minutes_before * 60,
        closes_at=int(end.timestamp()) + config.closes_minutes_after * 60,
    )


@dataclass(frozen=True)
class Grant:
    """A decision to let ``role`` into ``room_name``, with the token's time claims."""

    role: Role
    room_name: str
    issued_at: int
    not_before: int
    expires_at: int
    # The features the token switches on (capture, for the doctor with the patient's consent).
    features: frozenset[str] = frozenset()
    # The provider's id of the room (``video.providerRoomId``), where the provider creates rooms.
    provider_room_id: str | None = None


def confirmed_video_room(appointment: Mapping[str, Any]) -> str:
    """The room of a confirmed video visit; else the refusal, in the contract's order (video, status, room)."""
    if appointment.get("type") != "video":
        raise NotJoinable("not_video")
    if appointment.get("status") != "confirmed":
        raise NotJoinable("not_confirmed")
    room = room_of(appointment)
    if room is None:
        raise NotJoinable("room_not_ready")
    return room


def decide_join(appointment: Mapping[str, Any] | None, role: Role | None, now: int, config: VideoConfig) -> Grant:
    """Grant or refuse a join for a caller holding ``role``; refusals raise the contract's errors, in its order."""
    if appointment is None or role is None:
        raise AppointmentNotFound()
    room = confirmed_video_room(appointment)
    provider_room = video_field(appointment, "providerRoomId") if config.creates_rooms else None
    if config.creates_rooms and not (isinstance(provider_room, str) and provider_room):
        raise NotJoinable("room_not_ready")  # named, but not yet created at the provider
    window = join_window(appointment, config)
    if window is None:
        raise NotJoinable("bad_schedule")
    if now < window.opens_at:
        raise NotJoinable("too_early", opensAt=window.opens_at)
    if now > window.closes_at - MIN_TOKEN_SECONDS:
        raise NotJoinable("too_late", closesAt=window.closes_at)
    return Grant(
        role=role,
        room_name=room,
        issued_at=now,
        not_before=now - NOT_BEFORE_SKEW,
        expires_at=min(window.closes_at, now + config.token_ttl_minutes * 60),
        provider_room_id=provider_room,
    )


def video_field(appointment: Mapping[str, Any], name: str) -> Any:
    """A field of the appointment's server-written ``video`` map, or None."""
    video = appointment.get("video")
    return video.get(name) if isinstance(video, Mapping) else None


def patient_consents_to_recording(appointment: Mapping[str, Any]) -> bool:
    """The patient's current answer is yes (``video.recordingConsent.consent is True``)."""
    consent = video_field(appointment, "recordingConsent")
    return isinstance(consent, Mapping) and consent.get("consent") is True


def waiting_step(appointment: Mapping[str, Any], role: Role, mode: str) -> str | None:
    """What the waiting room does with a granted caller: None to let them in, else the step to take.

    ``mark_doctor``: the doctor's first grant, stamp ``doctorJoinedAt``. ``waiting_for_doctor``,
    ``admission_denied``: refuse. ``join_lobby``: stamp ``lobby.waitingSince``, then refuse
    ``waiting_for_admission``; ``waiting_for_admission``: already in the lobby, refuse.
    """
    if mode == "off":
        return None
    if role == "moderator":
        return "mark_doctor" if video_field(appointment, "doctorJoinedAt") is None else None
    if mode == "host":
        return None if video_field(appointment, "doctorJoinedAt") is not None else "waiting_for_doctor"
    if video_field(appointment, "deniedAt") is not None:
        return "admission_denied"
    if video_field(appointment, "admittedAt") is not None:
        return None
    lobby = video_field(appointment, "lobby")
    waiting = isinstance(lobby, Mapping) and lobby.get("waitingSince") is not None
    return "waiting_for_admission" if waiting else "join_lobby"
