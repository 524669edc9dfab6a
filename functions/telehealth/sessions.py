"""Whether a caller's session stands (not revoked, account not disabled), and App Check as configured.

The functions SDK verifies the ID token's signature and expiry but not revocation: that needs the
Auth API. Each check runs on a thread of its own and overlaps the request's Firestore read, and a
"live" answer is reused for at most ``VIDEO_SESSION_CHECK_S`` seconds per instance and uid, so a
patient polling in the waiting room does not make an Auth call every time. A "not live" answer is
never reused. Doctors removed with ``scripts/clinic`` are refused at once all the same: every
doctor request reads the directory entry, which removal marks inactive before it revokes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from firebase_admin import app_check, auth

DEFAULT_REUSE_SECONDS = 60
MAX_REUSE_SECONDS = 300
DEFAULT_MAX_UIDS = 10_000

# The Auth API lookups of concurrent requests run here, each overlapping its request's Firestore read.
_SESSION_CHECKS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="session-check")


def session_is_live(id_token: str) -> bool:
    """Check revocation and disabled accounts now, with the Auth API."""
    try:
        auth.verify_id_token(id_token, check_revoked=True)
    except (auth.RevokedIdTokenError, auth.UserDisabledError, auth.UserNotFoundError):
        return False
    return True


class SessionChecks:
    """Session checks whose "live" answers are reused for less than ``reuse_seconds`` per uid (0: never)."""

    def __init__(
        self,
        reuse_seconds: int,
        verify: Callable[[str], bool] = session_is_live,
        clock: Callable[[], float] = time.monotonic,
        max_uids: int = DEFAULT_MAX_UIDS,
    ) -> None:
        if not 0 <= reuse_seconds <= MAX_REUSE_SECONDS or max_uids < 1:
            raise ValueError(f"reuse_seconds must be 0 to {MAX_REUSE_SECONDS}, max_uids at least 1")
        self.reuse_seconds = reuse_seconds
        self._verify = verify
        self._clock = clock
        self._max_uids = max_uids
        self._checked_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _reusable(self, uid: str, now: float) -> bool:
        with self._lock:
            checked_at = self._checked_at.get(uid)
            return checked_at is not None and now - checked_at < self.reuse_seconds

    def _remember(self, uid: str, checked_at: float, live: bool) -> None:
        with self._lock:
            if not live:
                self._checked_at.pop(uid, None)
                return
            self._checked_at[uid] = checked_at
            self._checked_at.move_to_end(uid)
            while len(self._checked_at) > self._max_uids:
                self._checked_at.popitem(last=False)

    def start(self, uid: str, id_token: str) -> Callable[[], bool]:
        """Start the check (or reuse a recent "live"); the returned function waits for its answer."""
        now = self._clock()
        if self._reusable(uid, now):
            return lambda: True
        pending = _SESSION_CHECKS.submit(self._verify, id_token)

        def answer() -> bool:
            live = bool(pending.result())
            # Stamped with when the check started: the answer is no older than that.
            self._remember(uid, now, live)
            return live

        return answer


@lru_cache(maxsize=2)
def shared_checks(reuse_seconds: int) -> SessionChecks:
    """This instance's session checks for a reuse bound (its memory is this instance's)."""
    return SessionChecks(reuse_seconds)


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
