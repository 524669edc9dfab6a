"""What the unit tests of the callables share: an open policy, the callers, a seeded visit, the audit log."""

from __future__ import annotations

from typing import Any

from telehealth import gate
from telehealth.config import VideoConfig
from telehealth.providers import build_settings
from telehealth.ratelimit import RateLimiter

from .configs import jitsi_config

HMAC_SECRET = "unit-test-hmac-secret-0123456789abcdef"  # 38 bytes
DOCTOR, PATIENT, STRANGER = "uid-doctor-1", "uid-patient-1", "uid-stranger-1"
DOCTOR_CLAIMS = {"role": "doctor"}
CALLERS = {
    "doctor": gate.Caller(DOCTOR, DOCTOR_CLAIMS),
    "patient": gate.Caller(PATIENT, {}),
    "stranger": gate.Caller(STRANGER, {}),
    "claimless doctor": gate.Caller(DOCTOR, {}),
}


def policy(
    config: VideoConfig | None = None,
    *,
    limit: int = 1000,
    limiter: RateLimiter | None = None,
    session_live: bool = True,
    app_check: bool = True,
    secret: str = HMAC_SECRET,
    retention_days: int = 2190,
    redeem_limiter: RateLimiter | None = None,
) -> gate.Policy:
    """A policy whose seams all pass unless told otherwise (the session live, App Check passing)."""
    chosen = config or jitsi_config()
    return gate.Policy(
        settings=lambda: build_settings(chosen, secret),
        session_check=lambda: lambda: session_live,
        app_check_passes=lambda: app_check,
        limiter=limiter or RateLimiter(limit),
        audit_retention_days=retention_days,
        redeem_limiter=redeem_limiter or RateLimiter(limit),
    )


def audit_records(db: Any) -> list[dict[str, Any]]:
    """Every ``videoAccessLog`` record, in the store's order."""
    return [doc.to_dict() for doc in db.collection("videoAccessLog").stream()]


def audit_by_id(db: Any) -> dict[str, dict[str, Any]]:
    """Every ``videoAccessLog`` record by its document id."""
    return {doc.id: doc.to_dict() for doc in db.collection("videoAccessLog").stream()}
