"""Whether a caller's session stands (not revoked, account not disabled), and App Check as configured.

The functions SDK verifies the ID token's signature and expiry but not revocation: that needs the
Auth API, so each check runs on a thread of its own and overlaps the request's Firestore read.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from firebase_admin import app_check, auth

# The Auth API lookups of concurrent requests run here, each overlapping its request's Firestore read.
_SESSION_CHECKS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="session-check")


def session_is_live(id_token: str) -> bool:
    """Check revocation and disabled accounts now, with the Auth API."""
    try:
        auth.verify_id_token(id_token, check_revoked=True)
    except (auth.RevokedIdTokenError, auth.UserDisabledError, auth.UserNotFoundError):
        return False
    return True


def start_session_check(id_token: str) -> Callable[[], bool]:
    """Start the check; the returned function waits for its answer."""
    return _SESSION_CHECKS.submit(session_is_live, id_token).result


def app_check_passes(*, enforce: bool, replay: bool, verified_app: Any, app_check_token: str) -> bool:
    """Off, required (the SDK verified ``verified_app``), or required and not used before (consumed now)."""
    if not enforce:
        return True
    if verified_app is None:  # no token, or one the SDK refused (forged, expired, another project's)
        return False
    if not replay:
        return True
    claims = app_check.verify_token(app_check_token, consume=True)
    return claims.get("already_consumed") is False
