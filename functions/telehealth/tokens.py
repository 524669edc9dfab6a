"""Join tokens, whatever the provider: who the caller appears as, which features, the signature.

The provider supplies the claims, extra headers and expiry (``providers``); this module decides
what goes in them that is the same everywhere: a display name (the doctor's from the directory,
the patient's from their own profile followed by their role, an invited guest's as the doctor
invited them followed by their kind, so nobody passes as the doctor by name), an identity that is
a role or an invitation (never a uid), an email only when allowed and verified (never a guest's),
and capture features only for the doctor and only with the patient's consent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import jwt

from .access import Grant, Role
from .config import CAPTURE_FEATURES, Settings, VideoConfig
from .invitations import Guest
from .providers import provider_of
from .providers.base import IDENTITIES, Participant, guest_identity

DEFAULT_NAMES: dict[str, str] = {"moderator": "Doctor", "guest": "Patient"}
# The label a self-chosen name carries: the role the server knows the caller by.
ROLE_LABELS: dict[str, str] = {"guest": "patient"}
MAX_DISPLAY_NAME = 80


def clean_display_name(raw: Any, limit: int = MAX_DISPLAY_NAME) -> str | None:
    """A name fit for a meeting: control and format characters (Unicode Cc, Cf) gone, at most ``limit`` long."""
    if not isinstance(raw, str):
        return None
    kept = "".join(ch for ch in raw if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = " ".join(kept.split())[:limit].strip()
    return name or None


def labelled(raw: Any, label: str, fallback: str) -> str:
    """A name someone chose, followed by the label the server knows them by (``Ana · interpreter``), at most
    80 characters in all; ``fallback`` when nothing of the name is left."""
    suffix = f" · {label}"
    name = clean_display_name(raw, MAX_DISPLAY_NAME - len(suffix))
    return f"{name}{suffix}" if name else fallback


def labelled_name(raw: Any, role: Role) -> str:
    """A name the caller chose, followed by their role (``Pat Demo · patient``); the role's name if none."""
    return labelled(raw, ROLE_LABELS[role], DEFAULT_NAMES[role])


def guest_participant(guest: Guest) -> Participant:
    """How an invited guest appears: the name the doctor invited them by, followed by its kind
    (``Ana · interpreter``), under their invitation's identity; never an email."""
    kind = guest.kind or "guest"
    return Participant(identity=guest_identity(guest.guest_id), display_name=labelled(guest.name, kind, kind.title()))


def participant_for(
    grant: Grant, auth_claims: Mapping[str, Any], doctor_entry: Mapping[str, Any] | None, config: VideoConfig
) -> Participant:
    """How the caller appears: the doctor's name from the clinic's directory, anyone else's labelled.

    The email goes in only when the param allows it and the ID token says the address is verified.
    """
    if grant.role == "moderator":
        name = clean_display_name(doctor_entry.get("displayName") if doctor_entry else None)
        display = name or DEFAULT_NAMES["moderator"]
    else:
        display = labelled_name(auth_claims.get("name"), grant.role)
    email = auth_claims.get("email")
    verified = auth_claims.get("email_verified") is True
    return Participant(
        identity=IDENTITIES[grant.role],
        display_name=display,
        email=email if config.include_email and verified and isinstance(email, str) and email else None,
    )


def token_features(role: Role, config: VideoConfig, patient_consents: bool) -> frozenset[str]:
    """Features the token switches on: the configured capture features, for the doctor, with consent."""
    if role != "moderator" or not patient_consents:
        return frozenset()
    return config.doctor_features & frozenset(CAPTURE_FEATURES)


def token_expiry(grant: Grant, config: VideoConfig) -> int:
    """When the provider's token for this grant expires (some providers have a minimum lifetime)."""
    return provider_of(config).expires_at(grant)


def issue_token(grant: Grant, who: Participant, settings: Settings) -> str:
    """The join token for a grant: signed here with the provider's claims and extra headers, or, where the
    provider issues tokens itself, asked of it (raising ``ProviderUnavailable`` when it cannot answer)."""
    provider = provider_of(settings.config)
    if provider.token_request is not None:
        return provider.token_request(grant, who, settings)
    headers: dict[str, Any] = {"typ": "JWT", **provider.headers(settings.config)}
    claims = provider.claims(grant, who, settings.config)
    key = settings.signing_key
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers=headers)  # type: ignore[arg-type]
