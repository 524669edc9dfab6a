"""Appointments: the room lifecycle's write, the join's read, the waiting room's writes, the sweep's queries.

Every write here touches only ``video`` (the rules keep clients off it), and every write a request
makes after reading is conditional on the appointment being unchanged since that read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import FailedPrecondition
from google.cloud.firestore import DELETE_FIELD, SERVER_TIMESTAMP, transactional
from google.cloud.firestore_v1.base_query import FieldFilter

from ..rooms import ROOM_LESS_STATUSES, ROOM_LESS_TYPES, Action, decide, needs_room
from . import direct
from .directory import doctor_ref
from .emulator_ids import candidate_ids

APPOINTMENTS = "appointments"

Doc = Mapping[str, Any]


def fields(snapshot: Any) -> dict[str, Any] | None:
    """A snapshot's data, or None where the document does not exist."""
    if snapshot is None or not snapshot.exists:
        return None
    data: dict[str, Any] = snapshot.to_dict() or {}
    return data


@dataclass(frozen=True)
class RoomWrite:
    """What the trigger did for one event, and how: ``via`` is ``event``, ``precondition`` or ``transaction``."""

    action: Action
    via: str


def video_change(action: Action, new_room: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """The one field update an action makes: a fresh ``video`` map, or its deletion (which needs no config)."""
    if action is Action.WITHDRAW:
        return {"video": DELETE_FIELD}
    return {"video": {**new_room(), "assignedAt": SERVER_TIMESTAMP}}


def apply_room_lifecycle(
    db: Any,
    appointment_id: str,
    before: Doc | None,
    after: Doc | None,
    new_room: Callable[[], Mapping[str, Any]],
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

    ``new_room`` (the room name, provider and URL) is called only to assign: a withdrawal works even
    when the video params do not.
    """
    planned = decide(before, after, after)
    if planned is Action.NOTHING:
        return RoomWrite(Action.NOTHING, "event")
    ref = db.collection(APPOINTMENTS).document(appointment_id)
    if after_update_time is not None:
        try:
            ref.update(video_change(planned, new_room), option=db.write_option(last_update_time=after_update_time))
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
            transaction.update(target, video_change(action, new_room))
        return action

    result: Action = write_if_needed(db.transaction())
    return RoomWrite(result, "transaction")


def _first_existing(reader: Any, refs: list[Any]) -> tuple[Any, dict[str, Any]] | None:
    """The first of the candidate references that exists, and its data (one read for an ASCII id)."""
    for target in refs:
        for snapshot in reader(target):
            if snapshot.exists:
                return target, snapshot.to_dict() or {}
    return None


def read_appointment(db: Any, appointment_id: str) -> dict[str, Any] | None:
    """The stored appointment (under its repaired id where the emulator mangled it), or None."""
    refs = [db.collection(APPOINTMENTS).document(doc_id) for doc_id in candidate_ids(appointment_id)]
    found = _first_existing(lambda ref: [ref.get()], refs)
    return None if found is None else found[1]


# What record_provider_room found: the id is now stored; the same id was already stored; or the
# room is no longer this visit's (withdrawn, replaced, moved) or holds another id, so the caller's
# room at the provider is spare and must be deleted.
RECORDED, ALREADY_RECORDED, SPARE = "recorded", "already_recorded", "spare"


def record_provider_room(db: Any, appointment_id: str, room_name: str, provider_room_id: str) -> str:
    """The assignment's second write: ``video.providerRoomId``, only while the visit is confirmed and its
    ``video`` still holds ``room_name`` without a provider room (one transaction, so a withdrawal or a
    racing creation in between is seen)."""
    refs = [db.collection(APPOINTMENTS).document(doc_id) for doc_id in candidate_ids(appointment_id)]

    @transactional
    def write_if_still_current(transaction: Any) -> str:
        found = _first_existing(transaction.get, refs)
        if found is None:
            return SPARE
        target, data = found
        video = data.get("video")
        if not needs_room(data) or not isinstance(video, Mapping) or video.get("roomName") != room_name:
            return SPARE
        held = video.get("providerRoomId")
        if held == provider_room_id:
            return ALREADY_RECORDED
        if held:
            return SPARE
        transaction.update(target, {"video.providerRoomId": provider_room_id})
        return RECORDED

    result: str = write_if_still_current(db.transaction())
    return result


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
    """Appointments with a room in a state that keeps none: a room-less status, or not a video visit.

    A room name is a non-empty string, so ``> ""`` selects exactly the documents that hold one.
    Needs the composite indexes (status, video.roomName) and (type, video.roomName).
    """
    holding = FieldFilter("video.roomName", ">", "")
    by_status = (
        db.collection(APPOINTMENTS)
        .where(filter=FieldFilter("status", "in", list(ROOM_LESS_STATUSES)))
        .where(filter=holding)
        .limit(limit)
    )
    by_type = (
        db.collection(APPOINTMENTS).where(filter=FieldFilter("type", "in", list(ROOM_LESS_TYPES))).where(filter=holding)
    )
    return [*by_status.stream(), *by_type.limit(limit).stream()]


@dataclass(frozen=True)
class JoinContext:
    """What a request reads: the appointment (and when it was last written), the caller's directory entry."""

    appointment: dict[str, Any] | None
    doctor_entry: dict[str, Any] | None
    update_time: Any = None


def read_join_context(db: Any, appointment_id: str, doctor_uid: str | None) -> JoinContext:
    """The appointment and, for a caller with the doctor claim, their directory entry: one round trip.

    A caller without the claim cannot be the doctor, so only the appointment is read (1 read); with
    the claim, both documents are read in one call (2 reads; ``direct``).
    """
    appointment_ref = db.collection(APPOINTMENTS).document(appointment_id)
    if doctor_uid is None:
        appointment = direct.read(db, appointment_ref)
        return JoinContext(appointment.data, None, appointment.update_time)
    appointment, entry = direct.read_two(db, appointment_ref, doctor_ref(db, doctor_uid))
    return JoinContext(appointment.data, entry.data, appointment.update_time)


def _update_video(db: Any, appointment_id: str, changes: Mapping[str, Any], read_at: Any) -> bool:
    """Write fields inside ``video`` only if the appointment is unchanged since ``read_at``.

    Returns False when it changed meanwhile (the caller reads again and decides again), so that a
    ``video`` the trigger withdrew or replaced is never half-recreated by a stale decision.
    """
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


def mark_doctor_joined(db: Any, appointment_id: str, read_at: Any) -> bool:
    """The doctor's first grant: stamp ``video.doctorJoinedAt`` (host mode lets the patient in from then)."""
    return _update_video(db, appointment_id, {"video.doctorJoinedAt": SERVER_TIMESTAMP}, read_at)


def enter_lobby(db: Any, appointment_id: str, read_at: Any) -> bool:
    """The patient's first call in admit mode: ``video.lobby.waitingSince``, for the doctor to see."""
    return _update_video(db, appointment_id, {"video.lobby": {"waitingSince": SERVER_TIMESTAMP}}, read_at)


def record_admission(db: Any, appointment_id: str, admit: bool, read_at: Any) -> bool:
    """Admit: stamp ``admittedAt`` (and clear a denial); deny: stamp ``deniedAt`` (and clear an admission)."""
    stamped, cleared = ("admittedAt", "deniedAt") if admit else ("deniedAt", "admittedAt")
    changes = {f"video.{stamped}": SERVER_TIMESTAMP, f"video.{cleared}": DELETE_FIELD}
    return _update_video(db, appointment_id, changes, read_at)


def record_consent(db: Any, appointment_id: str, consent: bool, read_at: Any) -> bool:
    """The patient's answer to recording and when it was given."""
    changes = {"video.recordingConsent": {"consent": consent, "at": SERVER_TIMESTAMP}}
    return _update_video(db, appointment_id, changes, read_at)
