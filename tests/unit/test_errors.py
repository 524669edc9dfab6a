"""The error tree: each refusal's code and client-safe message, and the failures that never reach a client."""

from __future__ import annotations

import pytest

from telehealth.errors import (
    AppointmentNotFound,
    ConcurrentUpdate,
    InvalidArgument,
    InvitationNotFound,
    Misconfigured,
    NotJoinable,
    ProviderCallFailed,
    ProviderMisconfigured,
    RateLimited,
    Unauthenticated,
    VideoError,
    WebhookRejected,
    error_code,
)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        pytest.param(None, "appointmentId must be a non-empty Firestore document id.", id="the default: the id"),
        pytest.param("appointmentId", "appointmentId must be a non-empty Firestore document id.", id="the id"),
        pytest.param("admit", "admit must be true or false.", id="admit"),
        pytest.param("consent", "consent must be true or false.", id="consent"),
        pytest.param("kind", "kind must be interpreter or caregiver.", id="a guest's kind"),
        pytest.param("name", "name must be 1 to 60 printable characters.", id="a guest's name"),
        pytest.param("inviteCode", "inviteCode must be the code from the invitation link.", id="an invite code"),
        pytest.param("guestId", "guestId must be a guest's id.", id="a guest id"),
        pytest.param("colour", "colour is missing or malformed.", id="any other field"),
    ],
)
def test_invalid_argument_names_the_field_in_its_message(field: str | None, message: str) -> None:
    error = InvalidArgument() if field is None else InvalidArgument(field)
    assert error.message == message
    assert error.field == (field or "appointmentId")
    assert (error.reason, error.details(), error_code(error)) == ("invalid_argument", None, "invalid-argument")


@pytest.mark.parametrize(
    ("error", "code", "reason", "details"),
    [
        (Unauthenticated(), "unauthenticated", "unauthenticated", None),
        (Unauthenticated("session_revoked"), "unauthenticated", "session_revoked", None),
        (AppointmentNotFound(), "not-found", "not_found", None),
        (InvitationNotFound(), "not-found", "invite_not_found", None),
        (InvitationNotFound("invite_taken"), "not-found", "invite_taken", None),
        (
            NotJoinable("too_early", opensAt=5),
            "failed-precondition",
            "too_early",
            {"reason": "too_early", "opensAt": 5},
        ),
        (RateLimited(retryAfter=7), "resource-exhausted", "rate_limited", {"retryAfter": 7}),
        (ConcurrentUpdate(), "aborted", "concurrent_update", {"reason": "concurrent_update"}),
        (Misconfigured("VIDEO_X is wrong"), "internal", "misconfigured", None),
        (VideoError(), "internal", "error", None),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_refusal_has_its_code_reason_and_details(
    error: VideoError, code: str, reason: str, details: dict[str, object] | None
) -> None:
    assert (error_code(error), error.reason, error.details()) == (code, reason, details)


def test_a_refusal_class_that_is_not_mapped_is_internal() -> None:
    class Unmapped(NotJoinable):
        pass

    assert error_code(Unmapped("x")) == "internal"


def test_the_messages_a_client_sees_are_fixed_sentences() -> None:
    assert Misconfigured("VIDEO_SIGNING_KEY is not set").message == "The video service is not available."
    assert str(Misconfigured("VIDEO_SIGNING_KEY is not set")) == "VIDEO_SIGNING_KEY is not set"
    assert ConcurrentUpdate().message == "The appointment changed while the request ran; try again."
    assert VideoError("x", a=1).extra == {"a": 1}


def test_provider_failures_carry_their_status_and_a_reason_for_the_log() -> None:
    plain, explained = ProviderCallFailed(503), ProviderCallFailed(404, "not the API")
    assert (plain.status, plain.why, str(plain)) == (503, "", "the provider answered 503")
    assert (explained.status, explained.why, str(explained)) == (
        404,
        "not the API",
        "the provider answered 404: not the API",
    )
    wrong = ProviderMisconfigured(401, "VIDEO_X refused")
    assert isinstance(wrong, ProviderCallFailed)
    assert isinstance(wrong, Misconfigured)
    assert (wrong.status, wrong.why, wrong.problem, str(wrong)) == (
        401,
        "VIDEO_X refused",
        "VIDEO_X refused",
        "VIDEO_X refused",
    )
    rejected = WebhookRejected(400, "stale event")
    assert (rejected.status, rejected.why, str(rejected)) == (400, "stale event", "stale event")
