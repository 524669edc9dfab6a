"""Each provider's token, decoded and checked claim by claim (types too); keys checked at load."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from conftest import HMAC_SECRET, NOW_S, jitsi_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from livekit.api import TokenVerifier
from support.configs import video_config

from telehealth.access import Grant
from telehealth.config import Settings, VideoConfig, load_signing_key
from telehealth.errors import Misconfigured
from telehealth.providers import build_settings, room_url
from telehealth.tokens import issue_token, participant_for, token_features

ROOM = "abcdefghijklmnopqrstuvwxyz234567"
FEATURES = {"recording", "livestreaming", "transcription", "outbound-call", "sip-outbound-call"}


def grant(role: str = "guest", now: int = NOW_S) -> Grant:
    return Grant(role=role, room_name=ROOM, issued_at=now, not_before=now - 10, expires_at=now + 3600)  # type: ignore[arg-type]


def consented(g: Grant, config: VideoConfig, consent: bool) -> Grant:
    """The grant with the features a join would give it for this answer of the patient's."""
    return replace(g, features=token_features(g.role, config, consent))


def issue(g: Grant, claims: dict[str, Any], settings: Settings, entry: dict[str, Any] | None = None) -> str:
    """A token as a join issues it: the participant from the claims (and the directory entry), then signed."""
    return issue_token(g, participant_for(g, claims, entry, settings.config), settings)


def pem(key: Any) -> str:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data.decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jaas_config() -> VideoConfig:
    return video_config(provider="jaas", app_id="vpaas-magic-cookie-0123abcd", key_id="key42")


def livekit_config() -> VideoConfig:
    return video_config(provider="livekit", domain="video.clinic.test", app_id="APIclinic")


@pytest.mark.parametrize("role", ["moderator", "guest"])
def test_jitsi_token_claims_and_types(role: str) -> None:
    token = issue(grant(role), {}, build_settings(jitsi_config(), HMAC_SECRET))

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], audience="jitsi", options={"verify_exp": False})
    assert claims["iss"] == "clinic-app"
    assert claims["aud"] == "jitsi"
    assert claims["sub"] == "meet.clinic.test"
    assert claims["room"] == ROOM
    for name in ("iat", "nbf", "exp"):
        assert type(claims[name]) is int
    assert (claims["nbf"], claims["exp"]) == (NOW_S - 10, NOW_S + 3600)
    user = claims["context"]["user"]
    assert all(type(value) is str for value in user.values())
    assert user["moderator"] == ("true" if role == "moderator" else "false")
    assert user["name"] == ("Doctor" if role == "moderator" else "Patient")
    assert user["id"] == ("doctor" if role == "moderator" else "patient")
    assert user["email"] == ""
    assert claims["context"]["features"] == dict.fromkeys(FEATURES, "false")
    assert "moderator" not in claims


@pytest.mark.parametrize(
    ("configured", "consent", "on"),
    [
        pytest.param({"recording", "livestreaming"}, True, {"recording", "livestreaming"}, id="configured, consented"),
        pytest.param(
            {"recording", "livestreaming", "transcription"}, False, set(), id="configured, no consent: all off"
        ),
        pytest.param({"livestreaming"}, True, {"livestreaming"}, id="only what is configured"),
        pytest.param({"transcription"}, False, set(), id="transcription needs consent too"),
    ],
)
def test_every_capture_feature_needs_the_config_and_the_patients_consent(
    configured: set[str], consent: bool, on: set[str]
) -> None:
    settings = build_settings(jitsi_config(doctor_features=frozenset(configured)), HMAC_SECRET)
    options = {"verify_signature": False}

    doctor = jwt.decode(issue(consented(grant("moderator"), settings.config, consent), {}, settings), options=options)
    patient = jwt.decode(issue(consented(grant("guest"), settings.config, consent), {}, settings), options=options)

    assert doctor["context"]["features"] == {name: "true" if name in on else "false" for name in FEATURES}
    assert set(patient["context"]["features"].values()) == {"false"}


def test_jitsi_subject_and_audience_follow_their_params() -> None:
    config = jitsi_config(jitsi_subject="meet.jitsi", jitsi_audience="clinic-aud")
    token = issue(grant(), {}, build_settings(config, HMAC_SECRET))
    claims = jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], audience="clinic-aud", options={"verify_exp": False})
    assert (claims["sub"], claims["aud"]) == ("meet.jitsi", "clinic-aud")


def test_display_name_comes_from_the_id_token_and_email_only_when_enabled() -> None:
    claims_in = {"name": "  Dr. Ada Lovelace ", "email": "ada@clinic.test", "email_verified": True}
    options = {"verify_signature": False}
    without = jwt.decode(issue(grant(), claims_in, build_settings(jitsi_config(), HMAC_SECRET)), options=options)
    with_email = jwt.decode(
        issue(grant(), claims_in, build_settings(jitsi_config(include_email=True), HMAC_SECRET)),
        options=options,
    )
    assert without["context"]["user"]["name"] == "Dr. Ada Lovelace · patient"  # a self-chosen name, labelled
    assert without["context"]["user"]["email"] == ""
    assert "ada@clinic.test" not in repr(without)
    assert with_email["context"]["user"]["email"] == "ada@clinic.test"


@pytest.mark.parametrize("role", ["moderator", "guest"])
def test_jaas_token_is_rs256_with_the_appid_kid(rsa_key: rsa.RSAPrivateKey, role: str) -> None:
    settings = build_settings(jaas_config(), pem(rsa_key))
    token = issue(grant(role), {}, settings)

    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": "vpaas-magic-cookie-0123abcd/key42",
    }
    claims = jwt.decode(
        token,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="jitsi",
        issuer="chat",
        options={"verify_exp": False},
    )
    assert claims["sub"] == "vpaas-magic-cookie-0123abcd"
    assert jwt.get_unverified_header(token)["kid"].split("/")[0] == claims["sub"]
    assert claims["room"] == ROOM
    assert all(type(claims[name]) is int for name in ("iat", "nbf", "exp"))
    assert claims["context"]["user"]["moderator"] == ("true" if role == "moderator" else "false")
    assert set(claims["context"]["features"]) == FEATURES
    assert room_url(settings.config, ROOM) == f"https://8x8.vc/vpaas-magic-cookie-0123abcd/{ROOM}"


@pytest.mark.parametrize(("role", "admin"), [("moderator", True), ("guest", False)])
def test_livekit_token_verifies_with_the_official_verifier(role: str, admin: bool) -> None:
    now = int(time.time())  # the official verifier checks exp against the real clock
    token = issue(grant(role, now), {}, build_settings(livekit_config(), HMAC_SECRET))

    claims = TokenVerifier("APIclinic", HMAC_SECRET).verify(token)

    assert claims.identity == ("doctor" if role == "moderator" else "patient")
    assert claims.name == ("Doctor" if role == "moderator" else "Patient")
    assert claims.video is not None
    assert claims.video.room == ROOM
    assert claims.video.room_join is True
    assert claims.video.room_admin is admin
    assert claims.video.room_create is None
    raw = jwt.decode(token, options={"verify_signature": False})
    assert type(raw["nbf"]) is int
    assert type(raw["exp"]) is int


def test_livekit_token_fails_verification_with_another_secret() -> None:
    token = issue(grant("guest", int(time.time())), {}, build_settings(livekit_config(), HMAC_SECRET))
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier("APIclinic", "another-secret-that-is-long-enough-000").verify(token)


def ec_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


def small_rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


@pytest.mark.parametrize(
    ("provider", "secret", "problem"),
    [
        pytest.param("jitsi", "", "VIDEO_SIGNING_KEY is not set", id="jitsi with no key"),
        pytest.param("jitsi", "   ", "VIDEO_SIGNING_KEY is not set", id="jitsi with a blank key"),
        pytest.param(
            "jitsi",
            "x" * 31,
            "VIDEO_SIGNING_KEY is too short for HS256: 31 bytes, at least 32 needed",
            id="jitsi with a 31-byte key",
        ),
        pytest.param(
            "livekit",
            "y" * 20,
            "VIDEO_SIGNING_KEY is too short for HS256: 20 bytes, at least 32 needed",
            id="livekit with a 20-byte key",
        ),
        pytest.param(
            "jitsi",
            "-----BEGIN PRIVATE KEY-----\nabc\n" + "z" * 40,
            "VIDEO_SIGNING_KEY holds a PEM key, but provider jitsi signs with HMAC",
            id="jitsi given a PEM",
        ),
        pytest.param(
            "jaas",
            "not a pem at all, but long enough to pass",
            "VIDEO_SIGNING_KEY is not an unencrypted PEM private key (provider jaas signs with RS256)",
            id="jaas with garbage",
        ),
        pytest.param(
            "jaas",
            "EC",
            "VIDEO_SIGNING_KEY is not an RSA key (provider jaas signs with RS256)",
            id="jaas with an EC key",
        ),
        pytest.param(
            "jaas", "RSA1024", "VIDEO_SIGNING_KEY is a 1024-bit RSA key, at least 2048 needed", id="jaas 1024-bit"
        ),
    ],
)
def test_weak_or_wrong_keys_fail_closed_without_echoing_the_key(provider: str, secret: str, problem: str) -> None:
    secret = {"EC": ec_pem, "RSA1024": small_rsa_pem}.get(secret, lambda: secret)()
    with pytest.raises(Misconfigured) as caught:
        load_signing_key(provider, "RS256" if provider == "jaas" else "HS256", secret)
    assert caught.value.problem == problem
    if secret.strip():
        assert secret.strip() not in caught.value.problem
        assert secret.strip()[-20:] not in caught.value.problem


def test_a_32_byte_key_is_enough() -> None:
    assert load_signing_key("jitsi", "HS256", "k" * 31 + "j").algorithm == "HS256"


def test_the_rsa_key_is_parsed_once_per_instance(rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    import telehealth.config as config_module

    calls: list[str] = []
    original = config_module.load_rsa_private_key

    def counting(pem_text: str, name: str, use: str) -> object:
        calls.append("parse")
        return original(pem_text, name, use)

    monkeypatch.setattr(config_module, "load_rsa_private_key", counting)
    build_settings.cache_clear()
    key = pem(rsa_key)
    for _ in range(5):
        build_settings(jaas_config(), key)
    assert calls == ["parse"]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param({"provider": "teams"}, "VIDEO_PROVIDER", id="unknown provider"),
        pytest.param({"domain": ""}, "VIDEO_DOMAIN", id="jitsi without a domain"),
        pytest.param({"domain": "https://meet.clinic.test"}, "VIDEO_DOMAIN", id="domain with a scheme"),
        pytest.param({"app_id": ""}, "VIDEO_APP_ID", id="jitsi without an app id"),
        pytest.param({"token_ttl_minutes": 0}, "VIDEO_TOKEN_TTL_MIN", id="zero TTL"),
        pytest.param({"opens_minutes_before": -1}, "VIDEO_JOIN_OPENS_MIN", id="negative opening"),
        pytest.param({"jitsi_subject": "Meet.Jitsi"}, "VIDEO_JITSI_SUB", id="uppercase sub"),
        pytest.param({"doctor_features": frozenset({"screen-sharing"})}, "VIDEO_DOCTOR_FEATURES", id="unknown feature"),
    ],
)
def test_unusable_params_fail_closed(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        jitsi_config(**overrides)
    assert problem in caught.value.problem


def test_jaas_needs_its_key_id() -> None:
    with pytest.raises(Misconfigured) as caught:
        video_config(provider="jaas", app_id="vpaas-magic-cookie-1")
    assert "VIDEO_KEY_ID" in caught.value.problem


@pytest.mark.parametrize(
    ("role", "consent", "email", "expected_video", "expected_extra"),
    [
        pytest.param("guest", False, None, {"roomAdmin": False, "roomRecord": False}, {}, id="the patient"),
        pytest.param("moderator", False, None, {"roomAdmin": True, "roomRecord": False}, {}, id="the doctor"),
        pytest.param("moderator", True, None, {"roomAdmin": True, "roomRecord": True}, {}, id="recording consented"),
        pytest.param(
            "guest",
            False,
            "pat@clinic.test",
            {"roomAdmin": False, "roomRecord": False},
            {"metadata": '{"email": "pat@clinic.test"}'},
            id="with email",
        ),
    ],
)
def test_livekit_claims_are_exactly_these(
    role: str, consent: bool, email: str | None, expected_video: dict[str, Any], expected_extra: dict[str, Any]
) -> None:
    """Every claim, by name and value: LiveKit ignores a misspelt grant, so a call with no media would ship."""
    config = video_config(
        provider="livekit",
        domain="video.clinic.test",
        app_id="APIclinic",
        include_email=True,
        doctor_features=frozenset({"recording"}),
    )
    g = consented(grant(role), config, consent)
    claims_in = {"email": email, "email_verified": True} if email else {}
    claims = jwt.decode(issue(g, claims_in, build_settings(config, HMAC_SECRET)), options={"verify_signature": False})
    assert claims == {
        "iss": "APIclinic",
        "sub": "doctor" if role == "moderator" else "patient",
        "name": "Doctor" if role == "moderator" else "Patient",
        "nbf": NOW_S - 10,
        "exp": NOW_S + 3600,
        "video": {
            "room": ROOM,
            "roomJoin": True,
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
            **expected_video,
        },
        **expected_extra,
    }


@pytest.mark.parametrize("provider", ["jitsi", "jaas"])
@pytest.mark.parametrize("role", ["moderator", "guest"])
def test_jitsi_and_jaas_user_context_is_exactly_these_strings(provider: str, role: str, rsa_key: Any) -> None:
    settings = (
        build_settings(jitsi_config(), HMAC_SECRET)
        if provider == "jitsi"
        else build_settings(jaas_config(), pem(rsa_key))
    )
    claims = jwt.decode(issue(grant(role), {"name": "Ada"}, settings), options={"verify_signature": False})
    doctor = role == "moderator"
    assert claims["context"]["user"] == {
        "id": "doctor" if doctor else "patient",
        "name": "Doctor" if doctor else "Ada · patient",
        "email": "",
        "avatar": "",
        "moderator": "true" if doctor else "false",
    }
    assert set(claims) == {"iss", "aud", "sub", "room", "iat", "nbf", "exp", "context"}
