"""The reminder task's use case: read the visit again, then send on each channel the user has not turned off.

A task does nothing unless its visit still stands as it was made for: a reminder needs the visit
confirmed and starting at the task's ``startsAt`` (and not begun), "ready" needs the same room with the
doctor in, a cancellation needs the visit still cancelled. Channels by kind:

| kind | in-app | email (with the iCalendar file) | push | SMS |
| --- | --- | --- | --- | --- |
| reminder | yes | REQUEST | yes | yes |
| ready | yes | | yes | yes |
| cancelled | yes | CANCEL | | |

In-app cannot be turned off; ``users/{uid}.notify.email|push|sms == false`` turns that channel off.
Every channel's outcome is logged once per send, without content (``store.notifications``). Free of the
functions SDK.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Misconfigured
from .notify.calendar import FILE_NAME, content_type, invitation, visit_uid
from .notify.contacts import Contact
from .notify.push import Device, PushNote, PushSender
from .notify.settings import Locale, NotifySettings, parse_locale, time_zone_or_none
from .notify.sms import SmsSender
from .notify.texts import Text, compose, join_link
from .reminders import CANCELLED, READY, REMINDER, ReminderTask, doctor_joined, epoch, from_payload, room_tag
from .rooms import needs_room, room_of
from .store import appointments, notifications

CHANNELS_OF = {REMINDER: ("email", "push", "sms"), READY: ("push", "sms"), CANCELLED: ("email",)}


@dataclass(frozen=True)
class Channels:
    """The senders outside Firestore (None where the deployment has none) and the Auth account lookup."""

    contact: Callable[[str], Contact]
    push: PushSender | None = None
    sms: SmsSender | None = None


@dataclass(frozen=True)
class Delivery:
    """What one task did: ``sent``, or why it sent nothing; and each channel's outcome."""

    outcome: str
    channels: dict[str, str] = field(default_factory=dict)


def stands(task: ReminderTask, visit: Mapping[str, Any] | None, now: int) -> str | None:
    """None when the visit still stands as the task was made for, else why it does not."""
    if visit is None:
        return "gone"
    if visit.get(f"{task.role}Id") != task.uid or visit.get("type") != "video":
        return "not_participant"
    if task.kind == CANCELLED:
        return None if visit.get("status") == "cancelled" else "not_cancelled"
    if not needs_room(visit) or epoch(visit.get("startTime")) != task.starts_at:
        return "moved_or_cancelled"
    if task.kind == READY:
        return None if doctor_joined(visit) and room_tag(room_of(visit)) == task.room_tag else "not_ready"
    return None if now < task.starts_at else "begun"


def preferences(profile: Mapping[str, Any], settings: NotifySettings) -> tuple[Locale, str, Mapping[str, Any]]:
    """The user's locale, time zone and opt-outs, with the deployment's defaults where unset or unusable."""
    raw_locale = profile.get("locale")
    try:
        locale = parse_locale(raw_locale, "locale") if isinstance(raw_locale, str) else settings.default_locale
    except Misconfigured:  # a locale we have no texts for: the deployment's
        locale = settings.default_locale
    zone = profile.get("timeZone")
    zone_name = zone if time_zone_or_none(zone) is not None else settings.default_time_zone
    notify = profile.get("notify")
    return locale, str(zone_name), notify if isinstance(notify, Mapping) else {}


@dataclass(frozen=True)
class _Send:
    """One send's fixed parts, shared by its channels."""

    db: Any
    task: ReminderTask
    audit: Mapping[str, Any]
    now: int
    retention_days: int

    def log(self, channel: str, outcome: str) -> str:
        notifications.log_outcome(
            self.db, self.task.send_id, channel, self.audit, outcome, now=self.now, retention_days=self.retention_days
        )
        return outcome

    def claimed(self, channel: str) -> bool:
        return notifications.claim(
            self.db, self.task.send_id, channel, self.audit, now=self.now, retention_days=self.retention_days
        )


@dataclass(frozen=True)
class _Letter:
    """What an email is made of besides the send: its text, language, link and recipient."""

    text: Text
    locale: Locale
    link: str
    to: str


def _mail(
    send: _Send, visit: Mapping[str, Any], letter: _Letter, settings: NotifySettings, project: str
) -> dict[str, Any]:
    task = send.task
    cancelled = task.kind == CANCELLED
    starts_at = dt.datetime.fromtimestamp(task.starts_at, dt.UTC)
    stored_end = visit.get("endTime")
    ends_at = stored_end if isinstance(stored_end, dt.datetime) else starts_at
    calendar = invitation(
        uid=visit_uid(project, task.appointment_id),
        sequence=task.sequence,
        cancelled=cancelled,
        starts_at=starts_at,
        ends_at=ends_at,
        stamped_at=dt.datetime.fromtimestamp(send.now, dt.UTC),
        clinic_name=settings.clinic_name,
        locale=letter.locale,
        link=letter.link,
        organizer=settings.mail_from,
    )
    attachment = {"filename": FILE_NAME, "content": calendar, "contentType": content_type(cancelled)}
    mail: dict[str, Any] = {
        "to": letter.to,
        "message": {
            "subject": letter.text.subject,
            "text": letter.text.text,
            "html": letter.text.html,
            "attachments": [attachment],
        },
    }
    if settings.mail_from:
        mail["from"] = settings.mail_from
    return mail


def _push(send: _Send, sender: PushSender, text: Text, link: str) -> str:
    devices = [Device(device_id, legacy) for device_id, legacy in notifications.devices(send.db, send.task.uid)]
    if not devices:
        return send.log("push", "no_address")
    if not send.claimed("push"):
        return "already"
    data = {"kind": send.task.kind, "appointmentId": send.task.appointment_id, "link": link}
    try:
        outcome = sender(devices, PushNote(title=text.subject, body=text.short, data=data))
    except Exception:
        notifications.release(send.db, send.task.send_id, "push")
        raise
    if outcome.unregistered:
        notifications.remove_devices(send.db, send.task.uid, list(outcome.unregistered))
    result = "sent" if outcome.delivered else ("no_address" if not outcome.failed else "failed")
    counts = {"delivered": outcome.delivered, "pruned": len(outcome.unregistered), "failed": outcome.failed}
    notifications.settle(send.db, send.task.send_id, "push", result, counts)
    return result


def _sms(send: _Send, sender: SmsSender, phone: str | None, text: Text) -> str:
    if not phone:
        return send.log("sms", "no_address")
    if not send.claimed("sms"):
        return "already"
    try:
        accepted = sender(phone, text.short)
    except Exception:
        notifications.release(send.db, send.task.send_id, "sms")
        raise
    result = "sent" if accepted else "refused"
    notifications.settle(send.db, send.task.send_id, "sms", result, {})
    return result


def send_visit_reminder(
    db: Any, data: Any, *, settings: NotifySettings, channels: Channels, project: str, now: int, retention_days: int
) -> Delivery:
    """Run one task: ``invalid`` (not ours), the reason the visit no longer stands, or ``sent`` per channel."""
    task = from_payload(data)
    if task is None:
        return Delivery("invalid")
    visit = appointments.read_appointment(db, task.appointment_id)
    reason = stands(task, visit, now)
    if reason is not None or visit is None:
        return Delivery(reason or "gone")
    locale, zone_name, opted = preferences(notifications.read_profile(db, task.uid), settings)
    zone = time_zone_or_none(zone_name)
    assert zone is not None
    link = join_link(settings.join_page_url, task.appointment_id)
    starts_at = dt.datetime.fromtimestamp(task.starts_at, dt.UTC)
    text = compose(
        task.kind, locale=locale, clinic_name=settings.clinic_name, starts_at=starts_at, zone=zone, link=link
    )
    audit = {"appointmentId": task.appointment_id, "uid": task.uid, "kind": task.kind}
    send = _Send(db, task, audit, now, retention_days)
    in_app = {"kind": task.kind, "appointmentId": task.appointment_id, "startsAt": starts_at}
    done = {"inApp": "sent" if notifications.add_in_app(db, task.uid, task.send_id, in_app) else "already"}
    send.log("inApp", "sent")
    wanted = [channel for channel in CHANNELS_OF[task.kind] if opted.get(channel) is not False]
    for channel in CHANNELS_OF[task.kind]:
        if channel not in wanted:
            done[channel] = send.log(channel, "opted_out")
    contact = channels.contact(task.uid) if {"email", "sms"} & set(wanted) else Contact()
    if "email" in wanted:
        if not settings.mail_collection or not contact.email:
            done["email"] = send.log("email", "no_address")
        else:
            mail = _mail(send, visit, _Letter(text, locale, link, contact.email), settings, project)
            queued = notifications.add_mail(db, settings.mail_collection, task.send_id, mail)
            done["email"] = send.log("email", "sent") if queued else "already"
    if "push" in wanted and channels.push is not None:
        done["push"] = _push(send, channels.push, text, link)
    if "sms" in wanted and channels.sms is not None:
        done["sms"] = _sms(send, channels.sms, contact.phone, text)
    return Delivery("sent", done)
