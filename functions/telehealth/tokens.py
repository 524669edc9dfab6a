"""Provider join tokens: Jitsi self-hosted (HS256), 8x8 JaaS (RS256) and LiveKit (HS256).

Claim rules are those in shared/jitsi-tokens.md: integer times, one room (never ``*``), string-only
``context.user`` values for Jitsi, explicit feature flags, and no personal data beyond a display name
unless the email param turns it on. Participant identities are the role's neutral name, not a uid.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
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


def _jitsi_context(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    moderator = grant.role == "moderator"
    features = config.doctor_features if moderator else frozenset()
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
        },
    }
    if who.email:
        claims["metadata"] = json.dumps({"email": who.email})
    return claims


def claims_for(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """The provider's claims for this grant."""
    if config.provider == "jaas":
        return jaas_claims(grant, who, config)
    if config.provider == "livekit":
        return livekit_claims(grant, who, config)
    return jitsi_claims(grant, who, config)


def sign(claims: Mapping[str, Any], settings: Settings) -> str:
    """Sign claims with the configured key; JaaS gets its ``<AppID>/<keyId>`` kid."""
    headers: dict[str, Any] = {"typ": "JWT"}
    config = settings.config
    if config.provider == "jaas":
        headers["kid"] = f"{config.app_id}/{config.key_id}"
    return jwt.encode(dict(claims), settings.signing_key.key, algorithm=settings.signing_key.algorithm, headers=headers)  # type: ignore[arg-type]


def issue_token(grant: Grant, who: Participant, settings: Settings) -> str:
    """The signed join token for a grant."""
    return sign(claims_for(grant, who, settings.config), settings)
