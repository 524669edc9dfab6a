"""Twilio status callbacks and Zoom Video SDK webhooks, signed as each provider signs them (tests/support/samples.py),
then tampered, re-addressed, stale and malformed: each refusal with its exact status and reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
from conftest import HMAC_SECRET, NOW
from support import samples
from support.configs import video_config
from twilio.request_validator import RequestValidator

from telehealth.config import Settings, SigningKey
from telehealth.errors import Misconfigured
from telehealth.errors import WebhookRejected as Rejected
from telehealth.providers import config_from_params
from telehealth.providers import twilio as twilio_provider
from telehealth.providers import zoom as zoom_provider
from telehealth.providers.base import AttendanceEvent, Deployment, WebhookOutcome, WebhookReply, WebhookRequest
from telehealth.providers.events import derived_event_id

ROOM = "r" * 32
NOW_TS = int(NOW.timestamp())


def twilio_settings(callback: str = samples.TWILIO_CALLBACK) -> Settings:
    config = video_config(
        provider="twilio",
        domain="visit.clinic.test",
        app_id=samples.TWILIO_API_KEY,
        account_id=samples.TWILIO_ACCOUNT,
        twilio_callback_url=callback,
    )
    return Settings(config, SigningKey("HS256", HMAC_SECRET.encode()))


def deployment(settings: Settings, webhook_secret: str) -> Deployment:
    return Deployment(
        config=lambda: settings.config,
        settings=lambda: settings,
        secret=lambda name: {"VIDEO_WEBHOOK_SECRET": webhook_secret}[name],
    )


def twilio_events(
    body: bytes,
    headers: dict[str, str],
    token: str = samples.TWILIO_AUTH_TOKEN,
    callback: str = samples.TWILIO_CALLBACK,
    path: str = "",
) -> list[AttendanceEvent]:
    request = WebhookRequest(path, headers, body, NOW)
    return twilio_provider.events(request, deployment(twilio_settings(callback), token))


def connected(**changes: Any) -> dict[str, str]:
    return samples.twilio_params("participant-connected", ROOM, NOW, **changes)


# Twilio ------------------------------------------------------------------------------------------------------


def test_a_twilio_participant_connected_callback_signed_as_twilio_signs_it_verifies() -> None:
    [event] = twilio_events(*samples.twilio_post(connected(identity="doctor")))
    assert (event.room, event.kind, event.role, event.at) == (ROOM, "joined", "moderator", NOW)
    assert event.event_id == derived_event_id("twilio", "joined", samples.ROOM_SID, samples.PARTICIPANT_SID)


def test_the_sample_signature_is_the_one_twilios_own_validator_computes() -> None:
    """Our sample signer and the twilio package agree, so the tests sign what Twilio would."""
    params = connected()
    assert samples.twilio_signature(samples.TWILIO_CALLBACK, params) == RequestValidator(
        samples.TWILIO_AUTH_TOKEN
    ).compute_signature(samples.TWILIO_CALLBACK, params)


def test_a_disconnect_is_a_leave_with_its_own_stable_id() -> None:
    left_params = samples.twilio_params("participant-disconnected", ROOM, NOW + dt.timedelta(minutes=1))
    [left] = twilio_events(*samples.twilio_post(left_params))
    [again] = twilio_events(*samples.twilio_post(left_params))  # Twilio delivering it twice
    [joined] = twilio_events(*samples.twilio_post(connected()))
    assert (left.kind, left.role) == ("left", "guest")
    assert left.event_id == again.event_id
    assert left.event_id != joined.event_id
    assert left.event_id == "3cb16b9b7e8c2f95d462e866f0ad7f51edcddb2e"  # stored ids never change across deploys


@pytest.mark.parametrize(
    ("identity", "role"),
    [
        pytest.param("patient", "guest", id="the patient"),
        pytest.param("doctor", "moderator", id="the doctor"),
        pytest.param("recorder-bot", None, id="anyone else"),
        pytest.param(None, None, id="no identity sent"),
        pytest.param("Doctor", None, id="not our identity's spelling"),
    ],
)
def test_a_twilio_role_comes_from_our_identities_only(identity: str | None, role: str | None) -> None:
    [event] = twilio_events(*samples.twilio_post(connected(identity=identity)))
    assert event.role == role


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(samples.twilio_params("room-created", ROOM, NOW), id="room-created"),
        pytest.param(samples.twilio_params("room-ended", ROOM, NOW, RoomStatus="completed"), id="room-ended"),
        pytest.param(samples.twilio_params("track-added", ROOM, NOW), id="a track event"),
        pytest.param(connected(AccountSid="AC" + "99" * 16), id="another account's room"),
    ],
)
def test_twilio_callbacks_with_nothing_to_record_are_accepted_and_ignored(params: dict[str, str]) -> None:
    assert twilio_events(*samples.twilio_post(params)) == []


def _with(headers: dict[str, str], **changes: str) -> dict[str, str]:
    return {**headers, **changes}


def _bad_twilio(case: str) -> tuple[bytes, dict[str, str]]:
    body, headers = samples.twilio_post(connected())
    if case == "unsigned":
        return body, {"Content-Type": headers["Content-Type"]}
    if case == "wrong token":
        return samples.twilio_post(connected(), token="4e" * 16)
    if case == "tampered":
        return body.replace(b"patient", b"doctor"), headers
    if case == "signed for another URL":
        return samples.twilio_post(connected(), url="https://evil.example/video_events/twilio")
    if case == "signed for our host with another path":
        return samples.twilio_post(connected(), url=samples.TWILIO_CALLBACK.removesuffix("/twilio") + "/sms")
    if case == "shared-key signing":
        return body, _with(headers, **{"X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256"})
    if case == "not UTF-8":
        return b"\xff" + body, headers
    if case == "a percent-escape that is not UTF-8":
        return body + b"&Extra=%FF", headers
    if case == "a parameter added":
        return body + b"&RoomName=other", headers
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "status", "why"),
    [
        ("unsigned", 401, "no Twilio signature"),
        ("wrong token", 401, "Twilio signature does not verify"),
        ("tampered", 401, "Twilio signature does not verify"),
        ("signed for another URL", 401, "Twilio signature does not verify"),
        ("signed for our host with another path", 401, "Twilio signature does not verify"),
        ("shared-key signing", 401, "Twilio shared-key signature: sign status callbacks with the Auth Token"),
        ("not UTF-8", 400, "body is not a UTF-8 form"),
        ("a percent-escape that is not UTF-8", 400, "body is not a UTF-8 form"),
        ("a parameter added", 401, "Twilio signature does not verify"),
    ],
)
def test_badly_signed_twilio_callbacks_are_refused(case: str, status: int, why: str) -> None:
    with pytest.raises(Rejected) as caught:
        twilio_events(*_bad_twilio(case))
    assert (caught.value.status, caught.value.why) == (status, why)


def _signed_repeat(name: str) -> tuple[bytes, dict[str, str]]:
    pairs = [*connected().items(), (name, "again")]
    return samples.twilio_post(pairs)


@pytest.mark.parametrize(
    ("post", "why"),
    [
        pytest.param(
            samples.twilio_post(connected(Timestamp=samples.iso(NOW - dt.timedelta(seconds=301)))),
            "stale event",
            id="stale",
        ),
        pytest.param(
            samples.twilio_post(connected(Timestamp=samples.iso(NOW + dt.timedelta(seconds=301)))),
            "stale event",
            id="from the future",
        ),
        pytest.param(
            samples.twilio_post(connected(Timestamp="yesterday")),
            "Timestamp is not an ISO 8601 time",
            id="a timestamp in words",
        ),
        pytest.param(
            samples.twilio_post(connected(Timestamp=None)), "Timestamp missing or repeated", id="no timestamp"
        ),
        pytest.param(samples.twilio_post(connected(RoomName=None)), "RoomName missing or repeated", id="no room"),
        pytest.param(samples.twilio_post(connected(RoomName="")), "RoomName missing or repeated", id="an empty room"),
        pytest.param(_signed_repeat("RoomName"), "RoomName missing or repeated", id="two rooms"),
        pytest.param(
            samples.twilio_post(connected(ParticipantSid=None)),
            "ParticipantSid missing or repeated",
            id="no participant",
        ),
        pytest.param(
            samples.twilio_post(connected(AccountSid=None)), "AccountSid missing or repeated", id="no account"
        ),
        pytest.param(
            samples.twilio_post(connected(StatusCallbackEvent=None)),
            "StatusCallbackEvent missing or repeated",
            id="no event",
        ),
    ],
)
def test_signed_but_malformed_or_stale_twilio_callbacks_are_400(post: tuple[bytes, dict[str, str]], why: str) -> None:
    with pytest.raises(Rejected) as caught:
        twilio_events(*post)
    assert (caught.value.status, caught.value.why) == (400, why)


def test_a_twilio_participant_sent_with_two_identities_has_no_role() -> None:
    pairs = [*connected(identity="doctor").items(), ("ParticipantIdentity", "patient")]
    [event] = twilio_events(*samples.twilio_post(pairs))
    assert event.role is None


def test_a_twilio_timestamp_without_an_offset_is_utc() -> None:
    [event] = twilio_events(*samples.twilio_post(connected(Timestamp="2026-03-02T10:00:00")))
    assert event.at == NOW
    assert event.at.tzinfo is not None


def test_a_twilio_callback_exactly_five_minutes_old_still_counts() -> None:
    edge = connected(Timestamp=samples.iso(NOW - dt.timedelta(seconds=300)))
    assert len(twilio_events(*samples.twilio_post(edge))) == 1


def test_a_twilio_callback_to_another_path_is_404() -> None:
    with pytest.raises(Rejected) as caught:
        twilio_events(*samples.twilio_post(connected()), path="extra")
    assert (caught.value.status, caught.value.why) == (404, "no such Twilio callback path")


def test_the_callback_url_may_carry_the_port_twilio_may_sign_with() -> None:
    """Twilio signs some URLs with :443 and some without; its validator tries both, so do we."""
    with_port = samples.TWILIO_CALLBACK.replace(".net/", ".net:443/")
    assert len(twilio_events(*samples.twilio_post(connected(), url=with_port))) == 1


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        pytest.param("", "VIDEO_WEBHOOK_SECRET is not set", id="no Auth Token"),
        pytest.param("none", "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="placeholder"),
        pytest.param("3d" * 8, "VIDEO_WEBHOOK_SECRET is too short: at least 32 bytes needed", id="too short"),
    ],
)
def test_a_weak_auth_token_verifies_nothing_and_is_named(token: str, problem: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        twilio_events(*samples.twilio_post(connected(), token=token or "x"), token=token)
    assert caught.value.problem == problem


def test_without_a_callback_url_twilio_callbacks_fail_closed_and_name_the_setting() -> None:
    with pytest.raises(Misconfigured) as caught:
        twilio_events(*samples.twilio_post(connected()), callback="")
    assert caught.value.problem == "VIDEO_TWILIO_CALLBACK_URL is not set: status callbacks cannot be verified"


TWILIO_PARAMS = {
    "VIDEO_PROVIDER": "twilio",
    "VIDEO_DOMAIN": "visit.clinic.test",
    "VIDEO_APP_ID": samples.TWILIO_API_KEY,
    "VIDEO_ACCOUNT_ID": samples.TWILIO_ACCOUNT,
}
CALLBACK_PROBLEM = (
    "VIDEO_TWILIO_CALLBACK_URL must be the https URL of video_events/twilio as configured at Twilio "
    "(ending in /twilio, no query)"
)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://clinic.example/video_events/twilio", id="plain http off the loopback"),
        pytest.param("https://clinic.example/video_events/twilio?x=1", id="a query"),
        pytest.param("https://clinic.example/video_events/twilio/", id="a trailing slash"),
        pytest.param("https://clinic.example/video_events/jitsi", id="another provider's path"),
        pytest.param("https://Clinic.example/video_events/twilio", id="an uppercase host"),
        pytest.param("clinic.example/video_events/twilio", id="no scheme"),
        pytest.param("https://clinic.example/xtwilio", id="twilio not a path segment"),
    ],
)
def test_a_callback_url_twilio_could_not_have_signed_is_a_config_error(url: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        config_from_params({**TWILIO_PARAMS, "VIDEO_TWILIO_CALLBACK_URL": url})
    assert caught.value.problem == CALLBACK_PROBLEM


@pytest.mark.parametrize(
    "url",
    [
        samples.TWILIO_CALLBACK,
        "https://video-events-abc123-ew.a.run.app/twilio",
        "http://127.0.0.1:5401/demo-telehealth/us-central1/video_events/twilio",
        "https://clinic.example:8443/video_events/twilio",
    ],
)
def test_callback_urls_as_cloud_functions_and_the_emulator_serve_them_are_accepted(url: str) -> None:
    assert config_from_params({**TWILIO_PARAMS, "VIDEO_TWILIO_CALLBACK_URL": url}).options.callback_url == url


def test_the_callback_url_is_for_twilio_deployments_only() -> None:
    with pytest.raises(Misconfigured) as caught:
        video_config(
            provider="jitsi", domain="meet.clinic.test", app_id="a", twilio_callback_url=samples.TWILIO_CALLBACK
        )
    assert caught.value.problem == "VIDEO_TWILIO_CALLBACK_URL is for provider twilio only"


def test_the_form_parser_keeps_every_value_and_blank_ones() -> None:
    params = twilio_provider.form_params(b"A=1&A=2&B=&C=x%20y")
    assert dict(params) == {"A": ["1", "2"], "B": [""], "C": ["x y"]}
    assert params.getall("A") == ["1", "2"]


# Zoom --------------------------------------------------------------------------------------------------------


def zoom_settings() -> Settings:
    config = video_config(provider="zoom", domain="visit.clinic.test", app_id="zoomSdkKey123")
    return Settings(config, SigningKey("HS256", HMAC_SECRET.encode()))


def zoom_outcome(body: bytes, headers: dict[str, str], secret: str = samples.ZOOM_SECRET_TOKEN) -> WebhookOutcome:
    return zoom_provider.events(WebhookRequest("", headers, body, NOW), deployment(zoom_settings(), secret))


def zoom_events(body: bytes, headers: dict[str, str], secret: str = samples.ZOOM_SECRET_TOKEN) -> list[AttendanceEvent]:
    outcome = zoom_outcome(body, headers, secret)
    assert isinstance(outcome, list)
    return outcome


def joined(**changes: Any) -> dict[str, Any]:
    return samples.zoom_payload("session.user_joined", ROOM, NOW, **changes)


def test_a_zoom_user_joined_webhook_signed_as_zoom_signs_it_verifies() -> None:
    [event] = zoom_events(*samples.zoom_post(joined(user_key="doctor"), NOW_TS))
    assert (event.room, event.kind, event.role, event.at) == (ROOM, "joined", "moderator", NOW)
    user = joined()["payload"]["object"]["user"]
    assert event.event_id == derived_event_id(
        "zoom", "joined", samples.ZOOM_SESSION_ID, user["participant_uuid"], user["join_time"]
    )
    assert event.event_id == "7b577bba8d0fa7c886c62c11824de3b3835c59c3"  # pinned: stored ids never change


def test_a_zoom_user_left_is_a_leave_and_a_rejoin_is_a_new_event() -> None:
    left = samples.zoom_payload("session.user_left", ROOM, NOW - dt.timedelta(minutes=2))
    rejoined = samples.zoom_payload("session.user_joined", ROOM, NOW - dt.timedelta(minutes=1))
    [leave] = zoom_events(*samples.zoom_post(left, NOW_TS))
    [first] = zoom_events(*samples.zoom_post(joined(), NOW_TS))
    [second] = zoom_events(*samples.zoom_post(rejoined, NOW_TS))
    assert (leave.kind, leave.role, leave.at) == ("left", "guest", NOW - dt.timedelta(minutes=2))
    assert len({leave.event_id, first.event_id, second.event_id}) == 3


def test_a_zoom_session_name_is_our_room_whatever_its_case() -> None:
    """Zoom's session names are case-insensitive (its auth docs on ``tpc``); our room names are lowercase."""
    [event] = zoom_events(*samples.zoom_post(joined(session_name=ROOM.upper()), NOW_TS))
    assert event.room == ROOM


def test_without_a_participant_uuid_zooms_user_id_names_the_participant() -> None:
    """Zoom added participant_uuid in 2025; older payloads have only the session's user id."""
    payload = joined()
    del payload["payload"]["object"]["user"]["participant_uuid"]
    [event] = zoom_events(*samples.zoom_post(payload, NOW_TS))
    user = payload["payload"]["object"]["user"]
    assert event.event_id == derived_event_id("zoom", "joined", samples.ZOOM_SESSION_ID, user["id"], user["join_time"])


def test_the_zoom_session_id_names_the_session_and_its_id_stands_in_without_it() -> None:
    [by_session_id] = zoom_events(*samples.zoom_post(joined(session_id="S-one", id="S-two"), NOW_TS))
    [by_id] = zoom_events(*samples.zoom_post(joined(session_id="", id="S-two"), NOW_TS))
    user = joined()["payload"]["object"]["user"]
    for event, session in ((by_session_id, "S-one"), (by_id, "S-two")):
        assert event.event_id == derived_event_id(
            "zoom", "joined", session, user["participant_uuid"], user["join_time"]
        )


@pytest.mark.parametrize(
    ("user_key", "role"),
    [("patient", "guest"), ("doctor", "moderator"), ("cloud-recorder", None), (None, None)],
    ids=["the patient", "the doctor", "anyone else", "no user key"],
)
def test_a_zoom_role_comes_from_our_identities_only(user_key: str | None, role: str | None) -> None:
    [event] = zoom_events(*samples.zoom_post(joined(user_key=user_key), NOW_TS))
    assert event.role == role


def test_the_url_validation_challenge_is_answered_with_the_hmac_of_its_plain_token() -> None:
    outcome = zoom_outcome(*samples.zoom_post(samples.url_validation(at=NOW), NOW_TS))
    expected = hmac.new(samples.ZOOM_SECRET_TOKEN.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert outcome == WebhookReply({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected})


def test_an_unsigned_url_validation_gets_no_answer() -> None:
    body, _ = samples.zoom_post(samples.url_validation(at=NOW), NOW_TS)
    with pytest.raises(Rejected) as caught:
        zoom_outcome(body, {})
    assert (caught.value.status, caught.value.why) == (401, "no Zoom signature")


@pytest.mark.parametrize(
    "event", ["session.started", "session.ended", "session.sharing_started", "session.recording_completed"]
)
def test_zoom_events_with_nothing_to_record_are_accepted_and_ignored(event: str) -> None:
    assert zoom_events(*samples.zoom_post(joined() | {"event": event}, NOW_TS)) == []


def _bad_zoom(case: str) -> tuple[bytes, dict[str, str]]:
    body, headers = samples.zoom_post(joined(), NOW_TS)
    if case == "unsigned":
        return body, {"Content-Type": "application/json"}
    if case == "no timestamp":
        return body, {key: value for key, value in headers.items() if key != "x-zm-request-timestamp"}
    if case == "no signature":
        return body, {key: value for key, value in headers.items() if key != "x-zm-signature"}
    if case == "wrong secret":
        return samples.zoom_post(joined(), NOW_TS, secret="another-secret-token12")
    if case == "tampered":
        return body.replace(b'"patient"', b'"doctor"'), headers
    if case == "timestamp moved":
        return body, _with(headers, **{"x-zm-request-timestamp": str(NOW_TS + 1)})
    if case == "signature without v0=":
        return body, _with(headers, **{"x-zm-signature": headers["x-zm-signature"].removeprefix("v0=")})
    if case == "uppercase hex":
        return body, _with(headers, **{"x-zm-signature": "v0=" + headers["x-zm-signature"][3:].upper()})
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("unsigned", "no Zoom signature"),
        ("no timestamp", "no Zoom signature"),
        ("no signature", "no Zoom signature"),
        ("wrong secret", "Zoom signature does not verify"),
        ("tampered", "Zoom signature does not verify"),
        ("timestamp moved", "Zoom signature does not verify"),
        ("signature without v0=", "Zoom signature does not verify"),
        ("uppercase hex", "Zoom signature does not verify"),
    ],
)
def test_badly_signed_zoom_webhooks_are_401(case: str, why: str) -> None:
    with pytest.raises(Rejected) as caught:
        zoom_outcome(*_bad_zoom(case))
    assert (caught.value.status, caught.value.why) == (401, why)


def _signed_body(body: bytes) -> tuple[bytes, dict[str, str]]:
    return samples.zoom_post(body, NOW_TS)


def _user(**changes: Any) -> dict[str, Any]:
    payload = joined()
    payload["payload"]["object"]["user"] |= changes
    return payload


@pytest.mark.parametrize(
    ("post", "why"),
    [
        pytest.param(samples.zoom_post(joined(), NOW_TS - 301), "stale event", id="stale"),
        pytest.param(samples.zoom_post(joined(), NOW_TS + 301), "stale event", id="from the future"),
        pytest.param(samples.zoom_post(joined(), -5), "signature timestamp is not a number", id="a negative stamp"),
        pytest.param(_signed_body(b"not json"), "body is not JSON", id="not JSON"),
        pytest.param(_signed_body(b"[1, 2]"), "payload is not an object", id="a list"),
        pytest.param(samples.zoom_post(joined() | {"event": 7}, NOW_TS), "event is not text", id="a numeric event"),
        pytest.param(
            samples.zoom_post(joined() | {"payload": "x"}, NOW_TS), "payload without payload", id="payload text"
        ),
        pytest.param(
            samples.zoom_post({"event": "session.user_joined", "payload": {}}, NOW_TS),
            "payload without object",
            id="no object",
        ),
        pytest.param(samples.zoom_post(joined(user=["x"]), NOW_TS), "payload without user", id="user a list"),
        pytest.param(
            samples.zoom_post(joined(session_name=5), NOW_TS), "session_name is not text", id="numeric session name"
        ),
        pytest.param(
            samples.zoom_post(joined(session_name=""), NOW_TS),
            "payload without session name or id",
            id="empty session name",
        ),
        pytest.param(
            samples.zoom_post(joined(session_id="", id=""), NOW_TS),
            "payload without session name or id",
            id="no session id",
        ),
        pytest.param(
            samples.zoom_post(_user(join_time="soon"), NOW_TS), "join_time is not an ISO 8601 time", id="bad join time"
        ),
        pytest.param(samples.zoom_post(_user(join_time=None), NOW_TS), "join_time is not text", id="null join time"),
        pytest.param(
            samples.zoom_post(_user(user_key=["doctor"]), NOW_TS), "user_key is not text", id="user key a list"
        ),
        pytest.param(
            samples.zoom_post(_user(participant_uuid=1), NOW_TS), "participant_uuid is not text", id="numeric uuid"
        ),
        pytest.param(
            samples.zoom_post(samples.url_validation(challenge=12, at=NOW), NOW_TS),
            "plainToken is not text",
            id="numeric plainToken",
        ),
        pytest.param(
            samples.zoom_post(samples.url_validation(challenge="", at=NOW), NOW_TS),
            "plainToken missing or too long",
            id="empty plainToken",
        ),
        pytest.param(
            samples.zoom_post(samples.url_validation(challenge="p" * 257, at=NOW), NOW_TS),
            "plainToken missing or too long",
            id="a huge plainToken",
        ),
    ],
)
def test_signed_but_malformed_or_stale_zoom_webhooks_are_400(post: tuple[bytes, dict[str, str]], why: str) -> None:
    with pytest.raises(Rejected) as caught:
        zoom_outcome(*post)
    assert (caught.value.status, caught.value.why) == (400, why)


def test_edges_zoom_accepts() -> None:
    assert len(zoom_events(*samples.zoom_post(joined(), NOW_TS - 300))) == 1  # exactly five minutes old
    assert len(zoom_events(*samples.zoom_post(joined(), NOW_TS * 1000))) == 1  # a stamp in milliseconds
    plain = "p" * 256
    outcome = zoom_outcome(*samples.zoom_post(samples.url_validation(challenge=plain, at=NOW), NOW_TS))
    assert isinstance(outcome, WebhookReply)
    assert outcome.body["plainToken"] == plain


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        pytest.param("", "VIDEO_WEBHOOK_SECRET is not set", id="empty"),
        pytest.param("changeme", "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="placeholder"),
        pytest.param(
            "R8GpGCQNSoq5xCbDL8YyN", "VIDEO_WEBHOOK_SECRET is too short: at least 22 bytes needed", id="21 bytes"
        ),
    ],
)
def test_a_weak_zoom_secret_token_verifies_nothing_and_is_named(secret: str, problem: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        zoom_outcome(*samples.zoom_post(joined(), NOW_TS, secret=secret or "x"), secret=secret)
    assert caught.value.problem == problem


def test_a_22_character_secret_token_as_zoom_generates_it_is_enough() -> None:
    assert len(samples.ZOOM_SECRET_TOKEN) == 22
    assert len(zoom_events(*samples.zoom_post(joined(), NOW_TS))) == 1


def test_zoom_signs_the_raw_body_so_reformatted_json_does_not_verify() -> None:
    body, headers = samples.zoom_post(joined(), NOW_TS)
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    with pytest.raises(Rejected) as caught:
        zoom_outcome(reformatted, headers)
    assert (caught.value.status, caught.value.why) == (401, "Zoom signature does not verify")
