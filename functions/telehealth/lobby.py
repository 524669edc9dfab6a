"""The doctor's admission (``admit_patient``) and the patient's recording consent (``set_recording_consent``).

Both pass the same gate as a join (signed in, rate limit, id format, App Check, live session), act
only for the appointment's own doctor or patient (anyone else: ``not-found``), write only fields
inside ``video`` (conditionally on the appointment being unchanged since it was read), and leave
one audit record. Free of the functions SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud.firestore import DELETE_FIELD, SERVER_TIMESTAMP

from . import store
from .access import Role, claims_doctor, parse_appointment_id, role_of
from .errors import AppointmentNotFound, InvalidArgument, NotJoinable, Unauthenticated, VideoError
from .join import Caller, JoinPolicy, rate_limited, record_decision
from .rooms import room_of

MAX_ATTEMPTS = 3


def _flag(data: Any, name: str) -> bool:
    if not isinstance(data, Mapping) or not isinstance(data.get(name), bool):
        raise InvalidArgument()
    return bool(data[name])


def _act(
    db: Any,
    *,
    caller: Caller | None,
    data: Any,
    policy: JoinPolicy,
    now: int,
    flag: str,
    acting_role: Role,
    changes: Any,
    reasons: tuple[str, str],
) -> bool:
    """The shared gate and write; ``changes(value)`` is the ``video`` update for the caller's answer."""
    if caller is None:
        raise Unauthenticated()
    if not policy.limiter.allow(caller.uid, now):
        raise rate_limited(db, caller, data, policy, now)
    appointment_id = parse_appointment_id(data)
    value = _flag(data, flag)
    role: Role | None = None
    try:
        current = policy.settings()
        if not policy.app_check_passes():
            raise Unauthenticated("app_check")
        if not policy.session_check()():
            raise Unauthenticated("session_revoked")
        doctor_uid = caller.uid if claims_doctor(caller.claims) else None
        for _attempt in range(MAX_ATTEMPTS):
            context = store.read_join_context(db, appointment_id, doctor_uid)
            appointment = context.appointment
            role = role_of(appointment, caller.uid, caller.claims, context.doctor_entry) if appointment else None
            if appointment is None or role != acting_role:
                raise AppointmentNotFound()
            if appointment.get("type") != "video":
                raise NotJoinable("not_video")
            if appointment.get("status") != "confirmed":
                raise NotJoinable("not_confirmed")
            if room_of(appointment) is None:
                raise NotJoinable("room_not_ready")
            if acting_role == "moderator" and current.config.waiting_room != "admit":
                raise NotJoinable("admission_off")
            if store.update_video(db, appointment_id, changes(value), context.update_time):
                break
        else:
            raise RuntimeError("the appointment kept changing under the request")
    except VideoError as refusal:
        record_decision(db, caller, policy, now, appointment_id, role, "denied", refusal.reason)
        raise
    record_decision(db, caller, policy, now, appointment_id, role, "granted", reasons[0] if value else reasons[1])
    return value


def admission_changes(admit: bool) -> dict[str, Any]:
    """Admit: stamp ``admittedAt`` (and clear a denial); deny: stamp ``deniedAt`` (and clear an admission)."""
    if admit:
        return {"video.admittedAt": SERVER_TIMESTAMP, "video.deniedAt": DELETE_FIELD}
    return {"video.deniedAt": SERVER_TIMESTAMP, "video.admittedAt": DELETE_FIELD}


def admit_patient(db: Any, *, caller: Caller | None, data: Any, policy: JoinPolicy, now: int) -> dict[str, Any]:
    """The appointment's active doctor lets the waiting patient in, or turns them away (``admit`` mode only)."""
    admitted = _act(
        db,
        caller=caller,
        data=data,
        policy=policy,
        now=now,
        flag="admit",
        acting_role="moderator",
        changes=admission_changes,
        reasons=("patient_admitted", "patient_denied"),
    )
    return {"admitted": admitted}


def consent_changes(consent: bool) -> dict[str, Any]:
    """The patient's answer and when it was given; the next token the doctor gets follows it."""
    return {"video.recordingConsent": {"consent": consent, "at": SERVER_TIMESTAMP}}


def set_recording_consent(db: Any, *, caller: Caller | None, data: Any, policy: JoinPolicy, now: int) -> dict[str, Any]:
    """The appointment's patient says yes or no to recording."""
    consent = _act(
        db,
        caller=caller,
        data=data,
        policy=policy,
        now=now,
        flag="consent",
        acting_role="guest",
        changes=consent_changes,
        reasons=("consent_given", "consent_withdrawn"),
    )
    return {"consent": consent}
