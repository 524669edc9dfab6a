"""Settings: the plain params validated into one frozen object, and the signing key checked and parsed once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from .errors import Misconfigured

Provider = Literal["jitsi", "jaas", "livekit", "twilio", "zoom"]
WaitingRoom = Literal["off", "host", "admit"]
WAITING_ROOMS: tuple[WaitingRoom, ...] = ("off", "host", "admit")
PROVIDERS: tuple[Provider, ...] = ("jitsi", "jaas", "livekit", "twilio", "zoom")
HMAC_PROVIDERS: frozenset[str] = frozenset({"jitsi", "livekit", "twilio", "zoom"})
TWILIO_API_KEY = re.compile(r"SK[0-9a-f]{32}")
TWILIO_ACCOUNT = re.compile(r"AC[0-9a-f]{32}")
JAAS_DOMAIN = "8x8.vc"
MIN_HMAC_KEY_BYTES = 32
MIN_RSA_KEY_BITS = 2048
# Jitsi features a token can switch on; the patient never gets any of them.
JITSI_FEATURES: tuple[str, ...] = ("recording", "livestreaming", "transcription", "outbound-call")

# A kid for Jitsi's ASAP key server: the server fetches <key server>/<sha256 hex of the kid>.pem.
_KEY_ID = re.compile(r"[A-Za-z0-9._:/-]{1,255}")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$")


@dataclass(frozen=True, kw_only=True)
class VideoConfig:
    """The plain (non-secret) video settings; validated on construction."""

    provider: Provider = "jitsi"
    domain: str = ""
    app_id: str = ""
    key_id: str = ""
    account_id: str = ""
    jitsi_subject: str = ""
    jitsi_audience: str = "jitsi"
    opens_minutes_before: int = 15
    closes_minutes_after: int = 30
    token_ttl_minutes: int = 60
    include_email: bool = False
    doctor_features: frozenset[str] = field(default_factory=frozenset)
    waiting_room: WaitingRoom = "host"
    # Where the provider's server API lives, if not at https://<domain> (LiveKit's RoomService,
    # or the Prosody HTTP host serving Jitsi's /end-meeting).
    server_api: str = ""
    # Self-hosted Jitsi's end-meeting endpoint: the kid of the RS256 key that signs its system token
    # (empty: meetings are not ended), and the MUC domain the rooms live on.
    end_key_id: str = ""
    jitsi_muc: str = ""

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise Misconfigured(f"VIDEO_PROVIDER must be one of {', '.join(PROVIDERS)}")
        if self.provider == "jaas" and not self.domain:
            object.__setattr__(self, "domain", JAAS_DOMAIN)
        if not _HOST.match(self.domain):
            raise Misconfigured("VIDEO_DOMAIN must be a lowercase host name (optionally :port), no scheme")
        if self.provider in ("jaas", "livekit", "zoom") and not self.app_id:
            raise Misconfigured(f"VIDEO_APP_ID is required for provider {self.provider}")
        if self.provider == "jitsi" and not self.app_id:
            raise Misconfigured("VIDEO_APP_ID (the Jitsi app_id, used as iss) is required")
        if self.provider == "jaas" and not self.key_id:
            raise Misconfigured("VIDEO_KEY_ID (the JaaS API key id) is required for provider jaas")
        if self.provider == "jaas" and "/" in self.key_id:
            raise Misconfigured("VIDEO_KEY_ID is the key id alone, without the AppID/ prefix")
        if self.provider == "twilio" and not TWILIO_API_KEY.fullmatch(self.app_id):
            raise Misconfigured("VIDEO_APP_ID must be a Twilio API key SID (SK and 32 hex digits) for provider twilio")
        if self.provider == "twilio" and not TWILIO_ACCOUNT.fullmatch(self.account_id):
            raise Misconfigured("VIDEO_ACCOUNT_ID must be a Twilio account SID (AC and 32 hex digits) for twilio")
        if self.provider != "twilio" and self.account_id:
            raise Misconfigured("VIDEO_ACCOUNT_ID is for provider twilio only")
        if not self.jitsi_subject:
            object.__setattr__(self, "jitsi_subject", self.domain.split(":")[0])
        if self.jitsi_subject != self.jitsi_subject.lower():
            raise Misconfigured("VIDEO_JITSI_SUB must be lowercase")
        if not self.jitsi_audience:
            raise Misconfigured("VIDEO_JITSI_AUD must not be empty")
        for name, minutes, low, high in (
            ("VIDEO_JOIN_OPENS_MIN", self.opens_minutes_before, 0, 24 * 60),
            ("VIDEO_JOIN_CLOSES_MIN", self.closes_minutes_after, 0, 24 * 60),
            ("VIDEO_TOKEN_TTL_MIN", self.token_ttl_minutes, 1, 24 * 60),
        ):
            if not low <= minutes <= high:
                raise Misconfigured(f"{name} must be between {low} and {high} minutes")
        if self.server_api and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", self.server_api):
            raise Misconfigured("VIDEO_SERVER_API_URL must be http(s)://host[:port], nothing after it")
        if self.end_key_id and self.provider != "jitsi":
            raise Misconfigured("VIDEO_JITSI_END_KEY_ID is for provider jitsi only")
        if self.end_key_id and not _KEY_ID.fullmatch(self.end_key_id):
            raise Misconfigured("VIDEO_JITSI_END_KEY_ID must be 1-255 of A-Z a-z 0-9 . _ : / -")
        if not self.jitsi_muc:
            object.__setattr__(self, "jitsi_muc", f"conference.{self.jitsi_subject}")
        if self.end_key_id and (":" in self.jitsi_muc or not _HOST.match(self.jitsi_muc)):
            raise Misconfigured("VIDEO_JITSI_MUC must be the rooms' MUC host name (conference.<XMPP domain>)")
        if self.waiting_room not in WAITING_ROOMS:
            raise Misconfigured(f"VIDEO_WAITING_ROOM must be one of {', '.join(WAITING_ROOMS)}")
        unknown = self.doctor_features - set(JITSI_FEATURES)
        if unknown:
            raise Misconfigured(f"VIDEO_DOCTOR_FEATURES allows only {', '.join(JITSI_FEATURES)}")

    @property
    def room_base_url(self) -> str:
        """Where rooms live: ``<base>/<room>`` is a room's URL (never with a token in it)."""
        if self.provider == "jaas":
            return f"https://{self.domain}/{self.app_id}"
        return f"https://{self.domain}"

    @property
    def ends_meetings(self) -> bool:
        """Whether the provider has an API to end a room's meeting, and it is configured."""
        return ends_meetings(self.provider, self.end_key_id)

    @property
    def server_api_url(self) -> str:
        """The provider's server API base URL (``VIDEO_SERVER_API_URL``, else ``https://<domain>``)."""
        return self.server_api or f"https://{self.domain}"

    def room_url(self, room_name: str) -> str:
        """The room's URL without any token."""
        return f"{self.room_base_url}/{room_name}"


def ends_meetings(provider: str, end_key_id: str) -> bool:
    """Whether a deployment ends meetings, from its two raw params alone (LiveKit always; Jitsi with a key id).

    Read before anything is validated, so that a deployment that ends none never needs the rest of
    its settings (or a key) after a withdrawal.
    """
    name = provider.strip().lower()
    return name == "livekit" or (name == "jitsi" and bool(end_key_id.strip()))


def parse_features(raw: str) -> frozenset[str]:
    """A comma-separated param value as a set of feature names."""
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def parse_waiting_room(raw: str) -> WaitingRoom:
    """The waiting-room param, checked (a typo fails closed rather than opening the room)."""
    value = raw.strip().lower()
    if value not in WAITING_ROOMS:
        raise Misconfigured(f"VIDEO_WAITING_ROOM must be one of {', '.join(WAITING_ROOMS)}")
    return value


def parse_provider(raw: str) -> Provider:
    """The provider param, checked (so a typo fails closed instead of defaulting)."""
    value = raw.strip().lower()
    if value not in PROVIDERS:
        raise Misconfigured(f"VIDEO_PROVIDER must be one of {', '.join(PROVIDERS)}")
    return value


@dataclass(frozen=True)
class SigningKey:
    """The provider signing key: raw HMAC bytes, or a parsed RSA private key."""

    algorithm: Literal["HS256", "RS256"]
    key: object = field(repr=False)

    def hmac_secret(self) -> str:
        """The HMAC secret as text, as LiveKit's server API and webhook verifier take it."""
        if not isinstance(self.key, bytes):
            raise Misconfigured("VIDEO_SIGNING_KEY must be an HMAC secret for this provider, not an RSA key")
        return self.key.decode("utf-8")


def load_signing_key(provider: Provider, secret: str) -> SigningKey:
    """Check ``VIDEO_SIGNING_KEY`` for the provider and parse it once; never echoes the key."""
    if not secret or not secret.strip():
        raise Misconfigured("VIDEO_SIGNING_KEY is not set")
    if provider in HMAC_PROVIDERS:
        if "-----BEGIN" in secret:
            raise Misconfigured(f"VIDEO_SIGNING_KEY holds a PEM key, but provider {provider} signs with HMAC")
        raw = secret.encode("utf-8")
        if len(raw) < MIN_HMAC_KEY_BYTES:
            raise Misconfigured(
                f"VIDEO_SIGNING_KEY is too short for HS256: {len(raw)} bytes, at least {MIN_HMAC_KEY_BYTES} needed"
            )
        return SigningKey("HS256", raw)
    return SigningKey("RS256", _load_rsa_private_key(secret))


def _load_rsa_private_key(pem: str, name: str = "VIDEO_SIGNING_KEY", use: str = "JaaS needs RS256") -> object:
    # Imported here so that cold starts of HMAC deployments never load the RSA machinery.
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.strip().encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # The library's message is dropped on purpose: it could quote part of the key.
        raise Misconfigured(f"{name} is not an unencrypted PEM private key ({use})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Misconfigured(f"{name} is not an RSA key ({use})")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise Misconfigured(f"{name} is a {key.key_size}-bit RSA key, at least {MIN_RSA_KEY_BITS} needed")
    return key


@lru_cache(maxsize=2)
def load_end_key(pem: str) -> object:
    """``VIDEO_JITSI_END_KEY``, the RSA key that signs Jitsi's end-meeting system tokens; parsed once."""
    return _load_rsa_private_key(pem, "VIDEO_JITSI_END_KEY", "Jitsi's end-meeting token is RS256")


@dataclass(frozen=True)
class Settings:
    """Everything a join needs: the plain config and the parsed signing key."""

    config: VideoConfig
    signing_key: SigningKey


@lru_cache(maxsize=4)
def build_settings(config: VideoConfig, secret: str) -> Settings:
    """Settings for a config and key; cached, so an RSA key is parsed once per instance, not per call."""
    return Settings(config=config, signing_key=load_signing_key(config.provider, secret))
