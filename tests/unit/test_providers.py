"""Twilio Video and Zoom Video SDK tokens, OpenVidu through LiveKit: claims decoded and checked, against references."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from conftest import HMAC_SECRET, NOW_S
from livekit.api import TokenVerifier
from support.configs import video_config
from twilio.jwt import access_token as twilio_access_token
from twilio.jwt.access_token.grants import VideoGrant

from telehealth.access import Grant
from telehealth.config import Settings, VideoConfig
from telehealth.errors import Misconfigured
from telehealth.providers import build_settings, room_url
from telehealth.tokens import issue_token, participant_for, token_expiry

ROOM = "abcdefghijklmnopqrstuvwxyz234567"
API_KEY = "SK" + "0123456789abcdef" * 2
ACCOUNT = "AC" + "fedcba9876543210" * 2
TWILIO_SECRET = "twilio-api-key-secret-0123456789ab"  # 34 bytes


def grant(role: str = "guest", lifetime: int = 3600, now: int = NOW_S) -> Grant:
    return Grant(role=role, room_name=ROOM, issued_at=now, not_before=now - 10, expires_at=now + lifetime)  # type: ignore[arg-type]


def issue(g: Grant, settings: Settings) -> str:
    return issue_token(g, participant_for(g, {}, None, settings.config), settings)


def twilio_config(**overrides: Any) -> VideoConfig:
    base: dict[str, Any] = {
        "provider": "twilio",
        "domain": "visit.clinic.test",
        "app_id": API_KEY,
        "account_id": ACCOUNT,
    }
    return video_config(**{**base, **overrides})


def zoom_config(**overrides: Any) -> VideoConfig:
    return video_config(**{"provider": "zoom", "domain": "visit.clinic.test", "app_id": "zoomSdkKey123", **overrides})


@pytest.mark.parametrize(("role", "identity"), [("moderator", "doctor"), ("guest", "patient")])
def test_twilio_token_is_exactly_what_the_twilio_package_makes(
    monkeypatch: pytest.MonkeyPatch, role: str, identity: str
) -> None:
    g = grant(role)
    ours = issue(g, build_settings(twilio_config(), TWILIO_SECRET))

    # The reference, made by Twilio's own AccessToken + VideoGrant for the same inputs and clock.
    monkeypatch.setattr(twilio_access_token.time, "time", lambda: NOW_S)
    reference = twilio_access_token.AccessToken(
        ACCOUNT, API_KEY, TWILIO_SECRET, identity=identity, nbf=g.not_before, valid_until=g.expires_at
    )
    reference.add_grant(VideoGrant(room=ROOM))
    theirs = reference.to_jwt()

    assert jwt.get_unverified_header(ours) == jwt.get_unverified_header(theirs)
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}
    decode = {"algorithms": ["HS256"], "options": {"verify_exp": False}}
    assert jwt.decode(ours, TWILIO_SECRET, **decode) == jwt.decode(theirs, TWILIO_SECRET, **decode)
    assert jwt.decode(ours, TWILIO_SECRET, **decode)["grants"] == {"identity": identity, "video": {"room": ROOM}}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(ours, TWILIO_SECRET + "x", **decode)


@pytest.mark.parametrize(("role", "role_type"), [("moderator", 1), ("guest", 0)])
def test_zoom_token_claims_and_types(role: str, role_type: int) -> None:
    token = issue(grant(role), build_settings(zoom_config(), HMAC_SECRET))

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {
        "app_key": "zoomSdkKey123",
        "tpc": ROOM,
        "role_type": role_type,
        "version": 1,
        "iat": NOW_S,
        "exp": NOW_S + 3600,
        "user_identity": "doctor" if role == "moderator" else "patient",
    }
    assert all(type(claims[name]) is int for name in ("role_type", "version", "iat", "exp"))
    assert len(claims["user_identity"]) < 35
    assert len(claims["tpc"]) <= 200


@pytest.mark.parametrize(
    ("lifetime", "zoom_lifetime"),
    [
        pytest.param(60, 1800, id="a minute left in the window: Zoom's 30-minute minimum"),
        pytest.param(1799, 1800, id="just under the minimum"),
        pytest.param(1800, 1800, id="exactly the minimum"),
        pytest.param(3600, 3600, id="the usual TTL"),
        pytest.param(24 * 3600, 24 * 3600, id="the longest TTL the params allow"),
    ],
)
def test_zoom_expiry_follows_zooms_lifetime_rule(lifetime: int, zoom_lifetime: int) -> None:
    g = grant(lifetime=lifetime)
    claims = jwt.decode(issue(g, build_settings(zoom_config(), HMAC_SECRET)), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == zoom_lifetime
    assert token_expiry(g, zoom_config()) == claims["exp"]
    assert 1800 <= claims["exp"] - claims["iat"] <= 48 * 3600


@pytest.mark.parametrize("config", [twilio_config(), video_config(provider="jitsi", domain="m.test", app_id="a")])
def test_other_providers_expire_with_the_grant(config: VideoConfig) -> None:
    assert token_expiry(grant(lifetime=60), config) == NOW_S + 60


def test_an_openvidu_3_deployment_takes_the_same_livekit_token() -> None:
    """OpenVidu 3 runs LiveKit: provider livekit, its host as domain, its LiveKit API key and secret."""
    config = video_config(provider="livekit", domain="openvidu.clinic.test", app_id="devkey")
    token = issue(grant("moderator", now=int(time.time())), build_settings(config, HMAC_SECRET))
    verified = TokenVerifier("devkey", HMAC_SECRET).verify(token)
    assert verified.video is not None
    assert (verified.video.room, verified.video.room_join, verified.video.room_admin) == (ROOM, True, True)
    assert room_url(config, ROOM) == f"https://openvidu.clinic.test/{ROOM}"


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        pytest.param({"provider": "twilio", "app_id": "APIkey"}, "VIDEO_APP_ID", id="twilio: app id not an SK sid"),
        pytest.param({"provider": "twilio", "app_id": API_KEY.upper()}, "VIDEO_APP_ID", id="twilio: uppercase hex"),
        pytest.param({"provider": "twilio", "app_id": API_KEY}, "VIDEO_ACCOUNT_ID", id="twilio: no account sid"),
        pytest.param(
            {"provider": "twilio", "app_id": API_KEY, "account_id": "AC123"}, "VIDEO_ACCOUNT_ID", id="twilio: short sid"
        ),
        pytest.param({"provider": "zoom"}, "VIDEO_APP_ID", id="zoom: no SDK key"),
        pytest.param(
            {"provider": "zoom", "app_id": "k", "domain": ""}, "VIDEO_DOMAIN", id="zoom: no meeting page host"
        ),
        pytest.param(
            {"provider": "jitsi", "app_id": "a", "account_id": ACCOUNT}, "VIDEO_ACCOUNT_ID", id="account sid elsewhere"
        ),
    ],
)
def test_provider_params_fail_closed_naming_the_setting(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        video_config(**{"domain": "visit.clinic.test", **config})
    assert problem in caught.value.problem


@pytest.mark.parametrize("provider", ["twilio", "zoom"])
def test_a_short_secret_fails_closed_without_echoing_it(provider: str) -> None:
    config = twilio_config() if provider == "twilio" else zoom_config()
    with pytest.raises(Misconfigured) as caught:
        build_settings(config, "short-secret-31-bytes-long-xxxx")
    assert "VIDEO_SIGNING_KEY is too short" in caught.value.problem
    assert "short-secret" not in caught.value.problem
