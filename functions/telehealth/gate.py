"""The one gate every callable passes: signed in, under the rate limit, a valid id, App Check, a live
session, the appointment read (again, after a lost race), the caller's role, and one audit record.

A use case supplies only its decision (``step``): given what was read, it refuses by raising a
``VideoError``, answers with ``Granted``, or returns None when its conditional write lost a race (the
gate then reads again and the step decides again). A request that names no appointment (a redemption
names an invitation code) supplies ``locate``, which finds it; a use case that admits invited guests
(the join) asks the gate to look for the caller's invitation when they are neither doctor nor patient.
Free of the functions SDK.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .access import Role, claims_doctor, parse_appointment_id, role_of
from .bucket import Objects, open_bucket
from .config import Settings
from .errors import ConcurrentUpdate, Misconfigured, RateLimited, Unauthenticated, VideoError
from .invitations import INVITEE, Guest, admitted_guest, may_have_guests
from .providers.base import Deployment
from .ratelimit import REDEMPTIONS_PER_MINUTE, RateLimiter
from .sessions import MAX_REUSE_SECONDS
from .store import appointments, audit, guests

# Times a request reads again when its conditional write lost a race with another write.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Caller:
    """A signed-in caller as the functions SDK verified them: the uid and the ID token's claims."""

    uid: str
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class Policy:
    """The seams of a request that are not the video settings: each is a parameter, so tests control it."""

    settings: Callable[[], Settings]
    # Starts the check that the caller's session stands (not revoked, account not disabled: an Auth
    # API call) and returns a function that waits for its answer; the gate reads Firestore meanwhile.
    session_check: Callable[[], Callable[[], bool]]
    # True when App Check is off, or the request carries a valid (and, with replay protection, unused) token.
    app_check_passes: Callable[[], bool]
    limiter: RateLimiter
    audit_retention_days: int = audit.DEFAULT_AUDIT_RETENTION_DAYS
    # Invitation codes tried per account (``redeem_invite``), apart from the joins' limit (main.py passes
    # the instance's shared one).
    redeem_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(REDEMPTIONS_PER_MINUTE))
    # What the recording use cases reach beyond Firestore: the provider's API (secrets by name) and the bucket.
    deployment: Deployment | None = None
    objects: Callable[[str], Objects] = open_bucket


@dataclass(frozen=True)
class Visit:
    """What one request read: the appointment, the caller's role on it, when it was read, the settings."""

    db: Any
    appointment_id: str
    appointment: dict[str, Any] | None
    doctor_entry: dict[str, Any] | None
    role: Role | None
    read_at: Any
    settings: Settings
    caller: Caller
    now: int
    # The caller's invitation to this visit, while it admits them (only where the use case admits guests).
    guest: Guest | None = None
    # What ``locate`` found besides the appointment (a redemption: the invitation's guest id).
    found: str | None = None


@dataclass(frozen=True)
class Granted:
    """A use case's answer, and what its audit record says (``guest_id``: the invitation it was about)."""

    response: dict[str, Any]
    reason: str = "ok"
    expires_at: int | None = None
    guest_id: str | None = None
    # More fields for the audit record (a recording's id), never a token or a URL.
    audit: Mapping[str, str] | None = None


Step = Callable[[Visit], Granted | None]
# Finds the appointment a request is about from its payload: its id, and what else it found.
Locate = Callable[[Any, Any], tuple[str, str]]


POLICY_PARAMS = (
    "VIDEO_JOIN_RATE_PER_MIN",
    "VIDEO_AUDIT_RETENTION_DAYS",
    "VIDEO_ENFORCE_APP_CHECK",
    "VIDEO_SESSION_CHECK_S",
)


def policy_limits(values: Mapping[str, Any]) -> tuple[int, int, int]:
    """The rate limit, the audit retention and the session-check reuse; the gate cannot run without them."""
    for name in POLICY_PARAMS:
        if name not in values:
            raise Misconfigured(f"{name} does not parse")
    per_minute, retention_days = values["VIDEO_JOIN_RATE_PER_MIN"], values["VIDEO_AUDIT_RETENTION_DAYS"]
    if per_minute < 1 or retention_days < 1:
        raise Misconfigured("VIDEO_JOIN_RATE_PER_MIN and VIDEO_AUDIT_RETENTION_DAYS must be at least 1")
    reuse = values["VIDEO_SESSION_CHECK_S"]
    if not 0 <= reuse <= MAX_REUSE_SECONDS:
        raise Misconfigured(f"VIDEO_SESSION_CHECK_S must be between 0 and {MAX_REUSE_SECONDS} seconds")
    return per_minute, retention_days, reuse


def rate_limited(
    db: Any, caller: Caller, data: Any, policy: Policy, now: int, limiter: RateLimiter | None = None
) -> RateLimited:
    """The refusal for a caller over the limit, with at most one audit record per account and minute."""
    verdict = (limiter or policy.limiter).verdict(caller.uid, now)
    if verdict.first_refusal_this_minute:
        try:
            appointment_id: str | None = parse_appointment_id(data)
        except VideoError:
            appointment_id = None
        audit.record_access(
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


def serve(
    db: Any,
    *,
    caller: Caller | None,
    data: Any,
    policy: Policy,
    now: int,
    step: Step,
    check_input: Callable[[Any], None] = lambda _data: None,
    limiter: RateLimiter | None = None,
    locate: Locate | None = None,
    admits_guests: bool = False,
) -> dict[str, Any]:
    """Run one request through the gate and the use case's ``step``.

    Signed out: refused with no Firestore operation. Over the rate limit (``limiter``, else the
    policy's): refused with no read (and one audit record per account and limited minute). A malformed
    id or field: refused before any read. Otherwise exactly one audit record, written before the answer
    is returned; a record about an invitation names it (``guestId``), and an invited guest's record has
    the role ``invitee``.
    """
    if caller is None:
        raise Unauthenticated()
    limiter = limiter or policy.limiter
    if not limiter.allow(caller.uid, now):
        raise rate_limited(db, caller, data, policy, now, limiter)
    appointment_id: str | None = None if locate is not None else parse_appointment_id(data)
    check_input(data)
    role: Role | None = None
    # The invitation bound to the caller (even one that no longer admits them: the record names it).
    bound: Guest | None = None

    def record(
        outcome: str,
        reason: str,
        expires_at: int | None = None,
        guest_id: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        guest_id = guest_id or (bound.guest_id if bound is not None else None)
        audit.record_access(
            db,
            appointment_id=appointment_id,
            uid=caller.uid,
            role=role if role is not None else (INVITEE if guest_id is not None else None),
            outcome=outcome,
            reason=reason,
            now=now,
            retention_days=policy.audit_retention_days,
            expires_at=expires_at,
            guest_id=guest_id,
            extra=extra,
        )

    try:
        # Fail closed before reading anything when the server cannot sign.
        settings = policy.settings()
        if not policy.app_check_passes():
            raise Unauthenticated("app_check")
        session_is_live = policy.session_check()
        found: str | None = None
        if locate is not None:
            # The lookup answers only a live session (it is the request's first read).
            if not session_is_live():
                raise Unauthenticated("session_revoked")
            appointment_id, found = locate(db, data)
        assert appointment_id is not None
        doctor_uid = caller.uid if claims_doctor(caller.claims) else None
        for attempt in range(MAX_ATTEMPTS):
            context = appointments.read_join_context(db, appointment_id, doctor_uid)
            if attempt == 0 and not session_is_live():
                raise Unauthenticated("session_revoked")
            appointment = context.appointment
            role = role_of(appointment, caller.uid, caller.claims, context.doctor_entry) if appointment else None
            if admits_guests and appointment is not None and role is None and may_have_guests(appointment):
                bound = guests.bound_guest(db, appointment_id, caller.uid)
            visit = Visit(
                db,
                appointment_id,
                appointment,
                context.doctor_entry,
                role,
                context.update_time,
                settings,
                caller,
                now,
                admitted_guest(bound, appointment, now) if appointment is not None else None,
                found,
            )
            outcome = step(visit)
            if outcome is not None:
                break
        else:
            raise ConcurrentUpdate()
    except VideoError as refusal:
        record("denied", refusal.reason)
        raise
    record("granted", outcome.reason, outcome.expires_at, outcome.guest_id, outcome.audit)
    return outcome.response
