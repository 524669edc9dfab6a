"""Twilio Video: access tokens (HS256 with the API key secret, ``cty: twilio-fpa;v=1``), one room grant.

Recording is an account/room setting at Twilio, not a token switch: no capture feature can be
configured for it (docs/security.md: keep account-level recording off).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import ParamSpec, VideoConfig, text
from ..errors import Misconfigured
from .base import Participant, Provider

API_KEY = re.compile(r"SK[0-9a-f]{32}")
ACCOUNT = re.compile(r"AC[0-9a-f]{32}")


def configure(values: Mapping[str, Any], shared: Mapping[str, Any]) -> str:
    """Check the API key SID (the app id) and the account SID; returns the account SID."""
    if not API_KEY.fullmatch(str(shared["app_id"])):
        raise Misconfigured("VIDEO_APP_ID must be a Twilio API key SID (SK and 32 hex digits) for provider twilio")
    account = text(values, "VIDEO_ACCOUNT_ID")
    if not ACCOUNT.fullmatch(account):
        raise Misconfigured("VIDEO_ACCOUNT_ID must be a Twilio account SID (AC and 32 hex digits) for twilio")
    return account


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a Twilio Video access token: the API key issues it for the account, one room."""
    return {
        "jti": f"{config.app_id}-{grant.issued_at}",
        "iss": config.app_id,
        "sub": config.options,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "grants": {"identity": who.identity, "video": {"room": grant.room_name}},
    }


PROVIDER = Provider(
    name="twilio",
    algorithm="HS256",
    claims=claims,
    configure=configure,
    params=(ParamSpec("VIDEO_ACCOUNT_ID", "str", "", "Twilio account SID (twilio only)", exclusive=True),),
    headers=lambda _config: {"cty": "twilio-fpa;v=1"},
)
