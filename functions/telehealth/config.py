"""Settings: the params validated into one frozen object, and the secrets checked and parsed once.

The params shared by every provider are declared here; each provider module declares its own
(``providers``). ``config_from_params`` is the one constructor: it takes the raw values by param
name, checks the shared ones, and hands the rest to the selected provider to check and parse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import Misconfigured

WaitingRoom = Literal["off", "host", "admit"]
WAITING_ROOMS: tuple[WaitingRoom, ...] = ("off", "host", "admit")
MIN_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048
# Features that capture the visit: on in the doctor's token only with the patient's consent.
CAPTURE_FEATURES: tuple[str, ...] = ("recording", "livestreaming", "transcription")
# Features that bring in someone the patient does not see: never on (third parties come in as guests).
DIAL_OUT_FEATURES: tuple[str, ...] = ("outbound-call", "sip-outbound-call")
# Values that are set but mean "no secret": a deployment holding one of these has no secret at all.
PLACEHOLDERS = frozenset({"none", "null", "changeme", "change-me", "secret", "placeholder", "todo", "xxx"})

# Guests a visit may have at most, whatever the param says (each is one more participant in the room).
MAX_GUESTS_LIMIT = 3
# The join page: an http(s) URL with no fragment (invitation links put the code in the fragment).
_JOIN_PAGE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s#]*)?")

HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$")
_SERVER_API = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

PROVIDER_PARAM = "VIDEO_PROVIDER"
SIGNING_KEY = "VIDEO_SIGNING_KEY"
WEBHOOK_SECRET = "VIDEO_WEBHOOK_SECRET"  # noqa: S105 - the param's name, not a secret


@dataclass(frozen=True)
class ParamSpec:
    """A plain param: its name, kind, default and one-line description (``main`` declares it from this)."""

    name: str
    kind: Literal["str", "int", "bool"]
    default: str | int | bool
    description: str
    # Set to anything but its default on a deployment of another provider: a config error.
    exclusive: bool = False


@dataclass(frozen=True)
class SecretSpec:
    """A secret param (Secret Manager in production, ``functions/.secret.local`` on the emulator)."""

    name: str
    description: str


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("VIDEO_DOMAIN", "str", "", "video host, no scheme; some providers have a default"),
    ParamSpec("VIDEO_APP_ID", "str", "", "the provider's app id or API key (docs/providers.md)"),
    ParamSpec("VIDEO_JOIN_OPENS_MIN", "int", 15, "join opens this long before start"),
    ParamSpec("VIDEO_JOIN_CLOSES_MIN", "int", 30, "join closes this long after end"),
    ParamSpec("VIDEO_TOKEN_TTL_MIN", "int", 60, "longest token lifetime"),
    ParamSpec("VIDEO_TOKEN_EMAIL", "bool", False, "put the caller's verified email in tokens"),
    ParamSpec("VIDEO_DOCTOR_FEATURES", "str", "", "capture features for the doctor, with the patient's consent"),
    ParamSpec("VIDEO_WAITING_ROOM", "str", "host", "off, host or admit"),
    ParamSpec("VIDEO_SERVER_API_URL", "str", "", "provider server API base URL; empty: https://<domain>"),
    ParamSpec("VIDEO_JOIN_RATE_PER_MIN", "int", 20, "requests per account per minute"),
    ParamSpec("VIDEO_ENFORCE_APP_CHECK", "bool", False, "refuse callable requests without App Check"),
    ParamSpec("VIDEO_APP_CHECK_REPLAY", "bool", False, "consume limited-use App Check tokens"),
    ParamSpec("VIDEO_AUDIT_RETENTION_DAYS", "int", 2190, "days an audit record is kept"),
    ParamSpec("VIDEO_SESSION_CHECK_S", "int", 60, "seconds a live session check is reused per uid (0 to 300)"),
    ParamSpec("VIDEO_MAX_INSTANCES", "int", 10, "instances per function, at most"),
    ParamSpec("VIDEO_REPAIR_LIMIT", "int", 500, "documents per query per repair sweep"),
    ParamSpec("VIDEO_MAX_GUESTS", "int", 1, "invited guests (interpreter, caregiver) per visit, 0 to 3"),
    # One param for two uses: reminders link to it with ?appointmentId=, invitations with #invite=<code>.
    ParamSpec("VIDEO_JOIN_PAGE_URL", "str", "", "the clinic's join page (reminders, invitation links); empty: none"),
)
# Reminders and notifications (telehealth.notify.settings checks them; docs/reminders.md).
SMS_SECRET = "VIDEO_SMS_API_SECRET"  # noqa: S105 - the param's name, not a secret
NOTIFY_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("VIDEO_REMINDERS_MIN", "str", "1440,15", "minutes before start to remind each participant; empty: none"),
    ParamSpec("VIDEO_CLINIC_NAME", "str", "", "the clinic's name in messages"),
    ParamSpec("VIDEO_DEFAULT_LOCALE", "str", "en", "message language of users without users/{uid}.locale: en or tr"),
    ParamSpec("VIDEO_DEFAULT_TIME_ZONE", "str", "UTC", "IANA time zone of users without users/{uid}.timeZone"),
    ParamSpec("VIDEO_MAIL_COLLECTION", "str", "mail", "the Trigger Email extension's collection; empty: no email"),
    ParamSpec("VIDEO_MAIL_FROM", "str", "", "the mails' from address; empty: the extension's default"),
    ParamSpec("VIDEO_FCM_API_URL", "str", "", "FCM's API base URL; empty: https://fcm.googleapis.com"),
    ParamSpec("VIDEO_SMS_FROM", "str", "", "Twilio sender number or Messaging Service SID; empty: no SMS"),
    ParamSpec("VIDEO_SMS_ACCOUNT_SID", "str", "", "Twilio account SID for SMS"),
    ParamSpec("VIDEO_SMS_API_KEY", "str", "", "Twilio API key SID for SMS (or the account SID with its Auth Token)"),
    ParamSpec("VIDEO_SMS_API_URL", "str", "", "Twilio's API base URL for SMS; empty: https://api.twilio.com"),
)
COMMON_PARAMS = (*COMMON_PARAMS, *NOTIFY_PARAMS)
COMMON_SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec(SIGNING_KEY, "the provider's signing key: an HMAC secret or an RSA PEM (docs/providers.md)"),
    SecretSpec(WEBHOOK_SECRET, "shared secret of webhooks that are not signed with the signing key"),
    SecretSpec(SMS_SECRET, "Twilio API key secret (or Auth Token) for SMS; none: no SMS"),
)


@dataclass(frozen=True, kw_only=True)
class RecordingConfig:
    """Where recordings are kept and the bounds on them (``recording_config`` checks the params)."""

    # Empty: recordings are off.

    bucket: str = ""
    retention_days: int = 90
    patient_access: bool = False
    url_ttl_seconds: int = 300
    max_bytes: int = 2048 * 1024 * 1024
    copy_seconds: int = 300
    download_hosts: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        """Whether recordings are kept at all (a bucket is configured)."""
        return bool(self.bucket)


@dataclass(frozen=True, kw_only=True)
class VideoConfig:
    """The plain (non-secret) video settings, validated; ``options`` is the provider's own, parsed by it."""

    provider: str
    domain: str
    app_id: str = ""
    opens_minutes_before: int = 15
    closes_minutes_after: int = 30
    token_ttl_minutes: int = 60
    include_email: bool = False
    doctor_features: frozenset[str] = field(default_factory=frozenset)
    waiting_room: WaitingRoom = "host"
    # Where the provider's server API lives, if not at https://<domain>.
    server_api: str = ""
    # Invited guests per visit (``invite_guest``), each one more participant beside the doctor and the patient.
    max_guests: int = 1
    # The clinic's join page (``VIDEO_JOIN_PAGE_URL``); empty when the deployment names none.
    join_page_url: str = ""
    # Rooms are created at the provider at assignment; joins wait for ``video.providerRoomId``.
    creates_rooms: bool = False
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    options: Any = None

    @property
    def server_api_url(self) -> str:
        """The provider's server API base URL (``VIDEO_SERVER_API_URL``, else ``https://<domain>``)."""
        return self.server_api or f"https://{self.domain}"


def read_values(params: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """Every declared param's ``.value`` by name; one that does not parse fails closed (or is left out)."""
    values: dict[str, Any] = {}
    for name, param in params.items():
        try:
            values[name] = param.value
        except ValueError:
            if strict:
                raise Misconfigured(f"{name} does not parse") from None
    return values


def text(values: Mapping[str, Any], name: str, default: str = "") -> str:
    """A string param's value, stripped (absent: its default)."""
    value = values.get(name, default)
    if not isinstance(value, str):
        raise Misconfigured(f"{name} must be text")
    return value.strip()


def number(values: Mapping[str, Any], name: str, default: int) -> int:
    """An integer param's value (absent: its default)."""
    value = values.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Misconfigured(f"{name} must be a whole number")
    return value


def parse_features(raw: str) -> frozenset[str]:
    """A comma-separated param value as a set of feature names."""
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def parse_waiting_room(raw: str) -> WaitingRoom:
    """The waiting-room param, checked (a typo fails closed rather than opening the room)."""
    value = raw.strip().lower()
    if value not in WAITING_ROOMS:
        raise Misconfigured(f"VIDEO_WAITING_ROOM must be one of {', '.join(WAITING_ROOMS)}")
    return value


def check_features(features: frozenset[str], provider: str, switchable: frozenset[str]) -> None:
    """Only capture features the provider's token can switch; never dial-out, never an unknown name."""
    dial_out = features & set(DIAL_OUT_FEATURES)
    if dial_out:
        raise Misconfigured(
            f"VIDEO_DOCTOR_FEATURES may not hold {', '.join(sorted(dial_out))}: third parties join as guests"
        )
    unknown = features - set(CAPTURE_FEATURES)
    if unknown:
        raise Misconfigured(f"VIDEO_DOCTOR_FEATURES allows only {', '.join(CAPTURE_FEATURES)}")
    unswitchable = features - switchable
    if unswitchable:
        raise Misconfigured(
            f"VIDEO_DOCTOR_FEATURES: provider {provider} cannot switch {', '.join(sorted(unswitchable))} in its "
            "token; leave it empty and keep account-level recording off"
        )


def shared_config(values: Mapping[str, Any], provider: str, default_domain: str) -> dict[str, Any]:
    """The checked values of the params every provider shares, as ``VideoConfig`` fields."""
    domain = text(values, "VIDEO_DOMAIN") or default_domain
    if not HOST.match(domain):
        raise Misconfigured("VIDEO_DOMAIN must be a lowercase host name (optionally :port), no scheme")
    opens = number(values, "VIDEO_JOIN_OPENS_MIN", 15)
    closes = number(values, "VIDEO_JOIN_CLOSES_MIN", 30)
    ttl = number(values, "VIDEO_TOKEN_TTL_MIN", 60)
    for name, minutes, low in (("VIDEO_JOIN_OPENS_MIN", opens, 0), ("VIDEO_JOIN_CLOSES_MIN", closes, 0)):
        if not low <= minutes <= 24 * 60:
            raise Misconfigured(f"{name} must be between {low} and {24 * 60} minutes")
    if not 1 <= ttl <= 24 * 60:
        raise Misconfigured(f"VIDEO_TOKEN_TTL_MIN must be between 1 and {24 * 60} minutes")
    server_api = text(values, "VIDEO_SERVER_API_URL")
    if server_api and not _SERVER_API.fullmatch(server_api):
        raise Misconfigured("VIDEO_SERVER_API_URL must be http(s)://host[:port], nothing after it")
    max_guests = number(values, "VIDEO_MAX_GUESTS", 1)
    if not 0 <= max_guests <= MAX_GUESTS_LIMIT:
        raise Misconfigured(f"VIDEO_MAX_GUESTS must be between 0 and {MAX_GUESTS_LIMIT}")
    join_page = text(values, "VIDEO_JOIN_PAGE_URL")
    if join_page and not _JOIN_PAGE.fullmatch(join_page):
        raise Misconfigured("VIDEO_JOIN_PAGE_URL must be an http(s) URL without a fragment")
    email = values.get("VIDEO_TOKEN_EMAIL", False)
    if not isinstance(email, bool):
        raise Misconfigured("VIDEO_TOKEN_EMAIL must be true or false")
    return {
        "provider": provider,
        "domain": domain,
        "app_id": text(values, "VIDEO_APP_ID"),
        "opens_minutes_before": opens,
        "closes_minutes_after": closes,
        "token_ttl_minutes": ttl,
        "include_email": email,
        "doctor_features": parse_features(text(values, "VIDEO_DOCTOR_FEATURES")),
        "waiting_room": parse_waiting_room(text(values, "VIDEO_WAITING_ROOM", "host")),
        "server_api": server_api,
        "max_guests": max_guests,
        "join_page_url": join_page,
    }


def check_shared_secret(name: str, value: str, min_bytes: int = MIN_SECRET_BYTES) -> str:
    """A shared secret fit to verify with: at least ``min_bytes`` (32 unless the provider generates shorter
    ones itself) and not a placeholder; named when it is not."""
    stripped = value.strip()
    if not stripped:
        raise Misconfigured(f"{name} is not set")
    if stripped.lower() in PLACEHOLDERS or len(set(stripped)) == 1:
        raise Misconfigured(f"{name} is a placeholder, not a secret")
    if len(value.encode("utf-8")) < min_bytes:
        raise Misconfigured(f"{name} is too short: at least {min_bytes} bytes needed")
    return value


@dataclass(frozen=True)
class SigningKey:
    """The provider signing key: raw HMAC bytes, or a parsed RSA private key."""

    algorithm: Literal["HS256", "RS256"]
    key: object = field(repr=False)

    def hmac_secret(self) -> str:
        """The HMAC secret as text, as server-API clients and webhook verifiers take it."""
        if not isinstance(self.key, bytes):
            raise Misconfigured("VIDEO_SIGNING_KEY must be an HMAC secret for this provider, not an RSA key")
        return self.key.decode("utf-8")


def load_signing_key(provider: str, algorithm: Literal["HS256", "RS256"], secret: str) -> SigningKey:
    """Check ``VIDEO_SIGNING_KEY`` for the provider's algorithm and parse it once; never echoes the key."""
    if not secret or not secret.strip():
        raise Misconfigured("VIDEO_SIGNING_KEY is not set")
    if algorithm == "HS256":
        if "-----BEGIN" in secret:
            raise Misconfigured(f"VIDEO_SIGNING_KEY holds a PEM key, but provider {provider} signs with HMAC")
        raw = secret.encode("utf-8")
        if len(raw) < MIN_SECRET_BYTES:
            raise Misconfigured(
                f"VIDEO_SIGNING_KEY is too short for HS256: {len(raw)} bytes, at least {MIN_SECRET_BYTES} needed"
            )
        check_shared_secret(SIGNING_KEY, secret)
        return SigningKey("HS256", raw)
    return SigningKey("RS256", load_rsa_private_key(secret, SIGNING_KEY, f"provider {provider} signs with RS256"))


def load_rsa_private_key(pem: str, name: str, use: str) -> object:
    """An unencrypted RSA private key of at least 2048 bits from PEM; the setting is named when it is not."""
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


@dataclass(frozen=True)
class Settings:
    """Everything a join needs: the plain config and the parsed signing key."""

    config: VideoConfig
    signing_key: SigningKey
