"""Vonage Video: client tokens equal to the vonage package's own, claim for claim; the session created at
assignment through the package against an HTTPS loopback stand-in (tests/standins.py); the join's answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from conftest import DOCTOR, DOCTOR_CLAIMS, NOW_S, PATIENT, appointment, serial_transactional, snapshot
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mockfirestore import MockFirestore
from standins import VonageVideo, loopback_certificate, serve
from support.configs import video_config
from support.fakes import FakeDB
from vonage_http_client import Auth, HttpClient
from vonage_video import Video
from vonage_video.models import TokenOptions, TokenRole

from telehealth import gate, join, lifecycle
from telehealth.access import Grant
from telehealth.config import Settings, VideoConfig
from telehealth.errors import Misconfigured, NotJoinable, ProviderCallFailed, error_code
from telehealth.providers import build_settings, vonage
from telehealth.providers.base import Deployment, Participant
from telehealth.ratelimit import RateLimiter
from telehealth.store import appointments
from telehealth.tokens import issue_token

APPLICATION = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SESSION = "2_MX4wZjFlMmQzYy00YjVhLTY5Nzgtfn4xNzAwMDAwMDAwMDAwfn5-fg"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any, form: Any = serialization.PrivateFormat.PKCS8) -> str:
    text: bytes = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    return text.decode()


def public_pem(key: Any) -> bytes:
    text: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return text


def vonage_config(**changes: Any) -> VideoConfig:
    return video_config(**{"provider": "vonage", "app_id": APPLICATION, **changes})


def settings_for(config: VideoConfig | None = None, key: str | None = None) -> Settings:
    return build_settings(config or vonage_config(), key or pem(KEY))


def package_token(grant: Grant, who: Participant, role: TokenRole) -> str:
    """What the vonage package's own generator makes for the same session, role, data and expiry."""
    client = Video(HttpClient(Auth(application_id=APPLICATION, private_key=pem(KEY))))
    options = TokenOptions(
        session_id=SESSION, role=role, connection_data=vonage.connection_data(who), exp=grant.expires_at
    )
    token: bytes = client.generate_client_token(options)
    return token.decode()


def decoded(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, KEY.public_key(), algorithms=["RS256"])
    return claims


# Client tokens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "who", "package_role"),
    [
        pytest.param("moderator", Participant("doctor", "Dr. Ada"), TokenRole.MODERATOR, id="the doctor moderates"),
        pytest.param("guest", Participant("patient", "Pat · patient"), TokenRole.PUBLISHER, id="the patient publishes"),
        pytest.param(
            "guest", Participant("patient", "Pat · patient", "pat@example.test"), TokenRole.PUBLISHER, id="with email"
        ),
    ],
)
def test_a_client_token_equals_the_vonage_packages_claim_for_claim_but_iat_and_jti(
    role: Any, who: Participant, package_role: TokenRole
) -> None:
    now = int(time.time())  # the package refuses an expiry in the past of the real clock
    grant = Grant(role, "r" * 32, now, now - 10, now + 600, provider_room_id=SESSION)

    ours, theirs = issue_token(grant, who, settings_for()), package_token(grant, who, package_role)

    assert jwt.get_unverified_header(ours) == jwt.get_unverified_header(theirs) == {"alg": "RS256", "typ": "JWT"}
    mine, package = decoded(ours), decoded(theirs)
    assert mine["iat"] == now
    assert mine["jti"] != package["jti"]
    assert {k: v for k, v in mine.items() if k not in ("iat", "jti")} == {
        k: v for k, v in package.items() if k not in ("iat", "jti")
    }


def test_a_client_token_carries_exactly_these_claims() -> None:
    grant = Grant("guest", "r" * 32, NOW_S, NOW_S - 10, NOW_S + 600, provider_room_id=SESSION)
    claims = vonage.claims(grant, Participant("patient", "Pat · patient"), vonage_config())
    assert len(claims.pop("jti")) == 36
    assert claims == {
        "application_id": APPLICATION,
        "scope": "session.connect",
        "subject": "video",
        "acl": {"paths": {"/session/**": {}}},
        "session_id": SESSION,
        "role": "publisher",
        "connection_data": '{"identity":"patient","name":"Pat \\u00b7 patient"}',
        "iat": NOW_S,
        "exp": NOW_S + 600,
    }
    again = vonage.claims(grant, Participant("patient", "Pat"), vonage_config())
    assert again["jti"] != vonage.claims(grant, Participant("patient", "Pat"), vonage_config())["jti"]


# Configuration ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param(
            {"app_id": "46012345"},
            "VIDEO_APP_ID must be the Vonage application id (a lowercase UUID) for provider vonage",
            id="an OpenTok API key",
        ),
        pytest.param(
            {"app_id": APPLICATION.upper()},
            "VIDEO_APP_ID must be the Vonage application id (a lowercase UUID) for provider vonage",
            id="an uppercase UUID",
        ),
        pytest.param(
            {"app_id": APPLICATION + "0"},
            "VIDEO_APP_ID must be the Vonage application id (a lowercase UUID) for provider vonage",
            id="a UUID and more",
        ),
        pytest.param(
            {"server_api": "http://127.0.0.1:8080"},
            "VIDEO_SERVER_API_URL must be https:// for provider vonage",
            id="plain HTTP",
        ),
    ],
)
def test_each_unusable_vonage_setting_is_named(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(Misconfigured) as raised:
        vonage_config(**changes)
    assert raised.value.problem == problem


def test_the_video_host_defaults_to_vonages_and_follows_the_server_api_url() -> None:
    assert vonage_config().options == "video.api.vonage.com"
    assert vonage_config().domain == "video.api.vonage.com"
    assert vonage_config(server_api="https://127.0.0.1:8443").options == "127.0.0.1:8443"
    assert vonage_config().creates_rooms is True


def test_the_signing_key_is_the_applications_rsa_key_in_either_pem_form() -> None:
    traditional = settings_for(key=pem(KEY, serialization.PrivateFormat.TraditionalOpenSSL))
    deployment = Deployment(config=vonage_config, settings=lambda: traditional, secret=pytest.fail)
    assert vonage.private_key_pem(deployment) == pem(KEY)  # the package takes PKCS#8 only
    with pytest.raises(Misconfigured):
        settings_for(key="an-hmac-secret-is-no-vonage-key-0123456789")


# The session, created at assignment --------------------------------------------------------------------------


@pytest.fixture
def video_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Vonage's Video API stand-in over HTTPS; requests trusts its certificate and nothing else changes."""
    certificate = loopback_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    VonageVideo.reset(APPLICATION, public_pem(KEY))
    with serve(VonageVideo, tls=certificate) as url:
        yield url


def deployment_at(url: str, key: Any = KEY) -> Deployment:
    settings = settings_for(vonage_config(server_api=url), pem(key))
    return Deployment(config=lambda: settings.config, settings=lambda: settings, secret=pytest.fail)


def test_a_session_is_created_through_the_package_as_the_rest_api_wants_it(video_api: str) -> None:
    before = int(time.time())

    session_id = vonage.create_session("r" * 32, NOW_S, deployment_at(video_api), NOW_S)

    assert VonageVideo.sessions == [session_id]
    # Routed (media through Vonage's router, no peer-to-peer), archived only on request (no archiveMode), as
    # the package sends it: its media_mode field besides the REST API's p2p.preference.
    assert VonageVideo.forms == [{"media_mode": ["routed"], "p2p.preference": ["disabled"]}]
    [headers] = VonageVideo.headers_seen
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    [claims] = VonageVideo.jwt_claims
    assert claims["application_id"] == APPLICATION
    assert before <= claims["iat"] <= claims["exp"] - 60


@pytest.mark.parametrize(
    ("key", "fail_with", "status"),
    [
        pytest.param(OTHER_KEY, None, 401, id="another application's key"),
        pytest.param(KEY, 500, 500, id="a server error"),
        pytest.param(KEY, 429, 429, id="rate limited"),
    ],
)
def test_a_refused_session_creation_raises_provider_call_failed(
    video_api: str, key: Any, fail_with: int | None, status: int
) -> None:
    VonageVideo.fail_with = fail_with
    with pytest.raises(ProviderCallFailed) as raised:
        vonage.create_session("r" * 32, NOW_S, deployment_at(video_api, key), NOW_S)
    assert (raised.value.status, raised.value.why) == (status, "Vonage refused to create the session")
    assert VonageVideo.sessions == []


def test_the_packages_request_log_never_shows_the_application_token(
    video_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vonage.create_session("r" * 32, NOW_S, deployment_at(video_api), NOW_S)
    assert [record for record in caplog.records if record.name.startswith("vonage")] == []
    assert "Bearer" not in caplog.text
    assert logging.getLogger().level == logging.DEBUG  # only the package's logger is quietened


def test_a_session_answer_without_an_id_is_a_failure_to_retry(video_api: str) -> None:
    VonageVideo.session_ids = [""]
    with pytest.raises(ProviderCallFailed) as raised:
        vonage.create_session("r" * 32, NOW_S, deployment_at(video_api), NOW_S)
    assert (raised.value.status, raised.value.why) == (200, "Vonage answered without a session id")


def test_a_video_api_that_does_not_answer_in_time_fails_the_attempt(
    video_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vonage, "REQUEST_TIMEOUT_SECONDS", 1)
    VonageVideo.delay = 2.5
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        vonage.create_session("r" * 32, NOW_S, deployment_at(video_api), NOW_S)
    assert time.monotonic() - started < 2.5


def test_an_assignment_records_the_session_as_the_provider_room(
    video_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)
    db = FakeDB()
    db.put("appointments/a1", appointment(status="pending", video=None))
    before = db.docs["appointments/a1"]
    db.put("appointments/a1", {**before, "status": "confirmed"})
    deployment = deployment_at(video_api)

    outcome = lifecycle.on_appointment_written(
        db,
        "a1",
        before,
        db.docs["appointments/a1"],
        db.times["appointments/a1"],
        params={"VIDEO_PROVIDER": "vonage"},
        config=deployment.config,
        deployment=deployment,
        now=NOW_S,
        on_failure=pytest.fail,
    )

    assert outcome.room_created is True
    assert db.docs["appointments/a1"]["video"]["providerRoomId"] == VonageVideo.sessions[0]
    assert db.docs["appointments/a1"]["video"]["provider"] == "vonage"


# The join ------------------------------------------------------------------------------------------------


def joined(db: MockFirestore, uid: str, stored: dict[str, Any]) -> dict[str, Any]:
    db.collection("appointments").document("a1").set(stored)
    policy = gate.Policy(
        settings=settings_for,
        session_check=lambda: lambda: True,
        app_check_passes=lambda: True,
        limiter=RateLimiter(1000),
    )
    caller = gate.Caller(uid, DOCTOR_CLAIMS if uid == DOCTOR else {})
    return join.get_join_token(db, caller=caller, data={"appointmentId": "a1"}, policy=policy, now=NOW_S)


def vonage_visit(provider_room: str | None = SESSION) -> dict[str, Any]:
    stored = appointment()
    stored["video"] = {**stored["video"], "provider": "vonage"}
    if provider_room is not None:
        stored["video"]["providerRoomId"] = provider_room
    return stored


@pytest.mark.parametrize(("uid", "role"), [(DOCTOR, "moderator"), (PATIENT, "publisher")], ids=["doctor", "patient"])
def test_the_join_answer_adds_the_session_and_the_application(db: MockFirestore, uid: str, role: str) -> None:
    answer = joined(db, uid, vonage_visit())

    assert (answer["sessionId"], answer["applicationId"], answer["provider"]) == (SESSION, APPLICATION, "vonage")
    claims = jwt.decode(answer["token"], KEY.public_key(), algorithms=["RS256"], options={"verify_exp": False})
    assert (claims["session_id"], claims["role"], claims["exp"]) == (SESSION, role, answer["expiresAt"])


@pytest.mark.parametrize("provider_room", [None, ""], ids=["no providerRoomId yet", "an empty one"])
def test_a_room_not_created_at_vonage_yet_is_room_not_ready_and_only_audited(
    db: MockFirestore, provider_room: str | None
) -> None:
    stored = vonage_visit(provider_room)
    if provider_room == "":
        stored["video"]["providerRoomId"] = ""
    db.collection("appointments").document("a1").set(stored)
    untouched = snapshot(db)

    with pytest.raises(NotJoinable) as raised:
        joined(db, PATIENT, stored)

    assert (error_code(raised.value), raised.value.details()) == ("failed-precondition", {"reason": "room_not_ready"})
    after = snapshot(db)
    [record] = after.pop("videoAccessLog").values()
    assert (record["outcome"], record["reason"], record["role"]) == ("denied", "room_not_ready", "guest")
    assert after == untouched


@pytest.mark.parametrize(
    ("who", "data"),
    [
        pytest.param(Participant("doctor", "Dr. Ada"), '{"identity":"doctor","name":"Dr. Ada"}', id="no email"),
        pytest.param(
            Participant("patient", "Pat", "pat@example.test"),
            '{"identity":"patient","name":"Pat","email":"pat@example.test"}',
            id="with the verified email",
        ),
    ],
)
def test_the_connection_data_names_the_identity_and_the_display_name(who: Participant, data: str) -> None:
    assert vonage.connection_data(who) == data
