# ruff: noqa: RUF001 - Turkish texts: the dotless i is a letter of the language, not a look-alike
"""What a notification says, in English and Turkish: the clinic's name, the time and the join page's link only.

No names, no health data, no token, no room name: a message can be read on a lock screen or by whoever
shares the mailbox. Times are written in the recipient's time zone, with its name.
"""

from __future__ import annotations

import datetime as dt
import html
import urllib.parse
import zoneinfo
from dataclasses import dataclass

from .settings import Locale

KINDS = ("reminder", "ready", "cancelled")
MONTHS: dict[Locale, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "tr": (
        "Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran",
        "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık",
    ),
}  # fmt: skip
WEEKDAYS: dict[Locale, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "tr": ("Pazartesi", "Salı", "Çarşamba", "Perşembe", "Cuma", "Cumartesi", "Pazar"),
}
# Without VIDEO_CLINIC_NAME the messages name no clinic.
NO_CLINIC: dict[Locale, str] = {"en": "your clinic", "tr": "kliniğiniz"}
SUBJECTS: dict[Locale, dict[str, str]] = {
    "en": {
        "reminder": "Reminder: your video visit with {clinic}, {time}",
        "ready": "Your doctor is ready: your video visit with {clinic}",
        "cancelled": "Cancelled: your video visit with {clinic}, {time}",
    },
    "tr": {
        "reminder": "Hatırlatma: {clinic} ile görüntülü görüşmeniz, {time}",
        "ready": "Doktorunuz hazır: {clinic} ile görüntülü görüşmeniz",
        "cancelled": "İptal edildi: {clinic} ile görüntülü görüşmeniz, {time}",
    },
}
BODIES: dict[Locale, dict[str, str]] = {
    "en": {
        "reminder": "Your video visit with {clinic} starts {time}.",
        "ready": "Your doctor is waiting for you in your video visit with {clinic} ({time}).",
        "cancelled": "Your video visit with {clinic} on {time} has been cancelled.",
    },
    "tr": {
        "reminder": "{clinic} ile görüntülü görüşmeniz {time} başlıyor.",
        "ready": "Doktorunuz {clinic} ile görüntülü görüşmenizde sizi bekliyor ({time}).",
        "cancelled": "{clinic} ile {time} tarihli görüntülü görüşmeniz iptal edildi.",
    },
}
JOIN: dict[Locale, str] = {"en": "Join from the clinic's page: {link}", "tr": "Klinik sayfasından katılın: {link}"}
# The calendar entry's title.
EVENT_TITLES: dict[Locale, str] = {"en": "Video visit: {clinic}", "tr": "Görüntülü görüşme: {clinic}"}


@dataclass(frozen=True)
class Text:
    """One notification in one language: an email's subject, text and HTML, and a short line for push and SMS."""

    subject: str
    text: str
    html: str
    short: str


def local_time(at: dt.datetime, zone: zoneinfo.ZoneInfo, locale: Locale) -> str:
    """A moment as the recipient reads it, e.g. ``Tuesday 2 December 2026, 14:30 (Europe/Istanbul)``."""
    local = at.astimezone(zone)
    month, weekday = MONTHS[locale][local.month - 1], WEEKDAYS[locale][local.weekday()]
    date = (
        f"{weekday} {local.day} {month} {local.year}"
        if locale == "en"
        else f"{local.day} {month} {local.year} {weekday}"
    )
    return f"{date}, {local:%H:%M} ({zone.key})"


def join_link(join_page_url: str, appointment_id: str) -> str:
    """The clinic's join page for this visit (empty when the deployment has none); never a token or room."""
    if not join_page_url:
        return ""
    return f"{join_page_url}?{urllib.parse.urlencode({'appointmentId': appointment_id})}"


def clinic_or_default(clinic_name: str, locale: Locale) -> str:
    """The clinic's name, or a neutral phrase where none is configured."""
    return clinic_name or NO_CLINIC[locale]


def event_title(clinic_name: str, locale: Locale) -> str:
    """The calendar entry's summary."""
    return EVENT_TITLES[locale].format(clinic=clinic_or_default(clinic_name, locale))


def compose(
    kind: str, *, locale: Locale, clinic_name: str, starts_at: dt.datetime, zone: zoneinfo.ZoneInfo, link: str
) -> Text:
    """The notification of ``kind`` (reminder, ready, cancelled) for one recipient."""
    fields = {"clinic": clinic_or_default(clinic_name, locale), "time": local_time(starts_at, zone, locale)}
    subject = SUBJECTS[locale][kind].format(**fields)
    body = BODIES[locale][kind].format(**fields)
    join = JOIN[locale].format(link=link) if link and kind != "cancelled" else ""
    plain = f"{body}\n\n{join}\n" if join else f"{body}\n"
    joined = ""
    if join:
        anchor = f'<a href="{html.escape(link, quote=True)}">{html.escape(link)}</a>'
        joined = f"<p>{html.escape(JOIN[locale].format(link='')).rstrip()} {anchor}</p>"
    markup = f"<p>{html.escape(body)}</p>{joined}"
    short = f"{body} {link}" if join else body
    return Text(subject=subject, text=plain, html=markup, short=short)
