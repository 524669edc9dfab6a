"""Every unusable setting is refused with the exact problem the server log shows (naming the setting), at
the exact edge; and what the config derives (default sub, JaaS domain, server API URL, parsers)."""

from __future__ import annotations

from typing import Any

import pytest
from support.configs import video_config

from telehealth.config import check_shared_secret, load_signing_key, parse_features, parse_waiting_room
from telehealth.errors import Misconfigured
from telehealth.providers import provider_named, room_url

SK, AC = "SK" + "0" * 32, "AC" + "0" * 32
JITSI = {"provider": "jitsi", "domain": "meet.clinic.test", "app_id": "app"}

PROBLEMS: list[Any] = [
    (
        {**JITSI, "provider": "teams"},
        "VIDEO_PROVIDER must be one of jitsi, jaas, livekit, twilio, zoom, vonage, enablex",
    ),
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
        "VIDEO_DOCTOR_FEATURES allows only recording, livestreaming, transcription",
    ),
    (
        {**JITSI, "doctor_features": frozenset({"recording", "outbound-call"})},
        "VIDEO_DOCTOR_FEATURES may not hold outbound-call: third parties join as guests",
    ),
    (
        {**JITSI, "doctor_features": frozenset({"sip-outbound-call", "outbound-call"})},
        "VIDEO_DOCTOR_FEATURES may not hold outbound-call, sip-outbound-call: third parties join as guests",
    ),
    (
        {"provider": "twilio", "domain": "v.test", "app_id": SK, "account_id": AC, "doctor_features": {"recording"}},
        "VIDEO_DOCTOR_FEATURES: provider twilio cannot switch recording in its token; leave it empty and keep "
        "account-level recording off",
    ),
    (
        {"provider": "zoom", "domain": "v.test", "app_id": "k", "doctor_features": {"transcription", "recording"}},
        "VIDEO_DOCTOR_FEATURES: provider zoom cannot switch recording, transcription in its token; leave it empty "
        "and keep account-level recording off",
    ),
    (
        {"provider": "livekit", "domain": "lk.test", "app_id": "k", "doctor_features": {"livestreaming"}},
        "VIDEO_DOCTOR_FEATURES: provider livekit cannot switch livestreaming in its token; leave it empty and keep "
        "account-level recording off",
    ),
    (
        {**JITSI, "end_key_id": "k1", "jitsi_muc": "conference.x:5280"},
        "VIDEO_JITSI_MUC must be the rooms' MUC host name (conference.<XMPP domain>)",
    ),
    (
        {"provider": "livekit", "domain": "lk.test", "app_id": "k", "end_key_id": "k1"},
        "VIDEO_JITSI_END_KEY_ID is for provider jitsi only",
    ),
    ({**JITSI, "max_guests": 4}, "VIDEO_MAX_GUESTS must be between 0 and 3"),
    ({**JITSI, "max_guests": -1}, "VIDEO_MAX_GUESTS must be between 0 and 3"),
    ({**JITSI, "max_guests": "2"}, "VIDEO_MAX_GUESTS must be a whole number"),
    ({**JITSI, "join_page_url": "clinic.test/visit"}, "VIDEO_JOIN_PAGE_URL must be an http(s) URL without a fragment"),
    (
        {**JITSI, "join_page_url": "https://clinic.test/visit#join"},
        "VIDEO_JOIN_PAGE_URL must be an http(s) URL without a fragment",
    ),
    (
        {**JITSI, "join_page_url": "javascript:alert(1)"},
        "VIDEO_JOIN_PAGE_URL must be an http(s) URL without a fragment",
    ),
    ({**JITSI, "join_page_url": "https://"}, "VIDEO_JOIN_PAGE_URL must be an http(s) URL without a fragment"),
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
        pytest.param({"max_guests": 0}, id="no guests"),
        pytest.param({"max_guests": 3}, id="three guests"),
        pytest.param({"join_page_url": "https://clinic.test"}, id="a join page at the root"),
        pytest.param({"join_page_url": "http://127.0.0.1:8000/visit?lang=tr"}, id="a local join page with a query"),
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
    assert video_config(**{**JITSI, **fields}).options.subject == subject


def test_jaas_defaults_to_8x8_and_nests_rooms_under_its_app_id() -> None:
    config = video_config(provider="jaas", app_id="vpaas-1", key_id="k")
    assert config.domain == "8x8.vc"
    assert room_url(config, "r1") == "https://8x8.vc/vpaas-1/r1"
    assert config.server_api_url == "https://8x8.vc"


def test_guests_default_to_one_per_visit_and_no_join_page() -> None:
    config = video_config(**JITSI)
    assert (config.max_guests, config.join_page_url) == (1, "")
    assert video_config(**JITSI, join_page_url=" https://clinic.test/v ").join_page_url == "https://clinic.test/v"


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
    assert provider_named(" LiveKit ").name == "livekit"
    assert parse_waiting_room(" Admit ") == "admit"
    with pytest.raises(Misconfigured) as provider:
        provider_named("jitsi2")
    assert provider.value.problem == "VIDEO_PROVIDER must be one of jitsi, jaas, livekit, twilio, zoom, vonage, enablex"
    with pytest.raises(Misconfigured) as waiting:
        parse_waiting_room("on")
    assert waiting.value.problem == "VIDEO_WAITING_ROOM must be one of off, host, admit"


@pytest.mark.parametrize("secret", ["", "   \n"])
def test_a_missing_signing_key_is_named(secret: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        load_signing_key("jitsi", "HS256", secret)
    assert caught.value.problem == "VIDEO_SIGNING_KEY is not set"


def test_the_server_api_host_may_have_capitals_as_host_names_do() -> None:
    assert (
        video_config(**JITSI, server_api="https://LiveKit.Clinic.test").server_api_url == "https://LiveKit.Clinic.test"
    )


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        pytest.param("", "VIDEO_WEBHOOK_SECRET is not set", id="empty"),
        pytest.param("none", "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="none"),
        pytest.param(" None ", "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="None, spaced"),
        pytest.param("changeme", "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="changeme"),
        pytest.param("a" * 64, "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret", id="one repeated character"),
        pytest.param("x" * 30 + "y", "VIDEO_WEBHOOK_SECRET is too short: at least 32 bytes needed", id="short"),
        pytest.param(
            "0123456789abcdef0123456789abcde",
            "VIDEO_WEBHOOK_SECRET is too short: at least 32 bytes needed",
            id="31 bytes",
        ),
    ],
)
def test_a_weak_shared_secret_is_refused_by_name(secret: str, problem: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        check_shared_secret("VIDEO_WEBHOOK_SECRET", secret)
    assert caught.value.problem == problem


def test_a_strong_shared_secret_of_32_bytes_passes_as_it_is() -> None:
    secret = "0123456789abcdef0123456789abcdef"
    assert check_shared_secret("VIDEO_WEBHOOK_SECRET", secret) == secret


@pytest.mark.parametrize("secret", ["a" * 32, "k" * 48, "none" + " " * 40])
def test_a_placeholder_signing_key_is_refused_by_name_whatever_its_length(secret: str) -> None:
    with pytest.raises(Misconfigured) as caught:
        load_signing_key("jitsi", "HS256", secret)
    assert caught.value.problem == "VIDEO_SIGNING_KEY is a placeholder, not a secret"


@pytest.mark.parametrize(
    ("settings", "features"),
    [
        pytest.param({**JITSI}, {"recording", "livestreaming", "transcription"}, id="jitsi"),
        pytest.param(
            {"provider": "jaas", "app_id": "vpaas-1", "key_id": "k"},
            {"recording", "livestreaming", "transcription"},
            id="jaas",
        ),
        pytest.param({"provider": "livekit", "domain": "lk.test", "app_id": "k"}, {"recording"}, id="livekit"),
    ],
)
def test_each_provider_takes_the_capture_features_its_token_can_switch(
    settings: dict[str, Any], features: set[str]
) -> None:
    assert video_config(**settings, doctor_features=features).doctor_features == frozenset(features)
