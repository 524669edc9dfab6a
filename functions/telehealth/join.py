"""The ``get_join_token`` use case: validate, authorize, sign, audit. Free of the functions SDK."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from google.cloud.firestore import SERVER_TIMESTAMP

from . import store
from .access import (
    Grant,
    Role,
    claims_doctor,
    decide_join,
    parse_appointment_id,
    patient_consents_to_recording,
    role_of,
    waiting_step,
)
from .config import Settings
from .errors import NotJoinable, RateLimited, Unauthenticated, VideoError
from .ratelimit import RateLimiter
from .tokens import issue_token, participant_for, token_expiry


@dataclass(frozen=True)
class Caller:
    """A signed-in caller as the functions SDK verified them: the uid and the ID token's claims."""

    uid: str
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class JoinPolicy:
    """The seams of a join that are not the video settings: each is a parameter, so tests control it."""

    settings: Callable[[], Settings]
    # Starts the check that the caller's session stands (not revoked, account not disabled: an Auth
    # API call) and returns a function that waits for its answer; the join reads Firestore meanwhile.
    session_check: Callable[[], Callable[[], bool]]
    # True when App Check is off, or the request carries a valid (and, with replay protection, unused) token.
    app_check_passes: Callable[[], bool]
    limiter: RateLimiter
    audit_retention_days: int = store.DEFAULT_AUDIT_RETENTION_DAYS


def join_response(grant: Grant, token: str, settings: Settings) -> dict[str, Any]:
    """The callable's success payload, as in the contract (plus ``serverUrl`` for LiveKit)."""
    config = settings.config
    response: dict[str, Any] = {
        "token": token,
        "roomName": grant.room_name,
        "roomUrl": config.room_url(grant.room_name),
        "provider": config.provider,
        "role": grant.role,
        "expiresAt": token_expiry(grant, config),
    }
    if config.provider == "livekit":
        response["serverUrl"] = f"wss://{config.domain}"
    return response


def rate_limited(db: Any, caller: Caller, data: Any, policy: JoinPolicy, now: int) -> RateLimited:
    """The refusal for a caller over the limit, with at most one audit record per account and minute."""
    verdict = policy.limiter.verdict(caller.uid, now)
    if verdict.first_refusal_this_minute:
        try:
            appointment_id: str | None = parse_appointment_id(data)
        except VideoError:
            appointment_id = None
        store.record_access(
            db,
            appointment_id=appointment_id,
            uid=caller.uid,
            role=None,
            outcome="denied",
            reason="rate_limited",
            now=now,
            retention_days=policy.audit_retention_days,
            # One id per account and minute: a second instance refusing the same minute writes nothing.
            # Hashed: a custom-auth uid may hold "/", which a document id cannot.
            record_id=f"rate_limited-{verdict.minute}-{hashlib.sha256(caller.uid.encode()).hexdigest()[:32]}",
        )
    return RateLimited(retryAfter=verdict.retry_after)


def record_decision(
    db: Any,
    caller: Caller,
    policy: JoinPolicy,
    now: int,
    appointment_id: str,
    role: Role | None,
    outcome: str,
    reason: str,
    expires_at: int | None = None,
) -> None:
    """The audit record of one decision on a caller's request (joins, admissions, consent)."""
    store.record_access(
        db,
        appointment_id=appointment_id,
        uid=caller.uid,
        role=role,
        outcome=outcome,
        reason=reason,
        now=now,
        retention_days=policy.audit_retention_days,
        expires_at=expires_at,
    )


# Times a join reads again when its waiting-room write lost a race with another write; then it fails.
MAX_ATTEMPTS = 3
WAITING_WRITES: dict[str, dict[str, Any]] = {
    "mark_doctor": {"video.doctorJoinedAt": SERVER_TIMESTAMP},
    "join_lobby": {"video.lobby": {"waitingSince": SERVER_TIMESTAMP}},
}


def get_join_token(db: Any, *, caller: Caller | None, data: Any, policy: JoinPolicy, now: int) -> dict[str, Any]:
    """Answer one join request.

    Signed out: refused with no Firestore operation. Over the rate limit: refused with no read (and
    one audit record per account and limited minute). Otherwise every request with a well-formed id
    leaves exactly one audit record, written before a token is returned.
    Reads: the appointment (1), plus the caller's directory entry in the same round trip when the
    caller holds the doctor claim (2). Writes: the audit record (1); with a waiting room also the
    doctor's first join (``video.doctorJoinedAt``) and a patient entering the lobby, once each.
    """
    if caller is None:
        raise Unauthenticated()
    if not policy.limiter.allow(caller.uid, now):
        raise rate_limited(db, caller, data, policy, now)
    appointment_id = parse_appointment_id(data)
    role: Role | None = None

    def audit(outcome: str, reason: str, expires_at: int | None = None) -> None:
        record_decision(db, caller, policy, now, appointment_id, role, outcome, reason, expires_at)

    try:
        # Fail closed before reading anything when the server cannot sign.
        current = policy.settings()
        if not policy.app_check_passes():
            raise Unauthenticated("app_check")
        session_is_live = policy.session_check()
        doctor_uid = caller.uid if claims_doctor(caller.claims) else None
        for attempt in range(MAX_ATTEMPTS):
            context = store.read_join_context(db, appointment_id, doctor_uid)
            if attempt == 0 and not session_is_live():
                raise Unauthenticated("session_revoked")
            appointment = context.appointment
            if appointment is not None:
                role = role_of(appointment, caller.uid, caller.claims, context.doctor_entry)
            grant = decide_join(appointment, role, now, current.config)
            assert appointment is not None
            step = waiting_step(appointment, grant.role, current.config.waiting_room)
            if step in WAITING_WRITES and not store.update_video(
                db, appointment_id, WAITING_WRITES[step], context.update_time
            ):
                continue  # written meanwhile (an admission, a withdrawal): read again, decide again
            break
        else:
            raise RuntimeError("the appointment kept changing under the join")
        if step == "join_lobby":
            raise NotJoinable("waiting_for_admission")
        if step in ("waiting_for_doctor", "waiting_for_admission", "admission_denied"):
            raise NotJoinable(step)
        grant = replace(grant, record=patient_consents_to_recording(appointment))
        token = issue_token(grant, participant_for(grant, caller.claims, context.doctor_entry, current.config), current)
    except VideoError as refusal:
        audit("denied", refusal.reason)
        raise
    audit("granted", "ok", token_expiry(grant, current.config))
    return join_response(grant, token, current)
