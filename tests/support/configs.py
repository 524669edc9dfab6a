"""Configs for tests, built the way a deployment builds them: from param values, through the registry."""

from __future__ import annotations

from typing import Any

from telehealth.config import VideoConfig
from telehealth.providers import config_from_params

# The keyword a test writes, and the param it stands for.
PARAM_OF = {
    "provider": "VIDEO_PROVIDER",
    "domain": "VIDEO_DOMAIN",
    "app_id": "VIDEO_APP_ID",
    "key_id": "VIDEO_KEY_ID",
    "account_id": "VIDEO_ACCOUNT_ID",
    "jitsi_subject": "VIDEO_JITSI_SUB",
    "jitsi_audience": "VIDEO_JITSI_AUD",
    "opens_minutes_before": "VIDEO_JOIN_OPENS_MIN",
    "closes_minutes_after": "VIDEO_JOIN_CLOSES_MIN",
    "token_ttl_minutes": "VIDEO_TOKEN_TTL_MIN",
    "include_email": "VIDEO_TOKEN_EMAIL",
    "doctor_features": "VIDEO_DOCTOR_FEATURES",
    "waiting_room": "VIDEO_WAITING_ROOM",
    "server_api": "VIDEO_SERVER_API_URL",
    "end_key_id": "VIDEO_JITSI_END_KEY_ID",
    "jitsi_muc": "VIDEO_JITSI_MUC",
    "twilio_callback_url": "VIDEO_TWILIO_CALLBACK_URL",
    "zoom_api_key": "VIDEO_ZOOM_API_KEY",
    "create_rooms": "VIDEO_LIVEKIT_CREATE_ROOMS",
    "max_guests": "VIDEO_MAX_GUESTS",
    "join_page_url": "VIDEO_JOIN_PAGE_URL",
    "recording_bucket": "VIDEO_RECORDING_BUCKET",
    "retention_days": "VIDEO_RECORDING_RETENTION_DAYS",
    "patient_recording_access": "VIDEO_PATIENT_RECORDING_ACCESS",
    "recording_url_ttl": "VIDEO_RECORDING_URL_TTL_S",
    "recording_max_mb": "VIDEO_RECORDING_MAX_MB",
    "recording_copy_seconds": "VIDEO_RECORDING_COPY_S",
    "download_hosts": "VIDEO_RECORDING_DOWNLOAD_HOSTS",
}


def params_for(**settings: Any) -> dict[str, Any]:
    """Param values by name for keyword settings (feature sets become the comma-separated param)."""
    values: dict[str, Any] = {}
    for name, value in settings.items():
        if name not in PARAM_OF:
            raise TypeError(f"no param for {name!r}")
        if isinstance(value, frozenset | set | list | tuple):
            value = ",".join(sorted(value))
        values[PARAM_OF[name]] = value
    return values


def video_config(**settings: Any) -> VideoConfig:
    """A validated config, as ``config_from_params`` makes it from these settings (provider jitsi by default)."""
    return config_from_params(params_for(**settings))


def jitsi_config(**overrides: Any) -> VideoConfig:
    """The self-hosted Jitsi deployment most unit tests use."""
    return video_config(**{"provider": "jitsi", "domain": "meet.clinic.test", "app_id": "clinic-app", **overrides})
