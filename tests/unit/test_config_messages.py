"""Every unusable setting is refused with the exact problem the server log shows (naming the setting), at
the exact edge; and what the config derives (default sub, JaaS domain, server API URL, parsers)."""

from __future__ import annotations

from typing import Any

import pytest
from support.configs import video_config

from telehealth.config import load_signing_key, parse_features, parse_provider, parse_waiting_room
from telehealth.errors import Misconfigured

SK, AC = "SK" + "0" * 32, "AC" + "0" * 32
JITSI = {"provider": "jitsi", "domain": "meet.clinic.test", "app_id": "app"}

PROBLEMS: list[Any] = [
    ({**JITSI, "provider": "teams"}, "VIDEO_PROVIDER must be one of jitsi, jaas, livekit, twilio, zoom"),
    (
        {**JITSI, "domain": "Meet.Clinic.test"},
        "VIDEO_DOMAIN must be a lowercase host name (optionally :port), no scheme",
    ),
    (
        {**JITSI, "domain": "meet.clinic.test/x"},
        "VIDEO_DOMAIN must be a lowercase host name (optionally :port), no scheme",
    ),
    ({"provider": "livekit", "domain": "lk.test"}, "VIDEO_APP_ID is required for provider livekit"),
    ({"provider": "jaas"}, "VIDEO_APP_ID is required for provider jaas"),
    ({"provider": "zoom", "domain": "v.test"}, "VIDEO_APP_ID is required for provider zoom"),
    ({**JITSI, "app_id": ""}, "VIDEO_APP_ID (the Jitsi app_id, used as iss) is required"),
    ({"provider": "jaas", "app_id": "vpaas-1"}, "VIDEO_KEY_ID (the JaaS API key id) is required for provider jaas"),
    (
        {"provider": "jaas", "app_id": "vpaas-1", "key_id": "vpaas-1/k"},
        "VIDEO_KEY_ID is the key id alone, without the AppID/ prefix",
    ),
    (
        {"provider": "twilio", "domain": "v.test", "app_id": "SK1", "account_id": AC},
        "VIDEO_APP_ID must be a Twilio API key SID (SK and 32 hex digits) for provider twilio",
    ),
    (
        {"provider": "twilio", "domain": "v.test", "app_id": SK, "account_id": "AC1"},
        "VIDEO_ACCOUNT_ID must be a Twilio account SID (AC and 32 hex digits) for twilio",
    ),
    ({**JITSI, "account_id": AC}, "VIDEO_ACCOUNT_ID is for provider twilio only"),
    ({**JITSI, "jitsi_subject": "Meet"}, "VIDEO_JITSI_SUB must be lowercase"),
    ({**JITSI, "jitsi_audience": ""}, "VIDEO_JITSI_AUD must not be empty"),
    ({**JITSI, "opens_minutes_before": 1441}, "VIDEO_JOIN_OPENS_MIN must be between 0 and 1440 minutes"),
    ({**JITSI, "opens_minutes_before": -1}, "VIDEO_JOIN_OPENS_MIN must be between 0 and 1440 minutes"),
    ({**JITSI, "closes_minutes_after": 1441}, "VIDEO_JOIN_CLOSES_MIN must be between 0 and 1440 minutes"),
    ({**JITSI, "closes_minutes_after": -1}, "VIDEO_JOIN_CLOSES_MIN must be between 0 and 1440 minutes"),
    ({**JITSI, "token_ttl_minutes": 0}, "VIDEO_TOKEN_TTL_MIN must be between 1 and 1440 minutes"),
    ({**JITSI, "token_ttl_minutes": 1441}, "VIDEO_TOKEN_TTL_MIN must be between 1 and 1440 minutes"),
    ({**JITSI, "server_api": "ftp://x"}, "VIDEO_SERVER_API_URL must be http(s)://host[:port], nothing after it"),
    ({**JITSI, "server_api": "https://x/path"}, "VIDEO_SERVER_API_URL must be http(s)://host[:port], nothing after it"),
    ({**JITSI, "waiting_room": "lobby"}, "VIDEO_WAITING_ROOM must be one of off, host, admit"),
    (
        {**JITSI, "doctor_features": frozenset({"screen"})},
        "VIDEO_DOCTOR_FEATURES allows only recording, livestreaming, transcription, outbound-call",
    ),
]


@pytest.mark.parametrize(("fields", "problem"), PROBLEMS, ids=[p for _, p in PROBLEMS])
def test_each_unusable_setting_is_refused_with_its_exact_problem(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        video_config(**fields)
    assert caught.value.problem == problem
    assert str(caught.value) == problem


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"opens_minutes_before": 1440, "closes_minutes_after": 1440}, id="a full day each side"),
        pytest.param({"opens_minutes_before": 0, "closes_minutes_after": 0}, id="no margin"),
        pytest.param({"token_ttl_minutes": 1}, id="a one-minute token"),
        pytest.param({"token_ttl_minutes": 1440}, id="a day-long token"),
        pytest.param({"server_api": "http://127.0.0.1:7880"}, id="an http API with a port"),
    ],
)
def test_the_edges_that_are_allowed(fields: dict[str, Any]) -> None:
    video_config(**{**JITSI, **fields})


@pytest.mark.parametrize(
    ("fields", "subject"),
    [
        pytest.param({"domain": "meet.clinic.test:8443"}, "meet.clinic.test", id="the port is not part of sub"),
        pytest.param({"domain": "meet.clinic.test"}, "meet.clinic.test", id="the domain"),
        pytest.param({"jitsi_subject": "meet.jitsi"}, "meet.jitsi", id="set on purpose"),
    ],
)
def test_the_default_jitsi_sub_is_the_host_without_its_port(fields: dict[str, Any], subject: str) -> None:
    assert video_config(**{**JITSI, **fields}).jitsi_subject == subject


def test_jaas_defaults_to_8x8_and_nests_rooms_under_its_app_id() -> None:
    config = video_config(provider="jaas", app_id="vpaas-1", key_id="k")
    assert config.domain == "8x8.vc"
    assert config.room_url("r1") == "https://8x8.vc/vpaas-1/r1"
    assert config.server_api_url == "https://8x8.vc"


def test_the_server_api_url_defaults_to_the_domain() -> None:
    assert video_config(**JITSI).server_api_url == "https://meet.clinic.test"
    assert video_config(**JITSI, server_api="http://127.0.0.1:7880").server_api_url == "http://127.0.0.1:7880"


@pytest.mark.parametrize(
    ("raw", "features"),
    [
        ("", frozenset()),
        ("recording", frozenset({"recording"})),
        (" recording , livestreaming ,,", frozenset({"recording", "livestreaming"})),
    ],
)
def test_doctor_features_are_a_comma_list(raw: str, features: frozenset[str]) -> None:
    assert parse_features(raw) == features


def test_the_provider_and_waiting_room_params_are_read_case_blind_and_refused_when_unknown() -> None:
    assert parse_provider(" LiveKit ") == "livekit"
    assert parse_waiting_room(" Admit ") == "admit"
    with pytest.raises(Misconfigured) as provider:
        parse_provider("jitsi2")
    assert provider.value.problem == "VIDEO_PROVIDER must be one of jitsi, jaas, livekit, twilio, zoom"
    with pytest.raises(Misconfigured) as waiting:
        parse_waiting_room("on")
    assert waiting.value.problem == "VIDEO_WAITING_ROOM must be one of off, host, admit"


@pytest.mark.parametrize("secret", ["", "   \n"])
def test_a_missing_signing_key_is_named(secret: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        load_signing_key("jitsi", secret)
    assert caught.value.problem == "VIDEO_SIGNING_KEY is not set"


def test_the_server_api_host_may_have_capitals_as_host_names_do() -> None:
    assert (
        video_config(**JITSI, server_api="https://LiveKit.Clinic.test").server_api_url == "https://LiveKit.Clinic.test"
    )
