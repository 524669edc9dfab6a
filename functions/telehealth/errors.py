"""Domain errors, and the one table that maps them to callable error codes.

The core raises these; only the HTTPS adapter turns them into ``HttpsError``. Messages are fixed,
client-safe sentences: no exception text, ids, tokens or key material ever goes into them.
"""

from __future__ import annotations

from typing import Any


class VideoError(Exception):
    """Base class of every refusal the backend can give."""

    message = "The request could not be completed."
    default_reason = "error"

    def __init__(self, reason: str | None = None, **extra: Any) -> None:
        self.reason = reason or self.default_reason
        self.extra = extra
        super().__init__(self.reason)

    def details(self) -> dict[str, Any] | None:
        """What a client sees besides the code; only refusals it must react to carry any."""
        return None


class Unauthenticated(VideoError):
    """The caller is not signed in."""

    message = "Sign in to join a video consultation."
    default_reason = "unauthenticated"


class InvalidArgument(VideoError):
    """The request payload is malformed; raised before any read."""

    message = "appointmentId must be a non-empty Firestore document id."
    default_reason = "invalid_argument"


class AppointmentNotFound(VideoError):
    """No such appointment, or the caller is not on it: one answer, so ids cannot be probed."""

    message = "Appointment not found."
    default_reason = "not_found"


class NotJoinable(VideoError):
    """The caller is on the appointment, but it cannot be joined now (see ``reason``)."""

    message = "The video consultation cannot be joined now."

    def details(self) -> dict[str, Any] | None:
        """``reason`` (``not_video``, ``too_early``, ...) and its companions (``opensAt``, ``closesAt``)."""
        return {"reason": self.reason, **self.extra}


class RateLimited(VideoError):
    """The account asked for more joins than the per-minute limit allows."""

    message = "Too many requests; try again shortly."
    default_reason = "rate_limited"

    def details(self) -> dict[str, Any] | None:
        """``retryAfter``: whole seconds until the next call can pass."""
        return {"retryAfter": self.extra["retryAfter"]}


class Misconfigured(VideoError):
    """The server's video settings are missing or unsafe; every join fails closed."""

    message = "The video service is not available."
    default_reason = "misconfigured"

    def __init__(self, problem: str) -> None:
        super().__init__()
        # For the server log only; callers build it without key material.
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


# The single mapping from domain errors to the callable protocol's codes (FunctionsErrorCode values).
ERROR_CODES: dict[type[VideoError], str] = {
    Unauthenticated: "unauthenticated",
    InvalidArgument: "invalid-argument",
    AppointmentNotFound: "not-found",
    NotJoinable: "failed-precondition",
    RateLimited: "resource-exhausted",
    Misconfigured: "internal",
}


def error_code(error: VideoError) -> str:
    """The callable error code for a domain error (``internal`` for anything unmapped)."""
    return ERROR_CODES.get(type(error), "internal")
