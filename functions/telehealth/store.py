"""The only module that talks to Firestore: room writes in a transaction, appointment reads, audit records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import Conflict, FailedPrecondition
from google.cloud.firestore import DELETE_FIELD, SERVER_TIMESTAMP, transactional
from google.cloud.firestore_v1.base_query import FieldFilter

from .config import VideoConfig
from .rooms import Action, decide, new_room_name

APPOINTMENTS = "appointments"
DOCTORS = "doctors"
ACCESS_LOG = "videoAccessLog"
DEFAULT_AUDIT_RETENTION_DAYS = 2190

Doc = Mapping[str, Any]


def room_record(config: VideoConfig) -> dict[str, Any]:
    """A new ``video`` map: a fresh room, server time, the provider and the token-free room URL."""
    name = new_room_name()
    return {
        "roomName": name,
        "assignedAt": SERVER_TIMESTAMP,
        "provider": config.provider,
        "roomUrl": config.room_url(name),
    }


@dataclass(frozen=True)
class RoomWrite:
    """What the trigger did for one event, and how: ``via`` is ``event``, ``precondition`` or ``transaction``."""

    action: Action
    via: str


def video_change(action: Action, config: Callable[[], VideoConfig]) -> dict[str, Any]:
    """The one field update an action makes: a fresh ``video`` map, or its deletion (which needs no config)."""
    if action is Action.WITHDRAW:
        return {"video": DELETE_FIELD}
    return {"video": room_record(config())}


def apply_room_lifecycle(
    db: Any,
    appointment_id: str,
    before: Doc | None,
    after: Doc | None,
    config: Callable[[], VideoConfig],
    after_update_time: Any = None,
) -> RoomWrite:
    """Bring the stored appointment's ``video`` in line with its status; returns what was written, and how.

    1. The event alone decides whether anything could be needed: the trigger's own write, replays of
       it and irrelevant updates end here with no read and no write.
    2. If the event says when ``after`` was written, one write with that update time as precondition:
       it lands only if the stored document is still exactly ``after``, so the event's decision holds.
    3. Otherwise, or if that write fails for any reason, decide again from the stored document inside
       a transaction; so re-delivered, reordered and racing events converge on one room. If the
       transaction fails too, the error propagates and the event is retried.

    ``config`` is called only to assign a room: a withdrawal works even when the video params do not.
    """
    planned = decide(before, after, after)
    if planned is Action.NOTHING:
        return RoomWrite(Action.NOTHING, "event")
    ref = db.collection(APPOINTMENTS).document(appointment_id)
    if after_update_time is not None:
        try:
            ref.update(video_change(planned, config), option=db.write_option(last_update_time=after_update_time))
        except Exception:  # noqa: BLE001, S110 - any failure: the transaction decides, and raises if it fails too
            # Most often FailedPrecondition (written again since this event); also ids the event's update
            # time does not round-trip for (InvalidArgument "Invalid base version") and transient errors.
            pass
        else:
            return RoomWrite(planned, "precondition")

    refs = [db.collection(APPOINTMENTS).document(doc_id) for doc_id in candidate_ids(appointment_id)]

    @transactional
    def write_if_needed(transaction: Any) -> Action:
        # The first candidate that exists is the document; with one candidate (any ASCII id), one read.
        for target in refs:
            snapshot = next(iter(transaction.get(target)), None)
            if snapshot is not None and snapshot.exists:
                break
        else:
            return Action.NOTHING  # deleted since the event: nothing to keep in line
        action = decide(before, after, snapshot.to_dict())
        if action is not Action.NOTHING:
            transaction.update(target, video_change(action, config))
        return action

    result: Action = write_if_needed(db.transaction())
    return RoomWrite(result, "transaction")


def _fields(snapshot: Any) -> dict[str, Any] | None:
    if snapshot is None or not snapshot.exists:
        return None
    data: dict[str, Any] = snapshot.to_dict() or {}
    return data


def confirmed_video_between(db: Any, start_from: dt.datetime, start_until: dt.datetime, limit: int) -> list[Any]:
    """Confirmed video appointments starting in ``[start_from, start_until]``, soonest first, at most ``limit``.

    Needs the composite index (status, type, startTime) declared in firestore.indexes.json.
    """
    query = (
        db.collection(APPOINTMENTS)
        .where(filter=FieldFilter("status", "==", "confirmed"))
        .where(filter=FieldFilter("type", "==", "video"))
        .where(filter=FieldFilter("startTime", ">=", start_from))
        .where(filter=FieldFilter("startTime", "<=", start_until))
        .order_by("startTime")
        .limit(limit)
    )
    return list(query.stream())


def holding_a_room_without_keeping_it(db: Any, limit: int) -> list[Any]:
    """Appointments with a room in a state that keeps none: pending or cancelled, or not a video visit.

    A room name is a non-empty string, so ``> ""`` selects exactly the documents that hold one.
    Needs the composite indexes (status, video.roomName) and (type, video.roomName).
    """
    holding = FieldFilter("video.roomName", ">", "")
    by_status = (
        db.collection(APPOINTMENTS)
        .where(filter=FieldFilter("status", "in", ["pending", "cancelled"]))
        .where(filter=holding)
        .limit(limit)
    )
    by_type = db.collection(APPOINTMENTS).where(filter=FieldFilter("type", "==", "in_person")).where(filter=holding)
    return [*by_status.stream(), *by_type.limit(limit).stream()]


def candidate_ids(appointment_id: str) -> list[str]:
    """The id an event names, then the same id repaired when it reads as UTF-8 decoded as Latin-1.

    The Functions emulator hands triggers non-ASCII ids that way (``café`` arrives as ``cafÃ©``), so
    the named document does not exist; a server may write such ids even though clients cannot.
    """
    try:
        repaired = appointment_id.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return [appointment_id]
    return [appointment_id] if repaired == appointment_id else [appointment_id, repaired]


@dataclass(frozen=True)
class JoinContext:
    """What a join reads: the appointment (and when it was last written), the caller's directory entry."""

    appointment: dict[str, Any] | None
    doctor_entry: dict[str, Any] | None
    update_time: Any = None


def read_join_context(db: Any, appointment_id: str, doctor_uid: str | None) -> JoinContext:
    """The appointment and, for a caller with the doctor claim, their directory entry: one round trip.

    A caller without the claim cannot be the doctor, so only the appointment is read (1 read); with
    the claim, both documents come back in one batched get (2 reads).
    """
    appointment_ref = db.collection(APPOINTMENTS).document(appointment_id)
    if doctor_uid is None:
        snapshot = appointment_ref.get()
        return JoinContext(_fields(snapshot), None, getattr(snapshot, "update_time", None))
    doctor_ref = db.collection(DOCTORS).document(doctor_uid)
    # get_all answers in no promised order: match the snapshots by path.
    found = {snapshot.reference.path: snapshot for snapshot in db.get_all([appointment_ref, doctor_ref])}
    snapshot = found.get(appointment_ref.path)
    return JoinContext(_fields(snapshot), _fields(found.get(doctor_ref.path)), getattr(snapshot, "update_time", None))


def update_video(db: Any, appointment_id: str, changes: Mapping[str, Any], read_at: Any) -> bool:
    """Write fields inside ``video`` (dotted paths), only if the appointment is unchanged since ``read_at``.

    Returns False when it changed meanwhile (the caller reads again and decides again), so that a
    ``video`` the trigger withdrew or replaced is never half-recreated by a stale decision.
    """
    assert all(path.startswith("video.") for path in changes), "only video is ever written"
    ref = db.collection(APPOINTMENTS).document(appointment_id)
    option = db.write_option(last_update_time=read_at) if read_at is not None else None
    try:
        if option is None:
            ref.update(dict(changes))
        else:
            ref.update(dict(changes), option=option)
    except FailedPrecondition:
        return False
    return True


def record_access(
    db: Any,
    *,
    appointment_id: str | None,
    uid: str | None,
    role: str | None,
    outcome: str,
    reason: str,
    now: int,
    retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
    expires_at: int | None = None,
    record_id: str | None = None,
) -> bool:
    """Write one ``videoAccessLog`` record; it never holds a token or a secret.

    ``expireAt`` (the TTL policy's field) is ``now`` plus the retention. With ``record_id`` the record
    is created only if no record has that id yet (returns False then): at most one per id, on any instance.
    """
    record: dict[str, Any] = {
        "appointmentId": appointment_id,
        "uid": uid,
        "role": role,
        "outcome": outcome,
        "reason": reason,
        "at": SERVER_TIMESTAMP,
        "expireAt": dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(days=retention_days),
    }
    if expires_at is not None:
        record["expiresAt"] = expires_at
    if record_id is None:
        db.collection(ACCESS_LOG).document().set(record)
        return True
    try:
        db.collection(ACCESS_LOG).document(record_id).create(record)
    except Conflict:
        return False
    return True


ATTENDANCE = "attendance"
MEETINGS_ENDED = "videoMeetingsEnded"
# The summary field each kind of event moves, and which way: the earliest join, the latest leave.
SUMMARY_FIELDS = {("joined", "moderator"): "doctorJoinedAt", ("joined", "guest"): "patientJoinedAt"}


def appointment_with_room(db: Any, room: str) -> str | None:
    """The id of the appointment that holds this room now, if any (one indexed query, at most one read)."""
    query = db.collection(APPOINTMENTS).where(filter=FieldFilter("video.roomName", "==", room)).limit(1)
    found = list(query.stream())
    return found[0].id if found else None


def summarise(summary: Mapping[str, Any], kind: str, role: str | None, at: dt.datetime) -> dict[str, Any]:
    """The attendance summary after one event; the same whatever order the events come in."""
    updated = dict(summary)
    field_name = SUMMARY_FIELDS.get((kind, role or "")) if kind == "joined" else "lastLeftAt"
    if field_name is None:
        return updated
    current = updated.get(field_name)
    earlier_wins = kind == "joined"
    if current is None or (at < current if earlier_wins else at > current):
        updated[field_name] = at
    return updated


def record_attendance(
    db: Any, appointment_id: str, room: str, event_id: str, kind: str, role: str | None, at: Any
) -> bool:
    """Store one join/leave under the appointment and fold it into ``video.attendance``, once per event id.

    In one transaction: a re-delivered event (its document exists) and an event for a room the
    appointment no longer holds change nothing. Returns whether anything was written.
    """
    appointment_ref = db.collection(APPOINTMENTS).document(appointment_id)
    event_ref = appointment_ref.collection(ATTENDANCE).document(event_id)

    @transactional
    def write(transaction: Any) -> bool:
        event_snapshot = next(iter(transaction.get(event_ref)), None)
        snapshot = next(iter(transaction.get(appointment_ref)), None)
        if event_snapshot is not None and event_snapshot.exists:
            return False
        stored = _fields(snapshot) or {}
        video = stored.get("video")
        if not isinstance(video, Mapping) or video.get("roomName") != room:
            return False
        found = video.get("attendance")
        summary: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        transaction.create(event_ref, {"role": role, "event": kind, "at": at})
        updated = summarise(summary, kind, role, at)
        if updated != summary:
            transaction.update(appointment_ref, {"video.attendance": updated})
        return True

    result: bool = write(db.transaction())
    return result


def meeting_already_ended(db: Any, room: str) -> bool:
    """Whether this room's meeting was ended already (so a redelivered event does not end it twice)."""
    return bool(db.collection(MEETINGS_ENDED).document(room).get().exists)


def mark_meeting_ended(db: Any, room: str, provider: str) -> None:
    """Remember that the provider ended this room's meeting (server-only; no client rule names it)."""
    db.collection(MEETINGS_ENDED).document(room).set({"provider": provider, "at": SERVER_TIMESTAMP})
