"""The provider registry: ``VIDEO_PROVIDER`` names one module's ``PROVIDER``; nothing else names a provider.

Adding a provider is one module in this package, one line in ``REGISTRY``, and its tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..config import (
    COMMON_PARAMS,
    COMMON_SECRETS,
    PROVIDER_PARAM,
    ParamSpec,
    SecretSpec,
    Settings,
    VideoConfig,
    check_features,
    load_signing_key,
    shared_config,
)
from ..errors import Misconfigured
from ..recording_config import RECORDING_PARAMS, recording_config
from . import enablex, jaas, jitsi, livekit, twilio, vonage, zoom
from .base import Provider

REGISTRY: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        jitsi.PROVIDER,
        jaas.PROVIDER,
        livekit.PROVIDER,
        twilio.PROVIDER,
        zoom.PROVIDER,
        vonage.PROVIDER,
        enablex.PROVIDER,
    )
}


# The provider of a deployment that names none.
DEFAULT_PROVIDER = jitsi.PROVIDER.name
PROVIDER_SPEC = ParamSpec(PROVIDER_PARAM, "str", DEFAULT_PROVIDER, "the video provider (docs/providers.md)")


def provider_named(raw: Any) -> Provider:
    """The provider a ``VIDEO_PROVIDER`` value names (a typo fails closed instead of defaulting)."""
    name = raw.strip().lower() if isinstance(raw, str) else ""
    if name not in REGISTRY:
        raise Misconfigured(f"VIDEO_PROVIDER must be one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def provider_of(config: VideoConfig) -> Provider:
    """The provider a validated config was made for."""
    return REGISTRY[config.provider]


def param_specs() -> tuple[ParamSpec, ...]:
    """Every plain param a deployment declares: the shared ones, then each provider's, once each."""
    seen: dict[str, ParamSpec] = {spec.name: spec for spec in (PROVIDER_SPEC, *COMMON_PARAMS, *RECORDING_PARAMS)}
    for provider in REGISTRY.values():
        for spec in provider.params:
            seen.setdefault(spec.name, spec)
    return tuple(seen.values())


def secret_specs() -> tuple[SecretSpec, ...]:
    """Every secret a deployment declares."""
    seen: dict[str, SecretSpec] = {spec.name: spec for spec in COMMON_SECRETS}
    for provider in REGISTRY.values():
        for spec in provider.secrets:
            seen.setdefault(spec.name, spec)
    return tuple(seen.values())


def _foreign_params(provider: Provider, values: Mapping[str, Any]) -> None:
    """A param only another provider reads, set to something: almost surely a deployment mix-up."""
    own = {spec.name for spec in provider.params}
    for other in REGISTRY.values():
        for spec in other.params:
            if spec.exclusive and spec.name not in own and values.get(spec.name, spec.default) != spec.default:
                raise Misconfigured(f"{spec.name} is for provider {other.name} only")


def config_from_params(values: Mapping[str, Any]) -> VideoConfig:
    """The one constructor: raw param values by name, checked into a ``VideoConfig`` (absent: defaults)."""
    provider = provider_named(values.get(PROVIDER_PARAM, DEFAULT_PROVIDER))
    shared = shared_config(values, provider.name, provider.default_domain)
    _foreign_params(provider, values)
    check_features(shared["doctor_features"], provider.name, provider.capture_features)
    options = provider.configure(values, shared)
    creates = provider.room_creation is not None and provider.room_creation.enabled(values)
    return VideoConfig(**shared, creates_rooms=creates, recording=recording_config(values), options=options)


@lru_cache(maxsize=8)
def _cached_config(items: tuple[tuple[str, Any], ...]) -> VideoConfig:
    return config_from_params(dict(items))


def cached_config(values: Mapping[str, Any]) -> VideoConfig:
    """``config_from_params``, built once per distinct set of values (so once per instance in practice)."""
    return _cached_config(tuple(sorted(values.items())))


@lru_cache(maxsize=4)
def build_settings(config: VideoConfig, secret: str) -> Settings:
    """Settings for a config and key; cached, so an RSA key is parsed once per instance, not per call."""
    provider = provider_of(config)
    return Settings(config=config, signing_key=load_signing_key(provider.name, provider.algorithm, secret))


def ends_meetings(values: Mapping[str, Any]) -> bool:
    """Whether this deployment ends meetings, from the raw values alone (nothing else needs to be valid)."""
    provider = _raw_provider(values)
    if provider is None:
        return False
    if provider.meeting_end is not None:
        return provider.meeting_end.enabled(values)
    return provider.disconnect is not None


def _raw_provider(values: Mapping[str, Any]) -> Provider | None:
    raw = values.get(PROVIDER_PARAM, DEFAULT_PROVIDER)
    return REGISTRY.get(raw.strip().lower()) if isinstance(raw, str) else None


def creates_rooms(values: Mapping[str, Any]) -> bool:
    """Whether this deployment creates rooms at the provider, from the raw values alone (like ``ends_meetings``)."""
    provider = _raw_provider(values)
    return provider is not None and provider.room_creation is not None and provider.room_creation.enabled(values)


def room_url(config: VideoConfig, room: str) -> str:
    """A room's URL, never with a token in it."""
    return provider_of(config).room_url(config, room)
