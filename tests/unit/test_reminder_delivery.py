"""The reminder task: it sends only while the visit stands as the task was made for, on each channel the user has
not turned off, once however often it is delivered, each send logged without its content."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import icalendar
import pytest
from conftest import DOCTOR, NOW, NOW_S, PATIENT, appointment
from google.api_core.exceptions import ServiceUnavailable
from support.fakes import FakeDB

from telehealth import delivery
from telehealth.delivery import Channels, Delivery
from telehealth.notify.calendar import visit_uid
from telehealth.notify.contacts import Contact
from telehealth.notify.push import Device, PushNote, PushOutcome
from telehealth.notify.settings import NotifySettings
from telehealth.reminders import CANCELLED, READY, REMINDER, ReminderTask, room_tag

MIN = dt.timedelta(minutes=1)
START = NOW + 20 * MIN
ROOM = "r" * 32
SETTINGS = NotifySettings(clinic_name="Harbour Clinic", join_page_url="https://clinic.example.test/visit")
EMAILS = {PATIENT: "pat@example.test", DOCTOR: "ada@example.test"}
PHONES = {PATIENT: "+905551112233", DOCTOR: "+441234567890"}


class Senders:
    """Records every push and SMS, answering as told."""

    def __init__(self) -> None:
        self.pushes: list[tuple[list[Device], PushNote]] = []
        self.texts: list[tuple[str, str]] = []
        self.push_answer: PushOutcome | Exception | None = None
        self.sms_answer: bool | Exception = True
        self.lookups: list[str] = []

    def push(self, devices: list[Device], note: PushNote) -> PushOutcome:
        self.pushes.append((devices, note))
        if isinstance(self.push_answer, Exception):
            raise self.push_answer
        return self.push_answer or PushOutcome(delivered=len(devices))

    def sms(self, to: str, body: str) -> bool:
        self.texts.append((to, body))
        if isinstance(self.sms_answer, Exception):
            raise self.sms_answer
        return self.sms_answer

    def contact(self, uid: str) -> Contact:
        self.lookups.append(uid)
        return Contact(email=EMAILS.get(uid), phone=PHONES.get(uid))

    def channels(self) -> Channels:
        return Channels(contact=self.contact, push=self.push, sms=self.sms)


def stored(db: FakeDB, **changes: Any) -> dict[str, Any]:
    video = {"roomName": ROOM, "provider": "jitsi", "roomUrl": f"https://meet.test/{ROOM}"}
    fields = appointment(**{"startTime": START, "endTime": START + 30 * MIN, "video": video, **changes})
    db.put("appointments/visit-1", fields)
    return fields


def task(kind: str = REMINDER, uid: str = PATIENT, role: str = "patient", **changes: Any) -> ReminderTask:
    base = ReminderTask(kind, "visit-1", uid, role, int(START.timestamp()), 1234, 15 if kind == REMINDER else 0)
    return replace(base, **changes)


def run(
    db: FakeDB, sent: ReminderTask | dict[str, Any], senders: Senders, settings: NotifySettings = SETTINGS
) -> Delivery:
    payload = sent.payload() if isinstance(sent, ReminderTask) else sent
    return delivery.send_visit_reminder(
        db,
        payload,
        settings=settings,
        channels=senders.channels(),
        project="demo-telehealth",
        now=NOW_S,
        retention_days=30,
    )


def docs(db: FakeDB, prefix: str) -> dict[str, dict[str, Any]]:
    return {path: data for path, data in db.docs.items() if path.startswith(prefix)}


@pytest.fixture
def db() -> FakeDB:
    fake = FakeDB()
    stored(fake)
    fake.put(f"users/{PATIENT}/devices/token-a", {"platform": "web"})
    fake.put(f"users/{PATIENT}/devices/token-b", {"platform": "android", "kind": "token"})
    return fake


def test_a_reminder_reaches_every_channel_once(db: FakeDB) -> None:
    senders, sent = Senders(), task()
    assert run(db, sent, senders) == Delivery("sent", {"inApp": "sent", "email": "sent", "push": "sent", "sms": "sent"})
    [(path, note)] = docs(db, f"users/{PATIENT}/notifications/").items()
    assert path.endswith(sent.send_id)
    assert {key: note[key] for key in ("kind", "appointmentId", "startsAt", "read")} == {
        "kind": REMINDER,
        "appointmentId": "visit-1",
        "startsAt": START,
        "read": False,
    }
    [mail] = docs(db, "mail/").values()
    assert mail["to"] == EMAILS[PATIENT]
    assert set(mail["message"]) == {"subject", "text", "html", "attachments"}
    assert "Harbour Clinic" in mail["message"]["subject"]
    assert "https://clinic.example.test/visit?appointmentId=visit-1" in mail["message"]["text"]
    [(tokens, push)] = senders.pushes
    assert tokens == [Device("token-a"), Device("token-b", legacy_token=True)]
    assert push.data == {
        "kind": REMINDER,
        "appointmentId": "visit-1",
        "link": SETTINGS.join_page_url + "?appointmentId=visit-1",
    }
    [(to, text)] = senders.texts
    assert to == PHONES[PATIENT]
    assert text == push.body


def test_the_reminder_mail_carries_the_visits_calendar_entry(db: FakeDB) -> None:
    run(db, task(), Senders())
    [mail] = docs(db, "mail/").values()
    [attachment] = mail["message"]["attachments"]
    assert attachment["filename"] == "visit.ics"
    assert attachment["contentType"] == "text/calendar; method=REQUEST; charset=UTF-8"
    calendar = icalendar.Calendar.from_ical(attachment["content"])
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == visit_uid("demo-telehealth", "visit-1")
    assert int(event["SEQUENCE"]) == 1234
    assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (START, START + 30 * MIN)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["URL"]) == "https://clinic.example.test/visit?appointmentId=visit-1"


def test_a_task_delivered_twice_sends_once(db: FakeDB) -> None:
    senders = Senders()
    run(db, task(), senders)
    before = {path: dict(data) for path, data in db.docs.items()}
    assert run(db, task(), senders) == Delivery(
        "sent", {"inApp": "already", "email": "already", "push": "already", "sms": "already"}
    )
    assert db.docs == before
    assert (len(senders.pushes), len(senders.texts)) == (1, 1)


def test_each_channel_is_logged_once_without_its_content(db: FakeDB) -> None:
    sent = task()
    run(db, sent, Senders())
    logs = docs(db, "videoNotificationLog/")
    assert sorted(logs) == sorted(f"videoNotificationLog/{sent.send_id}-{c}" for c in ("inApp", "email", "push", "sms"))
    for record in logs.values():
        assert {key: record[key] for key in ("appointmentId", "uid", "kind", "outcome")} == {
            "appointmentId": "visit-1",
            "uid": PATIENT,
            "kind": REMINDER,
            "outcome": "sent",
        }
        assert record["expireAt"] == NOW + dt.timedelta(days=30)
        text = str(record)
        assert EMAILS[PATIENT] not in text
        assert PHONES[PATIENT] not in text
        assert "Harbour" not in text
        assert "token-a" not in text
    assert {k: logs[f"videoNotificationLog/{sent.send_id}-push"][k] for k in ("delivered", "pruned", "failed")} == {
        "delivered": 2,
        "pruned": 0,
        "failed": 0,
    }


@pytest.mark.parametrize(
    ("changes", "sent", "reason"),
    [
        pytest.param({"startTime": START + 5 * MIN}, task(), "moved_or_cancelled", id="moved since"),
        pytest.param({"status": "cancelled"}, task(), "moved_or_cancelled", id="cancelled since"),
        pytest.param({"status": "completed"}, task(), "moved_or_cancelled", id="completed"),
        pytest.param({"type": "in_person"}, task(), "not_participant", id="no longer a video visit"),
        pytest.param({"patientId": "someone-else"}, task(), "not_participant", id="not the patient any more"),
        pytest.param({}, task(uid=DOCTOR, role="patient"), "not_participant", id="the doctor as the patient"),
        pytest.param({}, task(starts_at=NOW_S - 60), "moved_or_cancelled", id="made for another start"),
        pytest.param({"startTime": NOW - MIN}, task(starts_at=NOW_S - 60), "begun", id="the visit has begun"),
        pytest.param({"startTime": NOW}, task(starts_at=NOW_S), "begun", id="the visit begins now"),
        pytest.param({}, task(CANCELLED), "not_cancelled", id="a cancellation of a visit confirmed again"),
        pytest.param({}, task(READY), "not_ready", id="ready before the doctor joined"),
    ],
)
def test_a_task_whose_visit_no_longer_stands_sends_nothing(
    db: FakeDB, changes: dict[str, Any], sent: ReminderTask, reason: str
) -> None:
    stored(db, **changes)
    db.writes.clear()
    senders = Senders()
    assert run(db, sent, senders) == Delivery(reason)
    assert db.writes == []
    assert (senders.pushes, senders.texts, senders.lookups) == ([], [], [])


def test_a_task_for_a_deleted_visit_or_a_body_that_is_not_a_task_sends_nothing(db: FakeDB) -> None:
    senders = Senders()
    assert run(db, task(appointment_id="nowhere"), senders) == Delivery("gone")
    assert run(db, {"kind": "reminder"}, senders) == Delivery("invalid")
    assert db.writes == []


@pytest.mark.parametrize(
    ("notify", "silent"),
    [
        pytest.param({"email": False}, {"email"}, id="email off"),
        pytest.param({"push": False}, {"push"}, id="push off"),
        pytest.param({"sms": False}, {"sms"}, id="sms off"),
        pytest.param({"email": False, "push": False, "sms": False}, {"email", "push", "sms"}, id="all off"),
        pytest.param({"email": "no"}, set(), id="only false turns a channel off"),
    ],
)
def test_opted_out_channels_stay_silent(db: FakeDB, notify: dict[str, Any], silent: set[str]) -> None:
    db.put(f"users/{PATIENT}", {"notify": notify})
    senders = Senders()
    result = run(db, task(), senders)
    assert {channel for channel, outcome in result.channels.items() if outcome == "opted_out"} == silent
    assert result.channels["inApp"] == "sent"
    assert bool(docs(db, "mail/")) is ("email" not in silent)
    assert bool(senders.pushes) is ("push" not in silent)
    assert bool(senders.texts) is ("sms" not in silent)
    assert senders.lookups == ([] if {"email", "sms"} <= silent else [PATIENT])


def test_the_users_language_and_time_zone(db: FakeDB) -> None:
    db.put(f"users/{PATIENT}", {"locale": "tr", "timeZone": "Europe/Istanbul"})
    senders = Senders()
    run(db, task(), senders)
    [mail] = docs(db, "mail/").values()
    assert mail["message"]["subject"] == (
        "Hatırlatma: Harbour Clinic ile görüntülü görüşmeniz, 2 Mart 2026 Pazartesi, 13:20 (Europe/Istanbul)"  # noqa: RUF001
    )


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param({"locale": "de", "timeZone": "Mars/Olympus"}, id="unknown locale and zone"),
        pytest.param({"locale": 7, "timeZone": ["UTC"]}, id="wrong types"),
        pytest.param({"notify": "none"}, id="notify not a map"),
    ],
)
def test_unusable_preferences_fall_back_to_the_deployments(db: FakeDB, profile: dict[str, Any]) -> None:
    db.put(f"users/{PATIENT}", profile)
    settings = replace(SETTINGS, default_locale="tr", default_time_zone="Asia/Tokyo")
    result = run(db, task(), Senders(), settings)
    [mail] = docs(db, "mail/").values()
    assert mail["message"]["subject"].startswith("Hatırlatma")  # noqa: RUF001
    assert "(Asia/Tokyo)" in mail["message"]["subject"]
    assert result.channels["email"] == "sent"


def test_messages_carry_no_room_token_name_or_address(db: FakeDB) -> None:
    senders = Senders()
    run(db, task(), senders)
    [mail] = docs(db, "mail/").values()
    message = mail["message"]
    shown = " ".join([message["subject"], message["text"], message["html"], senders.pushes[0][1].body])
    shown += message["attachments"][0]["content"] + senders.texts[0][1]
    for secret in (ROOM, PATIENT, DOCTOR, EMAILS[PATIENT], PHONES[PATIENT], "meet.test"):
        assert secret not in shown


def test_a_cancellation_mails_the_calendars_cancel_and_pushes_nothing(db: FakeDB) -> None:
    stored(db, status="cancelled")
    senders, sent = Senders(), task(CANCELLED, uid=DOCTOR, role="doctor", sequence=5678)
    assert run(db, sent, senders) == Delivery("sent", {"inApp": "sent", "email": "sent"})
    [mail] = docs(db, "mail/").values()
    assert mail["to"] == EMAILS[DOCTOR]
    assert mail["message"]["subject"].startswith("Cancelled: your video visit with Harbour Clinic")
    assert "appointmentId=" not in mail["message"]["text"]
    [attachment] = mail["message"]["attachments"]
    assert attachment["contentType"] == "text/calendar; method=CANCEL; charset=UTF-8"
    calendar = icalendar.Calendar.from_ical(attachment["content"])
    [event] = calendar.walk("VEVENT")
    assert (str(calendar["METHOD"]), str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCEL", "CANCELLED", 5678)
    assert str(event["UID"]) == visit_uid("demo-telehealth", "visit-1")
    assert (senders.pushes, senders.texts) == ([], [])
    [note] = docs(db, f"users/{DOCTOR}/notifications/").values()
    assert note["kind"] == CANCELLED


def test_your_doctor_is_ready_goes_in_app_by_push_and_sms_not_by_mail(db: FakeDB) -> None:
    stored(db, video={"roomName": ROOM, "doctorJoinedAt": NOW})
    senders = Senders()
    result = run(db, task(READY, room_tag=room_tag(ROOM)), senders)
    assert result == Delivery("sent", {"inApp": "sent", "push": "sent", "sms": "sent"})
    assert docs(db, "mail/") == {}
    assert senders.pushes[0][1].title == "Your doctor is ready: your video visit with Harbour Clinic"


def test_a_ready_notice_for_another_room_sends_nothing(db: FakeDB) -> None:
    stored(db, video={"roomName": ROOM, "doctorJoinedAt": NOW})
    assert run(db, task(READY, room_tag=room_tag("s" * 32)), Senders()) == Delivery("not_ready")


def test_unregistered_devices_are_pruned(db: FakeDB) -> None:
    senders = Senders()
    senders.push_answer = PushOutcome(delivered=1, unregistered=("token-b",))
    result = run(db, task(), senders)
    assert result.channels["push"] == "sent"
    assert sorted(docs(db, f"users/{PATIENT}/devices/")) == [f"users/{PATIENT}/devices/token-a"]
    log = db.docs[f"videoNotificationLog/{task().send_id}-push"]
    assert (log["outcome"], log["delivered"], log["pruned"], log["failed"]) == ("sent", 1, 1, 0)


def test_a_push_every_device_refuses_is_logged_failed_and_not_retried(db: FakeDB) -> None:
    senders = Senders()
    senders.push_answer = PushOutcome(failed=2)
    assert run(db, task(), senders).channels["push"] == "failed"
    assert run(db, task(), senders).channels["push"] == "already"
    assert len(senders.pushes) == 1


def test_a_push_that_fails_gives_its_claim_back_so_the_retry_sends(db: FakeDB) -> None:
    senders = Senders()
    senders.push_answer = ServiceUnavailable("fcm down")
    with pytest.raises(ServiceUnavailable):
        run(db, task(), senders)
    assert f"videoNotificationLog/{task().send_id}-push" not in db.docs
    senders.push_answer = None
    result = run(db, task(), senders)
    assert result.channels == {"inApp": "already", "email": "already", "push": "sent", "sms": "sent"}
    assert len(senders.pushes) == 2


def test_an_sms_that_fails_gives_its_claim_back_and_one_twilio_refuses_is_logged(db: FakeDB) -> None:
    senders = Senders()
    senders.sms_answer = ServiceUnavailable("twilio down")
    with pytest.raises(ServiceUnavailable):
        run(db, task(), senders)
    assert f"videoNotificationLog/{task().send_id}-sms" not in db.docs
    senders.sms_answer = False
    assert run(db, task(), senders).channels["sms"] == "refused"
    assert db.docs[f"videoNotificationLog/{task().send_id}-sms"]["outcome"] == "refused"


def test_a_user_without_devices_address_or_number_gets_in_app_only(db: FakeDB) -> None:
    senders = Senders()
    senders.contact = lambda uid: Contact()  # type: ignore[method-assign]
    result = run(db, task(uid=DOCTOR, role="doctor"), senders)
    assert result == Delivery(
        "sent", {"inApp": "sent", "email": "no_address", "push": "no_address", "sms": "no_address"}
    )
    assert (docs(db, "mail/"), senders.pushes, senders.texts) == ({}, [], [])
    assert len(docs(db, f"users/{DOCTOR}/notifications/")) == 1


def test_without_a_mail_collection_or_sms_sender_those_channels_are_not_used(db: FakeDB) -> None:
    senders = Senders()
    channels = Channels(contact=senders.contact, push=None, sms=None)
    result = delivery.send_visit_reminder(
        db,
        task().payload(),
        settings=replace(SETTINGS, mail_collection=""),
        channels=channels,
        project="demo-telehealth",
        now=NOW_S,
        retention_days=30,
    )
    assert result == Delivery("sent", {"inApp": "sent", "email": "no_address"})
    assert docs(db, "mail/") == {}
