"""Every error the backend raises on purpose, and the one table that maps refusals to callable codes.

Three families: ``VideoError`` (a refusal a caller sees, as an ``HttpsError`` code), ``Misconfigured``
(a setting is unusable: fail closed, name the setting in the server log), and ``WebhookRejected`` /
``ProviderCallFailed`` (a webhook refused, a provider's API refusing us). Messages are fixed,
client-safe sentences: no exception text, ids, tokens or key material ever goes into them.
"""

from __future__ import annotations

from typing import Any, ClassVar


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
    """The caller is not signed in (or their session no longer stands)."""

    message = "Sign in to join a video consultation."
    default_reason = "unauthenticated"


class InvalidArgument(VideoError):
    """A request field is missing or malformed; raised before any read. The message names the field."""

    default_reason = "invalid_argument"
    MESSAGES: ClassVar[dict[str, str]] = {
        "appointmentId": "appointmentId must be a non-empty Firestore document id.",
        "admit": "admit must be true or false.",
        "consent": "consent must be true or false.",
        "kind": "kind must be interpreter or caregiver.",
        "name": "name must be 1 to 60 printable characters.",
        "inviteCode": "inviteCode must be the code from the invitation link.",
        "guestId": "guestId must be a guest's id.",
        "recordingId": "recordingId must be a recording's id.",
    }

    def __init__(self, field: str = "appointmentId") -> None:
        super().__init__()
        self.field = field
        self.message = self.MESSAGES.get(field, f"{field} is missing or malformed.")


class AppointmentNotFound(VideoError):
    """No such appointment, or the caller is not on it: one answer, so ids cannot be probed."""

    message = "Appointment not found."
    default_reason = "not_found"


class InvitationNotFound(VideoError):
    """No such invitation, or not one this caller may use: one answer for a wrong, expired, removed or
    another account's code (``reason`` tells them apart in the audit only)."""

    message = "Invitation not found."
    default_reason = "invite_not_found"


class NotJoinable(VideoError):
    """The caller is on the appointment, but it cannot be joined now (see ``reason``)."""

    message = "The video consultation cannot be joined now."

    def details(self) -> dict[str, Any] | None:
        """``reason`` (``not_video``, ``too_early``, ...) and its companions (``opensAt``, ``closesAt``)."""
        return {"reason": self.reason, **self.extra}


class RecordingRefused(VideoError):
    """The caller is the visit's doctor, but a recording cannot be started or handed out now (see ``reason``)."""

    message = "The recording is not available now."

    def details(self) -> dict[str, Any] | None:
        """``reason``: ``recording_off``, ``recording_unsupported``, ``no_consent``, ``not_ready``, ..."""
        return {"reason": self.reason}


class RateLimited(VideoError):
    """The account asked for more than the per-minute limit allows."""

    message = "Too many requests; try again shortly."
    default_reason = "rate_limited"

    def details(self) -> dict[str, Any] | None:
        """``retryAfter``: whole seconds until the next call can pass."""
        return {"retryAfter": self.extra["retryAfter"]}


class ConcurrentUpdate(VideoError):
    """The appointment kept changing under the request (lost every race to other writes): call again."""

    message = "The appointment changed while the request ran; try again."
    default_reason = "concurrent_update"

    def details(self) -> dict[str, Any] | None:
        """``reason: concurrent_update``, so a client knows a plain retry is the answer."""
        return {"reason": self.reason}


class ProviderUnavailable(VideoError):
    """The provider's API failed a call the answer needs (a token it issues itself): call again shortly."""

    message = "The video service did not answer in time; try again shortly."
    default_reason = "provider_unavailable"

    def details(self) -> dict[str, Any] | None:
        """``reason: provider_unavailable``, so a client knows a plain retry is the answer."""
        return {"reason": self.reason}


class Misconfigured(VideoError):
    """The server's video settings are missing or unsafe; every request that needs them fails closed."""

    message = "The video service is not available."
    default_reason = "misconfigured"

    def __init__(self, problem: str) -> None:
        super().__init__()
        # For the server log only; callers build it without key material.
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


class WebhookRejected(Exception):
    """A webhook request is refused with ``status``; ``why`` is for the server log (no request data in it)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class ProviderCallFailed(Exception):
    """A provider's server API refused or failed a call of ours (a room, a meeting end); the event is retried."""

    def __init__(self, status: int, why: str = "") -> None:
        super().__init__(f"the provider answered {status}" + (f": {why}" if why else ""))
        self.status = status
        self.why = why


class ProviderMisconfigured(ProviderCallFailed, Misconfigured):
    """A provider's answer shows a wrong set-up, named in ``problem``: logged as unusable settings, retried."""

    def __init__(self, status: int, problem: str) -> None:
        Misconfigured.__init__(self, problem)
        self.status = status
        self.why = problem


# The single mapping from refusals to the callable protocol's codes (FunctionsErrorCode values).
ERROR_CODES: dict[type[VideoError], str] = {
    Unauthenticated: "unauthenticated",
    InvalidArgument: "invalid-argument",
    AppointmentNotFound: "not-found",
    InvitationNotFound: "not-found",
    NotJoinable: "failed-precondition",
    RecordingRefused: "failed-precondition",
    RateLimited: "resource-exhausted",
    ConcurrentUpdate: "aborted",
    ProviderUnavailable: "unavailable",
    Misconfigured: "internal",
}


def error_code(error: VideoError) -> str:
    """The callable error code for a refusal (``internal`` for anything unmapped)."""
    return ERROR_CODES.get(type(error), "internal")
