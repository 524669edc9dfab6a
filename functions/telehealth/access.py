"""Who may join which room, when, and as what role. Pure: the clock is a parameter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .config import VideoConfig
from .errors import AppointmentNotFound, InvalidArgument, NotJoinable
from .rooms import room_of

Role = Literal["moderator", "guest"]

MAX_APPOINTMENT_ID_LENGTH = 128
# Seconds `nbf` lies in the past, so that a clock running a little fast here locks nobody out.
NOT_BEFORE_SKEW = 10


def parse_appointment_id(data: Any) -> str:
    """The ``appointmentId`` of a request payload, checked before anything is read."""
    if not isinstance(data, Mapping):
        raise InvalidArgument()
    value = data.get("appointmentId")
    if not isinstance(value, str) or not is_document_id(value):
        raise InvalidArgument()
    return value


def is_document_id(value: str) -> bool:
    """A usable Firestore document id: 1 to 128 characters, no '/', not '.'/'..', not ``__x__``, no control codes."""
    if not 0 < len(value) <= MAX_APPOINTMENT_ID_LENGTH:
        return False
    if "/" in value or value in (".", "..") or (value.startswith("__") and value.endswith("__")):
        return False
    return all(ch.isprintable() for ch in value)


def role_of(appointment: Mapping[str, Any], uid: str) -> Role | None:
    """The caller's role on the appointment: the doctor moderates, the patient is a guest."""
    if appointment.get("doctorId") == uid:
        return "moderator"
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


def decide_join(appointment: Mapping[str, Any] | None, uid: str, now: int, config: VideoConfig) -> Grant:
    """Grant or refuse a join; refusals raise the domain error the contract names, in its order."""
    role = role_of(appointment, uid) if appointment is not None else None
    if appointment is None or role is None:
        raise AppointmentNotFound()
    if appointment.get("type") != "video":
        raise NotJoinable("not_video")
    if appointment.get("status") != "confirmed":
        raise NotJoinable("not_confirmed")
    room = room_of(appointment)
    if room is None:
        raise NotJoinable("room_not_ready")
    window = join_window(appointment, config)
    if window is None:
        raise NotJoinable("bad_schedule")
    if now < window.opens_at:
        raise NotJoinable("too_early", opensAt=window.opens_at)
    if now >= window.closes_at:
        raise NotJoinable("too_late", closesAt=window.closes_at)
    return Grant(
        role=role,
        room_name=room,
        issued_at=now,
        not_before=now - NOT_BEFORE_SKEW,
        expires_at=min(window.closes_at, now + config.token_ttl_minutes * 60),
    )
