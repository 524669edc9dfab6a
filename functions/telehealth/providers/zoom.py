"""Zoom Video SDK: session JWTs (HS256 with the SDK secret), host for the doctor.

Zoom refuses a token that lives less than 30 minutes or more than 48 hours, so a Zoom token's
``exp`` is lengthened to 30 minutes where the join window would make it shorter (the window still
decides who gets a token). Recording is an account setting at Zoom, not a token switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import VideoConfig
from ..errors import Misconfigured
from .base import Participant, Provider

MIN_LIFETIME = 1800
MAX_LIFETIME = 48 * 3600


def configure(_values: Mapping[str, Any], shared: Mapping[str, Any]) -> None:
    """Zoom needs its SDK key as the app id."""
    if not shared["app_id"]:
        raise Misconfigured("VIDEO_APP_ID is required for provider zoom")


def expiry(grant: Grant) -> int:
    """Zoom's ``exp``: the usual expiry, lengthened to Zoom's 30-minute minimum where shorter."""
    return min(max(grant.issued_at + MIN_LIFETIME, grant.expires_at), grant.issued_at + MAX_LIFETIME)


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a Zoom Video SDK session: host (1) for the doctor, participant (0) for everyone else."""
    return {
        "app_key": config.app_id,
        "tpc": grant.room_name,
        "role_type": 1 if grant.role == "moderator" else 0,
        "version": 1,
        "iat": grant.issued_at,
        "exp": expiry(grant),
        "user_identity": who.identity,
    }


PROVIDER = Provider(name="zoom", algorithm="HS256", claims=claims, configure=configure, expires_at=expiry)
