"""What the room trigger schedules for a visit's participants, as tasks on the reminder queue.

- A visit that becomes confirmed, or a confirmed one that moves: a reminder per participant and offset of
  ``VIDEO_REMINDERS_MIN``, at ``startTime`` minus the offset; an offset already past is skipped, never sent late.
- A confirmed visit that is cancelled: the cancellation (with the calendar's ``METHOD:CANCEL``) to both, at once.
- The doctor's first join (``video.doctorJoinedAt``, or the attendance webhook's stamp): "your doctor is
  ready" to the patient, at once.

Each task's id is a digest of what makes it unique (kind, appointment, participant, offset, start, the
calendar version), so a re-delivered event schedules nothing twice and a visit moved back to an earlier time
gets new ids (Cloud Tasks refuses an id for about an hour after its task ran). The task itself reads the
visit again and sends only if it still stands as the task was made for (``delivery``). Free of the functions SDK.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import Misconfigured
from .notify.calendar import sequence_at
from .notify.settings import NotifySettings
from .rooms import moved, needs_room, room_of

Doc = Mapping[str, Any]
REMINDER, READY, CANCELLED = "reminder", "ready", "cancelled"
KINDS = (REMINDER, READY, CANCELLED)
ROLES = ("patient", "doctor")
# The reminder queue's function: no underscore, since Cloud Tasks queue ids allow none (docs/reminders.md).
REMINDER_FUNCTION = "sendVisitReminder"


class TaskQueue(Protocol):
    """Where tasks go (firebase-admin's task queue in production, a list in tests)."""

    def enqueue(self, payload: Mapping[str, Any], task_id: str, send_at: int | None) -> bool:
        """Add one task (``send_at`` epoch seconds, None: at once); False when a task with the id exists."""
        ...


@dataclass(frozen=True)
class ReminderTask:
    """One notification to one participant, as the queue carries it (no content: the task composes it)."""

    kind: str
    appointment_id: str
    uid: str
    role: str
    starts_at: int
    sequence: int = 0
    offset_minutes: int = 0
    room_tag: str = ""

    @property
    def send_id(self) -> str:
        """The digest that names this send everywhere: the task's id, the in-app and mail documents, the log."""
        key = [self.kind, self.appointment_id, self.uid, self.starts_at, self.sequence, self.offset_minutes]
        return hashlib.sha256(json.dumps([*key, self.room_tag]).encode()).hexdigest()[:40]

    def payload(self) -> dict[str, Any]:
        """The task's JSON body (what ``from_payload`` reads back)."""
        return {
            "kind": self.kind,
            "appointmentId": self.appointment_id,
            "uid": self.uid,
            "role": self.role,
            "startsAt": self.starts_at,
            "sequence": self.sequence,
            "offsetMin": self.offset_minutes,
            "roomTag": self.room_tag,
        }


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 1500 else None


def from_payload(data: Any) -> ReminderTask | None:
    """A task body read back, or None when it is not one of ours (never retried: it cannot get better)."""
    if not isinstance(data, Mapping):
        return None
    kind, role = data.get("kind"), data.get("role")
    appointment_id, uid = _name(data.get("appointmentId")), _name(data.get("uid"))
    numbers = [_whole(data.get(name)) for name in ("startsAt", "sequence", "offsetMin")]
    tag = data.get("roomTag")
    if kind not in KINDS or role not in ROLES or appointment_id is None or uid is None or not isinstance(tag, str):
        return None
    starts_at, sequence, offset = numbers
    if starts_at is None or sequence is None or offset is None:
        return None
    return ReminderTask(kind, appointment_id, uid, role, starts_at, sequence, offset, tag)


def epoch(value: Any) -> int | None:
    """A Firestore timestamp (a datetime) as whole epoch seconds, or None."""
    return int(value.timestamp()) if isinstance(value, dt.datetime) else None


def revision_time(written_at: Any, now: int) -> dt.datetime:
    """When the event's version of the visit was written (its update time); ``now`` where the event has none."""
    if isinstance(written_at, dt.datetime):
        return written_at if written_at.tzinfo else written_at.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(now, dt.UTC)


def room_tag(room: str | None) -> str:
    """A digest standing for the room in a task (the room's name never leaves the appointment)."""
    return hashlib.sha256(room.encode()).hexdigest()[:16] if room else ""


def doctor_joined(doc: Doc | None) -> bool:
    """The doctor is in: the waiting room's stamp, or the attendance webhook's."""
    video = doc.get("video") if doc else None
    if not isinstance(video, Mapping):
        return False
    attendance = video.get("attendance")
    from_webhook = attendance.get("doctorJoinedAt") if isinstance(attendance, Mapping) else None
    return video.get("doctorJoinedAt") is not None or from_webhook is not None


def participants(doc: Doc) -> list[tuple[str, str]]:
    """(role, uid) of the visit's patient and doctor, where they are uids."""
    found = [(role, doc.get(f"{role}Id")) for role in ROLES]
    return [(role, uid) for role, uid in found if isinstance(uid, str) and uid]


def schedules(before: Doc | None, after: Doc | None) -> bool:
    """The event makes a new schedule: the visit became a confirmed video visit, or moved while confirmed."""
    return needs_room(after) and (not needs_room(before) or moved(before, after))


def cancels(before: Doc | None, after: Doc | None) -> bool:
    """A confirmed video visit was cancelled."""
    return needs_room(before) and after is not None and after.get("status") == "cancelled"


def readies(before: Doc | None, after: Doc | None) -> bool:
    """The doctor's first join of the visit's current room."""
    if not needs_room(after) or not doctor_joined(after):
        return False
    return not doctor_joined(before) or room_of(before) != room_of(after)


def planned(
    appointment_id: str, before: Doc | None, after: Doc | None, written_at: Any, settings: NotifySettings, now: int
) -> list[tuple[ReminderTask, int | None]]:
    """The tasks an event schedules, each with when it is due (None: at once). Decided on the event alone."""
    sequence = sequence_at(revision_time(written_at, now))
    tasks: list[tuple[ReminderTask, int | None]] = []
    if schedules(before, after) and after is not None:
        start = epoch(after.get("startTime"))
        for offset in settings.offsets if start is not None else ():
            assert start is not None
            due = start - offset * 60
            if due > now:
                for role, uid in participants(after):
                    tasks.append((ReminderTask(REMINDER, appointment_id, uid, role, start, sequence, offset), due))
    if cancels(before, after) and before is not None:
        start = epoch(before.get("startTime"))
        if start is not None and start > now:  # a visit already due is not announced as cancelled
            for role, uid in participants(before):
                tasks.append((ReminderTask(CANCELLED, appointment_id, uid, role, start, sequence), None))
    if readies(before, after) and after is not None:
        start, patient = epoch(after.get("startTime")), after.get("patientId")
        if start is not None and isinstance(patient, str) and patient:
            tag = room_tag(room_of(after))
            tasks.append((ReminderTask(READY, appointment_id, patient, "patient", start, room_tag=tag), None))
    return tasks


def schedule(
    appointment_id: str,
    before: Doc | None,
    after: Doc | None,
    written_at: Any,
    *,
    settings: NotifySettings,
    queue: TaskQueue,
    now: int,
) -> int:
    """Enqueue what the event schedules; returns how many tasks were new (a re-delivered event adds none)."""
    added = 0
    for task, due in planned(appointment_id, before, after, written_at, settings, now):
        added += queue.enqueue(task.payload(), task.send_id, due)
    return added


@dataclass(frozen=True)
class ReminderHooks:
    """What the trigger needs to schedule: the settings (read only for an event that schedules) and the queue."""

    settings: Callable[[], NotifySettings]
    queue: Callable[[], TaskQueue]


@dataclass(frozen=True)
class Scheduled:
    """How many tasks an event added, or the setting that kept it from scheduling any (for the log)."""

    added: int = 0
    problem: str = ""


def on_appointment_written(
    appointment_id: str, before: Doc | None, after: Doc | None, written_at: Any, *, hooks: ReminderHooks, now: int
) -> Scheduled:
    """The trigger's reminder step. Unusable reminder settings schedule nothing and are reported, not raised:
    a retry cannot mend them, and the room lifecycle must not wait on them. A queue failure raises (retried)."""
    if not (schedules(before, after) or cancels(before, after) or readies(before, after)):
        return Scheduled()
    try:
        settings = hooks.settings()
    except Misconfigured as error:
        return Scheduled(problem=error.problem)
    added = schedule(appointment_id, before, after, written_at, settings=settings, queue=hooks.queue(), now=now)
    return Scheduled(added=added)
