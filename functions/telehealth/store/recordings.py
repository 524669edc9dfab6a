"""Recordings' metadata (``appointments/{id}/recordings/{recordingId}``) and the copy jobs (``videoRecordingJobs``).

Both are server-written. The metadata is what the visit's doctor (and, where allowed, its patient) may
read; a job holds what a copy needs and no client may read (a provider's download link among it).
Status moves are made in transactions that check the status they move from, so a webhook, a consent
withdrawal and a copy that race settle on one outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from google.api_core.exceptions import Conflict
from google.cloud.firestore import transactional
from google.cloud.firestore_v1.base_query import FieldFilter

from .appointments import APPOINTMENTS, fields

RECORDINGS = "recordings"
JOBS = "videoRecordingJobs"

# A recording's statuses: being recorded at the provider; ended, being stored; stored (object, size, hash);
# discarded (consent withdrawn before it ended: nothing kept); failed (nothing could be stored).
RECORDING, PROCESSING, READY, DISCARDED, FAILED = "recording", "processing", "ready", "discarded", "failed"

Found = tuple[str, str, dict[str, Any]]  # appointment id, recording id, the metadata


def _ref(db: Any, appointment_id: str, recording_id: str) -> Any:
    return db.collection(APPOINTMENTS).document(appointment_id).collection(RECORDINGS).document(recording_id)


def read_recording(db: Any, appointment_id: str, recording_id: str) -> dict[str, Any] | None:
    """A recording's metadata, or None."""
    return fields(_ref(db, appointment_id, recording_id).get())


def create_recording(db: Any, appointment_id: str, recording_id: str, data: Mapping[str, Any]) -> bool:
    """Create the metadata once; False where it exists already (a re-delivered event)."""
    try:
        _ref(db, appointment_id, recording_id).create(dict(data))
    except Conflict:
        return False
    return True


def begin_recording(
    db: Any,
    appointment_id: str,
    recording_id: str,
    data: Mapping[str, Any],
    may_start: Callable[[Mapping[str, Any] | None], bool],
) -> bool:
    """Create the metadata of a recording about to start, in one transaction with a read of the appointment:
    only if ``may_start`` holds for it then (the patient's consent), so a withdrawal that commits first is
    seen, and one that commits after finds this recording to stop."""
    appointment_ref = db.collection(APPOINTMENTS).document(appointment_id)
    ref = _ref(db, appointment_id, recording_id)

    @transactional
    def begin(transaction: Any) -> bool:
        snapshot = next(iter(transaction.get(appointment_ref)), None)
        if not may_start(fields(snapshot)):
            return False
        transaction.create(ref, dict(data))
        return True

    result: bool = begin(db.transaction())
    return result


def move_recording(
    db: Any, appointment_id: str, recording_id: str, from_statuses: frozenset[str], changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply ``changes`` only while the recording's status is one of ``from_statuses``; returns the metadata
    as it was before, or None (no such recording, or it had moved on)."""
    ref = _ref(db, appointment_id, recording_id)

    @transactional
    def move(transaction: Any) -> dict[str, Any] | None:
        before = fields(next(iter(transaction.get(ref)), None))
        if before is None or before.get("status") not in from_statuses:
            return None
        transaction.update(ref, dict(changes))
        return before

    result: dict[str, Any] | None = move(db.transaction())
    return result


def recordings_where(db: Any, appointment_id: str, field: str, value: Any) -> list[tuple[str, dict[str, Any]]]:
    """The visit's recordings whose ``field`` equals ``value`` (a visit has a handful), with their ids."""
    query = db.collection(APPOINTMENTS).document(appointment_id).collection(RECORDINGS)
    return [
        (snapshot.id, fields(snapshot) or {})
        for snapshot in query.where(filter=FieldFilter(field, "==", value)).stream()
    ]


def _found(snapshot: Any) -> Found:
    parts = snapshot.reference.path.split("/")
    return parts[1], parts[3], fields(snapshot) or {}


def by_provider_id(db: Any, provider_recording_id: str) -> Found | None:
    """The recording the provider knows by this id (a collection-group query; the index is declared)."""
    query = db.collection_group(RECORDINGS).where(
        filter=FieldFilter("providerRecordingId", "==", provider_recording_id)
    )
    found = list(query.limit(1).stream())
    return _found(found[0]) if found else None


def due_for_deletion(db: Any, now: dt.datetime, limit: int) -> list[Found]:
    """Recordings whose retention has run out (``deleteAt`` passed), oldest first, at most ``limit``."""
    query = db.collection_group(RECORDINGS).where(filter=FieldFilter("deleteAt", "<=", now)).order_by("deleteAt")
    return [_found(snapshot) for snapshot in query.limit(limit).stream()]


def delete_recording(db: Any, appointment_id: str, recording_id: str) -> None:
    """Delete the metadata (its object goes first: see ``recording_files.sweep``)."""
    _ref(db, appointment_id, recording_id).delete()


def queue_job(db: Any, job_id: str, job: Mapping[str, Any]) -> bool:
    """Queue a copy (the ``store_recording`` trigger runs it); False where that job exists already."""
    try:
        db.collection(JOBS).document(job_id).create(dict(job))
    except Conflict:
        return False
    return True


def finish_job(db: Any, job_id: str) -> None:
    """Remove a job that is done, or that nothing can be done for any more."""
    db.collection(JOBS).document(job_id).delete()
