"""The visit as an RFC 5545 calendar entry (written with ``icalendar``): one stable UID per appointment, a
SEQUENCE that only grows, ``METHOD:REQUEST`` while the visit stands and ``METHOD:CANCEL`` once it is cancelled.

SEQUENCE is the whole seconds from ``SEQUENCE_EPOCH`` to the write that made this version of the visit
(its Firestore update time): a move or a cancellation in a later second is higher (two writes within
one second share it, and a calendar may then keep the first); a re-delivered event gives the same
number; events that arrive out of order still order right; and no counter has to be stored. RFC 5545's
INTEGER is 32 bits, which lasts until 2094 from this epoch.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from .settings import Locale
from .texts import event_title

SEQUENCE_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PRODUCT_ID = "-//Telehealth video backend//Visit reminders//EN"
CONTENT_TYPES = {method: f"text/calendar; method={method}; charset=UTF-8" for method in ("REQUEST", "CANCEL")}
FILE_NAME = "visit.ics"


def sequence_at(revised_at: dt.datetime) -> int:
    """The SEQUENCE of the version written at ``revised_at`` (0 for anything before the epoch)."""
    return max(0, int((revised_at - SEQUENCE_EPOCH).total_seconds()))


def visit_uid(project: str, appointment_id: str) -> str:
    """The entry's UID: the same for every version of one appointment, derived from nothing personal."""
    digest = hashlib.sha256(f"{project}/{appointment_id}".encode()).hexdigest()[:32]
    return f"{digest}@visits.telehealth"


def invitation(
    *,
    uid: str,
    sequence: int,
    cancelled: bool,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    stamped_at: dt.datetime,
    clinic_name: str,
    locale: Locale,
    link: str,
    organizer: str = "",
) -> str:
    """The iCalendar text (CRLF lines) of one version of the visit: its times, title and join link only."""
    # Imported here, not at the top: icalendar was a sixth of main.py's import time, which every function
    # instance pays on its cold start, and only the reminder task writes calendar entries.
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", stamped_at.astimezone(dt.UTC))
    event.add("dtstart", starts_at.astimezone(dt.UTC))
    event.add("dtend", ends_at.astimezone(dt.UTC))
    event.add("summary", event_title(clinic_name, locale))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if link:
        event.add("url", link)
        event.add("description", link)
    if organizer:
        event.add("organizer", icalendar.vCalAddress(f"mailto:{organizer}"))
    calendar.add_component(event)
    written: bytes = calendar.to_ical()
    return written.decode("utf-8")


def content_type(cancelled: bool) -> str:
    """The attachment's MIME type, with the iTIP method calendar clients look for."""
    return CONTENT_TYPES["CANCEL" if cancelled else "REQUEST"]
