"""The reminder and notification params, checked into one frozen object (``config.NOTIFY_PARAMS`` declares them).

A setting that does not parse fails closed with its name (``Misconfigured``), like the video params;
the room lifecycle never depends on these (the trigger logs and skips reminders when they are unusable).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..config import text
from ..errors import Misconfigured

Locale = Literal["en", "tr"]
LOCALES: tuple[Locale, ...] = ("en", "tr")
MAX_OFFSETS = 5
MAX_OFFSET_MINUTES = 7 * 24 * 60
# Who may be linked to: https anywhere, http only on loopback (local work and tests).
_URL = re.compile(r"(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?|http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?)(/[^?#\s]*)?")
_API = re.compile(r"(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?|http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?)")
_COLLECTION = re.compile(r"[A-Za-z0-9_-]{1,100}")
_TWILIO_SID = re.compile(r"(AC|SK)[0-9a-f]{32}")
_SMS_SENDER = re.compile(r"\+[1-9][0-9]{6,14}|MG[0-9a-f]{32}")


@dataclass(frozen=True)
class SmsSettings:
    """Twilio Messaging, where configured: the account, the API key (or the account with its Auth Token)."""

    sender: str
    account_sid: str
    api_key: str
    api_url: str


@dataclass(frozen=True, kw_only=True)
class NotifySettings:
    """What reminders and notifications need; ``offsets`` are minutes before the start, largest first."""

    offsets: tuple[int, ...] = (1440, 15)
    clinic_name: str = ""
    join_page_url: str = ""
    default_locale: Locale = "en"
    default_time_zone: str = "UTC"
    mail_collection: str = "mail"
    mail_from: str = ""
    fcm_api_url: str = ""
    sms: SmsSettings | None = None


def parse_offsets(raw: str) -> tuple[int, ...]:
    """``VIDEO_REMINDERS_MIN``: whole minutes, comma-separated, each 1 to 7 days, at most five, largest first."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(part.isdigit() for part in parts):
        raise Misconfigured("VIDEO_REMINDERS_MIN must be whole minutes, comma-separated")
    offsets = sorted({int(part) for part in parts}, reverse=True)
    if len(offsets) > MAX_OFFSETS or any(not 1 <= minutes <= MAX_OFFSET_MINUTES for minutes in offsets):
        raise Misconfigured(f"VIDEO_REMINDERS_MIN takes at most {MAX_OFFSETS} offsets of 1 to {MAX_OFFSET_MINUTES}")
    return tuple(offsets)


def parse_locale(raw: str, name: str = "VIDEO_DEFAULT_LOCALE") -> Locale:
    """A message language we have texts for."""
    value = raw.strip().lower()
    for locale in LOCALES:
        if value == locale:
            return locale
    raise Misconfigured(f"{name} must be one of {', '.join(LOCALES)}")


def time_zone_or_none(raw: Any) -> zoneinfo.ZoneInfo | None:
    """An IANA time zone by name, or None when the value names none."""
    if not isinstance(raw, str) or not raw or len(raw) > 64 or raw.startswith(("/", ".")) or ".." in raw:
        return None
    try:
        return zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _sms(values: Mapping[str, Any]) -> SmsSettings | None:
    sender = text(values, "VIDEO_SMS_FROM")
    if not sender:
        return None
    if not _SMS_SENDER.fullmatch(sender):
        raise Misconfigured("VIDEO_SMS_FROM must be an E.164 number or a Messaging Service SID (MG...)")
    account = text(values, "VIDEO_SMS_ACCOUNT_SID")
    key = text(values, "VIDEO_SMS_API_KEY") or account
    if not account.startswith("AC") or not _TWILIO_SID.fullmatch(account) or not _TWILIO_SID.fullmatch(key):
        raise Misconfigured("VIDEO_SMS_ACCOUNT_SID (AC...) and VIDEO_SMS_API_KEY (SK... or AC...) must be Twilio SIDs")
    api_url = text(values, "VIDEO_SMS_API_URL")
    if api_url and not _API.fullmatch(api_url):
        raise Misconfigured("VIDEO_SMS_API_URL must be http(s)://host[:port], nothing after it")
    return SmsSettings(sender=sender, account_sid=account, api_key=key, api_url=api_url)


def notify_settings(values: Mapping[str, Any]) -> NotifySettings:
    """The one constructor: raw param values by name (absent: defaults), checked."""
    join_page = text(values, "VIDEO_JOIN_PAGE_URL")
    if join_page and not _URL.fullmatch(join_page):
        raise Misconfigured("VIDEO_JOIN_PAGE_URL must be an https URL (http only on loopback), without ? or #")
    zone = text(values, "VIDEO_DEFAULT_TIME_ZONE", "UTC")
    if time_zone_or_none(zone) is None:
        raise Misconfigured("VIDEO_DEFAULT_TIME_ZONE must be an IANA time zone name")
    collection = text(values, "VIDEO_MAIL_COLLECTION", "mail")
    if collection and not _COLLECTION.fullmatch(collection):
        raise Misconfigured("VIDEO_MAIL_COLLECTION must be a top-level collection id")
    fcm = text(values, "VIDEO_FCM_API_URL")
    if fcm and not _API.fullmatch(fcm):
        raise Misconfigured("VIDEO_FCM_API_URL must be http(s)://host[:port], nothing after it")
    clinic = text(values, "VIDEO_CLINIC_NAME")
    if len(clinic) > 80 or any(not character.isprintable() for character in clinic):
        raise Misconfigured("VIDEO_CLINIC_NAME must be at most 80 printable characters")
    return NotifySettings(
        offsets=parse_offsets(text(values, "VIDEO_REMINDERS_MIN", "1440,15")),
        clinic_name=clinic,
        join_page_url=join_page,
        default_locale=parse_locale(text(values, "VIDEO_DEFAULT_LOCALE", "en")),
        default_time_zone=zone,
        mail_collection=collection,
        mail_from=text(values, "VIDEO_MAIL_FROM"),
        fcm_api_url=fcm,
        sms=_sms(values),
    )
