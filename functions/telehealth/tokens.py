"""Provider join tokens: Jitsi self-hosted, 8x8 JaaS (RS256), LiveKit (and OpenVidu 3), Twilio Video, Zoom Video SDK.

Claim rules are those in shared/jitsi-tokens.md: integer times, one room (never ``*``), string-only
``context.user`` values for Jitsi, explicit feature flags, and no personal data beyond a display name
unless the email param turns it on. Participant identities are the role's neutral name, not a uid.
Each provider is one ``ProviderTokens`` entry: its claims, its extra JWT headers, its token expiry.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from .access import Grant
from .config import JITSI_FEATURES, Settings, VideoConfig

DEFAULT_NAMES = {"moderator": "Doctor", "guest": "Patient"}
IDENTITIES = {"moderator": "doctor", "guest": "patient"}
MAX_DISPLAY_NAME = 80


@dataclass(frozen=True)
class Participant:
    """How the caller appears in the meeting."""

    identity: str
    display_name: str
    email: str | None = None


def clean_display_name(raw: Any) -> str | None:
    """A name fit for a meeting: control and format characters (Unicode Cc, Cf) gone, at most 80 characters."""
    if not isinstance(raw, str):
        return None
    kept = "".join(ch for ch in raw if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = " ".join(kept.split())[:MAX_DISPLAY_NAME].strip()
    return name or None


def participant_for(
    grant: Grant, auth_claims: Mapping[str, Any], doctor_entry: Mapping[str, Any] | None, config: VideoConfig
) -> Participant:
    """How the caller appears: the doctor's name from the clinic's directory, the patient's from the ID token.

    The email goes in only when the param allows it and the ID token says the address is verified.
    """
    if grant.role == "moderator":
        name = clean_display_name(doctor_entry.get("displayName") if doctor_entry else None)
    else:
        name = clean_display_name(auth_claims.get("name"))
    email = auth_claims.get("email")
    verified = auth_claims.get("email_verified") is True
    return Participant(
        identity=IDENTITIES[grant.role],
        display_name=name or DEFAULT_NAMES[grant.role],
        email=email if config.include_email and verified and isinstance(email, str) and email else None,
    )


def doctor_features(grant: Grant, config: VideoConfig) -> frozenset[str]:
    """The features a token switches on: the configured ones for the doctor, recording only with consent."""
    if grant.role != "moderator":
        return frozenset()
    return config.doctor_features if grant.record else config.doctor_features - {"recording"}


def _jitsi_context(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    moderator = grant.role == "moderator"
    features = doctor_features(grant, config)
    return {
        # Every value a string: the presence-identity plugin throws on booleans and numbers.
        "user": {
            "id": who.identity,
            "name": who.display_name,
            "email": who.email or "",
            "avatar": "",
            "moderator": "true" if moderator else "false",
        },
        "features": {feature: "true" if feature in features else "false" for feature in JITSI_FEATURES},
    }


def jitsi_claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a self-hosted Jitsi (Prosody token auth)."""
    return {
        "iss": config.app_id,
        "aud": config.jitsi_audience,
        "sub": config.jitsi_subject,
        "room": grant.room_name.lower(),
        "iat": grant.issued_at,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "context": _jitsi_context(grant, who, config),
    }


def jaas_claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for 8x8 JaaS."""
    return {
        "iss": "chat",
        "aud": "jitsi",
        "sub": config.app_id,
        "room": grant.room_name.lower(),
        "iat": grant.issued_at,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "context": _jitsi_context(grant, who, config),
    }


def livekit_claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for LiveKit: one room, join and publish, admin for the doctor only."""
    claims: dict[str, Any] = {
        "iss": config.app_id,
        "sub": who.identity,
        "name": who.display_name,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "video": {
            "room": grant.room_name,
            "roomJoin": True,
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
            "roomAdmin": grant.role == "moderator",
            "roomRecord": "recording" in doctor_features(grant, config),
        },
    }
    if who.email:
        claims["metadata"] = json.dumps({"email": who.email})
    return claims


def twilio_claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a Twilio Video access token: the API key issues it for the account, one room."""
    return {
        "jti": f"{config.app_id}-{grant.issued_at}",
        "iss": config.app_id,
        "sub": config.account_id,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "grants": {"identity": who.identity, "video": {"room": grant.room_name}},
    }


# Zoom refuses a Video SDK token that lives less than 30 minutes or more than 48 hours.
ZOOM_MIN_LIFETIME = 1800
ZOOM_MAX_LIFETIME = 48 * 3600


def zoom_expiry(grant: Grant) -> int:
    """Zoom's ``exp``: the usual expiry, lengthened to Zoom's 30-minute minimum where shorter."""
    return min(max(grant.issued_at + ZOOM_MIN_LIFETIME, grant.expires_at), grant.issued_at + ZOOM_MAX_LIFETIME)


def zoom_claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a Zoom Video SDK session: host (1) for the doctor, participant (0) for the patient."""
    return {
        "app_key": config.app_id,
        "tpc": grant.room_name,
        "role_type": 1 if grant.role == "moderator" else 0,
        "version": 1,
        "iat": grant.issued_at,
        "exp": zoom_expiry(grant),
        "user_identity": who.identity,
    }


@dataclass(frozen=True)
class ProviderTokens:
    """What differs between providers when a token is made."""

    claims: Callable[[Grant, Participant, VideoConfig], dict[str, Any]]
    headers: Callable[[VideoConfig], dict[str, Any]] = lambda _config: {}
    expires_at: Callable[[Grant], int] = lambda grant: grant.expires_at


PROVIDER_TOKENS: dict[str, ProviderTokens] = {
    "jitsi": ProviderTokens(jitsi_claims),
    "jaas": ProviderTokens(jaas_claims, headers=lambda config: {"kid": f"{config.app_id}/{config.key_id}"}),
    "livekit": ProviderTokens(livekit_claims),
    "twilio": ProviderTokens(twilio_claims, headers=lambda _config: {"cty": "twilio-fpa;v=1"}),
    "zoom": ProviderTokens(zoom_claims, expires_at=zoom_expiry),
}


def claims_for(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """The provider's claims for this grant."""
    return PROVIDER_TOKENS[config.provider].claims(grant, who, config)


def token_expiry(grant: Grant, config: VideoConfig) -> int:
    """When the provider's token for this grant expires (Zoom's can outlive the join window; see README)."""
    return PROVIDER_TOKENS[config.provider].expires_at(grant)


def sign(claims: Mapping[str, Any], settings: Settings) -> str:
    """Sign claims with the configured key and the provider's extra headers (JaaS ``kid``, Twilio ``cty``)."""
    headers: dict[str, Any] = {"typ": "JWT", **PROVIDER_TOKENS[settings.config.provider].headers(settings.config)}
    return jwt.encode(dict(claims), settings.signing_key.key, algorithm=settings.signing_key.algorithm, headers=headers)  # type: ignore[arg-type]


def issue_token(grant: Grant, who: Participant, settings: Settings) -> str:
    """The signed join token for a grant."""
    return sign(claims_for(grant, who, settings.config), settings)
