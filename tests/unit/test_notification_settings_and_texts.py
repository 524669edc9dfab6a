# ruff: noqa: RUF001 - Turkish texts: the dotless i is a letter of the language, not a look-alike
"""The reminder params fail closed by name; messages in English and Turkish say the clinic, the time in the
user's zone and the join link only; the calendar entry keeps its UID and raises its SEQUENCE."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import icalendar
import pytest

from telehealth.errors import Misconfigured
from telehealth.notify import calendar, texts
from telehealth.notify.settings import NotifySettings, SmsSettings, notify_settings, parse_offsets, time_zone_or_none

ACCOUNT, KEY = "AC" + "0" * 32, "SK" + "1" * 32
START = dt.datetime(2026, 3, 2, 10, 20, tzinfo=dt.UTC)


def test_the_defaults_remind_a_day_and_a_quarter_hour_before_in_english_and_utc() -> None:
    assert notify_settings({}) == NotifySettings()
    assert NotifySettings().offsets == (1440, 15)


@pytest.mark.parametrize(
    ("raw", "offsets"),
    [
        ("15", (15,)),
        (" 15 , 1440 ", (1440, 15)),
        ("60,60,5", (60, 5)),
        ("", ()),
        ("10080", (10080,)),
        ("1", (1,)),
        ("1,2,3,4,5", (5, 4, 3, 2, 1)),
    ],
)
def test_reminder_offsets_are_whole_minutes_largest_first(raw: str, offsets: tuple[int, ...]) -> None:
    assert parse_offsets(raw) == offsets


@pytest.mark.parametrize(
    ("values", "named"),
    [
        pytest.param({"VIDEO_REMINDERS_MIN": "15m"}, "VIDEO_REMINDERS_MIN", id="a unit"),
        pytest.param({"VIDEO_REMINDERS_MIN": "-5"}, "VIDEO_REMINDERS_MIN", id="negative"),
        pytest.param({"VIDEO_REMINDERS_MIN": "0"}, "VIDEO_REMINDERS_MIN", id="zero"),
        pytest.param({"VIDEO_REMINDERS_MIN": "10081"}, "VIDEO_REMINDERS_MIN", id="over a week"),
        pytest.param({"VIDEO_REMINDERS_MIN": "1,2,3,4,5,6"}, "VIDEO_REMINDERS_MIN", id="six offsets"),
        pytest.param({"VIDEO_DEFAULT_LOCALE": "de"}, "VIDEO_DEFAULT_LOCALE", id="a locale without texts"),
        pytest.param({"VIDEO_DEFAULT_TIME_ZONE": "Mars/Olympus"}, "VIDEO_DEFAULT_TIME_ZONE", id="no such zone"),
        pytest.param({"VIDEO_DEFAULT_TIME_ZONE": "../etc/passwd"}, "VIDEO_DEFAULT_TIME_ZONE", id="a path"),
        pytest.param({"VIDEO_JOIN_PAGE_URL": "http://clinic.example.test/"}, "VIDEO_JOIN_PAGE_URL", id="plain http"),
        pytest.param({"VIDEO_JOIN_PAGE_URL": "https://c.test/v?x=1"}, "VIDEO_JOIN_PAGE_URL", id="a query"),
        pytest.param({"VIDEO_MAIL_COLLECTION": "mail/x"}, "VIDEO_MAIL_COLLECTION", id="a path for mail"),
        pytest.param({"VIDEO_FCM_API_URL": "https://fcm.test/v1"}, "VIDEO_FCM_API_URL", id="a path for FCM"),
        pytest.param({"VIDEO_CLINIC_NAME": "x" * 81}, "VIDEO_CLINIC_NAME", id="a long clinic name"),
        pytest.param({"VIDEO_CLINIC_NAME": "Clinic\u202e"}, "VIDEO_CLINIC_NAME", id="a format character"),
        pytest.param({"VIDEO_SMS_FROM": "5550100"}, "VIDEO_SMS_FROM", id="a number without +"),
        pytest.param({"VIDEO_SMS_FROM": "+15550100"}, "VIDEO_SMS_ACCOUNT_SID", id="SMS without an account"),
        pytest.param(
            {"VIDEO_SMS_FROM": "+15550100", "VIDEO_SMS_ACCOUNT_SID": KEY},
            "VIDEO_SMS_ACCOUNT_SID",
            id="a key as account",
        ),
        pytest.param(
            {"VIDEO_SMS_FROM": "+15550100", "VIDEO_SMS_ACCOUNT_SID": ACCOUNT, "VIDEO_SMS_API_KEY": "SK1"},
            "VIDEO_SMS_API_KEY",
            id="a short key",
        ),
        pytest.param(
            {"VIDEO_SMS_FROM": "+15550100", "VIDEO_SMS_ACCOUNT_SID": ACCOUNT, "VIDEO_SMS_API_URL": "ftp://x"},
            "VIDEO_SMS_API_URL",
            id="an SMS API that is no http",
        ),
    ],
)
def test_an_unusable_setting_fails_closed_by_name(values: dict[str, Any], named: str) -> None:
    with pytest.raises(Misconfigured) as raised:
        notify_settings(values)
    assert named in raised.value.problem


def test_a_full_configuration_is_kept() -> None:
    settings = notify_settings(
        {
            "VIDEO_REMINDERS_MIN": "60",
            "VIDEO_CLINIC_NAME": " Harbour Clinic ",
            "VIDEO_JOIN_PAGE_URL": "https://clinic.example.test/visit",
            "VIDEO_DEFAULT_LOCALE": "TR",
            "VIDEO_DEFAULT_TIME_ZONE": "Europe/Istanbul",
            "VIDEO_MAIL_COLLECTION": "outbox",
            "VIDEO_MAIL_FROM": "visits@clinic.example.test",
            "VIDEO_FCM_API_URL": "http://127.0.0.1:7000",
            "VIDEO_SMS_FROM": "MG" + "a" * 32,
            "VIDEO_SMS_ACCOUNT_SID": ACCOUNT,
            "VIDEO_SMS_API_KEY": KEY,
            "VIDEO_SMS_API_URL": "http://localhost:7001",
        }
    )
    assert settings == NotifySettings(
        offsets=(60,),
        clinic_name="Harbour Clinic",
        join_page_url="https://clinic.example.test/visit",
        default_locale="tr",
        default_time_zone="Europe/Istanbul",
        mail_collection="outbox",
        mail_from="visits@clinic.example.test",
        fcm_api_url="http://127.0.0.1:7000",
        sms=SmsSettings(sender="MG" + "a" * 32, account_sid=ACCOUNT, api_key=KEY, api_url="http://localhost:7001"),
    )


def test_the_longest_clinic_name_is_kept() -> None:
    assert notify_settings({"VIDEO_CLINIC_NAME": "x" * 80}).clinic_name == "x" * 80


def test_sms_with_the_account_and_its_auth_token_uses_the_account_as_the_key() -> None:
    sms = notify_settings({"VIDEO_SMS_FROM": "+905551112233", "VIDEO_SMS_ACCOUNT_SID": ACCOUNT}).sms
    assert sms == SmsSettings(sender="+905551112233", account_sid=ACCOUNT, api_key=ACCOUNT, api_url="")
    assert notify_settings({"VIDEO_MAIL_COLLECTION": ""}).mail_collection == ""


@pytest.mark.parametrize("raw", [None, 7, "", "x" * 65, "/etc/localtime", "Europe/../UTC", "No/Such_Zone"])
def test_names_that_are_no_time_zone(raw: Any) -> None:
    assert time_zone_or_none(raw) is None
    assert time_zone_or_none("Asia/Tokyo") == zoneinfo.ZoneInfo("Asia/Tokyo")


ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")


@pytest.mark.parametrize(
    ("locale", "zone", "expected"),
    [
        ("en", zoneinfo.ZoneInfo("UTC"), "Monday 2 March 2026, 10:20 (UTC)"),
        ("tr", ISTANBUL, "2 Mart 2026 Pazartesi, 13:20 (Europe/Istanbul)"),
        ("en", zoneinfo.ZoneInfo("America/Los_Angeles"), "Monday 2 March 2026, 02:20 (America/Los_Angeles)"),
        ("tr", zoneinfo.ZoneInfo("Pacific/Kiritimati"), "3 Mart 2026 Salı, 00:20 (Pacific/Kiritimati)"),
    ],
)
def test_times_are_written_in_the_users_zone_and_language(locale: Any, zone: Any, expected: str) -> None:
    assert texts.local_time(START, zone, locale) == expected


@pytest.mark.parametrize(
    ("kind", "locale", "subject"),
    [
        ("reminder", "en", "Reminder: your video visit with Harbour, Monday 2 March 2026, 10:20 (UTC)"),
        ("ready", "en", "Your doctor is ready: your video visit with Harbour"),
        ("cancelled", "en", "Cancelled: your video visit with Harbour, Monday 2 March 2026, 10:20 (UTC)"),
        ("reminder", "tr", "Hatırlatma: Harbour ile görüntülü görüşmeniz, 2 Mart 2026 Pazartesi, 10:20 (UTC)"),
        ("ready", "tr", "Doktorunuz hazır: Harbour ile görüntülü görüşmeniz"),
        ("cancelled", "tr", "İptal edildi: Harbour ile görüntülü görüşmeniz, 2 Mart 2026 Pazartesi, 10:20 (UTC)"),
    ],
)
def test_each_kind_has_its_subject_in_each_language(kind: str, locale: Any, subject: str) -> None:
    link = "https://c.test/v?appointmentId=a1"
    text = texts.compose(
        kind, locale=locale, clinic_name="Harbour", starts_at=START, zone=zoneinfo.ZoneInfo("UTC"), link=link
    )
    assert text.subject == subject
    if kind == "cancelled":
        assert link not in text.text
        assert link not in text.html
        assert link not in text.short
    else:
        assert text.text.endswith(f"{link}\n")
        assert f'<a href="{link}">{link}</a>' in text.html
        assert text.short.endswith(link)


def test_without_a_clinic_name_or_join_page_the_texts_stay_neutral() -> None:
    text = texts.compose(
        "reminder", locale="en", clinic_name="", starts_at=START, zone=zoneinfo.ZoneInfo("UTC"), link=""
    )
    assert text.subject.startswith("Reminder: your video visit with your clinic,")
    assert text.text == "Your video visit with your clinic starts Monday 2 March 2026, 10:20 (UTC).\n"
    assert text.short == text.text.strip()
    assert texts.join_link("", "a1") == ""
    assert texts.join_link("https://c.test/v", "a b&c") == "https://c.test/v?appointmentId=a+b%26c"


def test_html_is_escaped() -> None:
    text = texts.compose(
        "ready", locale="en", clinic_name="<b>A&B</b>", starts_at=START, zone=zoneinfo.ZoneInfo("UTC"), link=""
    )
    assert "<b>" not in text.html
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in text.html


def entry(**changes: Any) -> tuple[Any, Any]:
    fields: dict[str, Any] = {
        "uid": calendar.visit_uid("demo-telehealth", "a1"),
        "sequence": 7,
        "cancelled": False,
        "starts_at": START,
        "ends_at": START + dt.timedelta(minutes=30),
        "stamped_at": START - dt.timedelta(hours=1),
        "clinic_name": "Harbour",
        "locale": "en",
        "link": "https://c.test/v?appointmentId=a1",
    } | changes
    parsed = icalendar.Calendar.from_ical(calendar.invitation(**fields))
    [event] = parsed.walk("VEVENT")
    return parsed, event


def test_the_calendar_entry_is_rfc_5545_with_the_visits_times_title_and_link() -> None:
    parsed, event = entry()
    assert (str(parsed["VERSION"]), str(parsed["METHOD"]), str(parsed["PRODID"])) == (
        "2.0",
        "REQUEST",
        calendar.PRODUCT_ID,
    )
    assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (START, START + dt.timedelta(minutes=30))
    assert event.decoded("DTSTAMP") == START - dt.timedelta(hours=1)
    assert (str(event["SUMMARY"]), str(event["STATUS"]), int(event["SEQUENCE"])) == (
        "Video visit: Harbour",
        "CONFIRMED",
        7,
    )
    assert str(event["URL"]) == str(event["DESCRIPTION"]) == "https://c.test/v?appointmentId=a1"
    assert "ORGANIZER" not in event
    raw = calendar.invitation(
        uid="u", sequence=0, cancelled=False, starts_at=START, ends_at=START, stamped_at=START,
        clinic_name="", locale="tr", link="",
    )  # fmt: skip
    assert "\r\n" in raw
    assert "URL" not in raw
    assert "SUMMARY:Görüntülü görüşme: kliniğiniz" in raw


def test_a_cancellation_keeps_the_uid_and_says_cancel() -> None:
    parsed, event = entry(cancelled=True, sequence=9, organizer="visits@c.test")
    assert (str(parsed["METHOD"]), str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCEL", "CANCELLED", 9)
    assert str(event["UID"]) == calendar.visit_uid("demo-telehealth", "a1")
    assert str(event["ORGANIZER"]) == "mailto:visits@c.test"
    assert calendar.content_type(True) == "text/calendar; method=CANCEL; charset=UTF-8"
    assert calendar.content_type(False) == "text/calendar; method=REQUEST; charset=UTF-8"


def test_the_uid_is_stable_per_appointment_and_derived_from_nothing_personal() -> None:
    uid = calendar.visit_uid("demo-telehealth", "a1")
    assert uid == calendar.visit_uid("demo-telehealth", "a1")
    assert uid != calendar.visit_uid("demo-telehealth", "a2") != calendar.visit_uid("other", "a1")
    assert "a1" not in uid.split("@")[0]
    assert uid.endswith("@visits.telehealth")


def test_the_sequence_grows_with_the_write_time() -> None:
    assert calendar.sequence_at(calendar.SEQUENCE_EPOCH - dt.timedelta(days=1)) == 0
    assert calendar.sequence_at(calendar.SEQUENCE_EPOCH + dt.timedelta(seconds=90)) == 90
    assert calendar.sequence_at(dt.datetime(2094, 1, 1, tzinfo=dt.UTC)) < 2**31
