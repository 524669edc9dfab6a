"""Recordings' files: what a provider's webhook reports, the copy into Storage, and the retention sweep.

A verified ``RecordingEvent`` never copies anything itself: it settles the metadata and queues a job
(``videoRecordingJobs``), which the ``store_recording`` trigger runs promptly and the platform retries
when it raises. A job copies a provider's upload from its link (JaaS: kept there 24 hours), or checks the
file an egress wrote into the bucket (LiveKit), and records its size, SHA-256 and content type. What
the consent did not cover is not kept: a LiveKit recording discarded while it ran has its file deleted
when the egress reports it; a JaaS upload is copied only if the patient's consent was given before the
recording started and stands. Every keep, discard and deletion is audited. Free of the functions SDK.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud.firestore import SERVER_TIMESTAMP

from . import links
from .access import video_field
from .bucket import Objects, TooLarge
from .config import VideoConfig
from .providers.base import RecordingEvent
from .recordings import object_path
from .store import appointments, attendance, audit
from .store import recordings as store
from .store.recordings import DISCARDED, FAILED, PROCESSING, READY, RECORDING

# JaaS keeps an upload this long; a job whose link is older can only fail.
LINK_LIFETIME = dt.timedelta(hours=24)
# An egress reports its end once the file is written; a file still missing this long after is not coming.
OBJECT_GRACE = dt.timedelta(hours=1)


def job_id(appointment_id: str, recording_id: str) -> str:
    """The one job of a recording (a re-delivered event queues nothing twice)."""
    return hashlib.sha256(f"{appointment_id}/{recording_id}".encode()).hexdigest()[:40]


def consent_covers(appointment: Mapping[str, Any] | None, started_at: dt.datetime | None) -> bool:
    """The patient's consent stands, and was given before the recording started (so never withdrawn
    while it ran: a withdrawal and a new yes would move its time past the start)."""
    consent = video_field(appointment or {}, "recordingConsent")
    if not isinstance(consent, Mapping) or consent.get("consent") is not True:
        return False
    given = consent.get("at")
    return started_at is None or (isinstance(given, dt.datetime) and given <= started_at)


def _audit(db: Any, appointment_id: str, recording_id: str, outcome: str, reason: str, now: dt.datetime) -> None:
    audit.record_access(
        db,
        appointment_id=appointment_id,
        uid=None,
        role=None,
        outcome=outcome,
        reason=reason,
        now=int(now.timestamp()),
        extra={"recordingId": recording_id},
    )


def on_recording_event(
    db: Any, event: RecordingEvent, config: VideoConfig, objects: Callable[[str], Objects], now: dt.datetime
) -> bool:
    """Settle what a verified recording event reports; True where it changed anything."""
    if not config.recording.enabled:
        return False
    if event.kind == "ended":
        return _egress_ended(db, event, config, objects, now)
    return _uploaded(db, event, config, now)


def _egress_ended(
    db: Any, event: RecordingEvent, config: VideoConfig, objects: Callable[[str], Objects], now: dt.datetime
) -> bool:
    found = store.by_provider_id(db, event.provider_recording_id)
    if found is None:
        return False  # not an egress of ours
    appointment_id, recording_id, meta = found
    if meta.get("status") not in (RECORDING, PROCESSING, DISCARDED):
        return False  # stored or failed already: a re-delivery, and a stored file is never touched
    target = object_path(appointment_id, recording_id)
    # Only our own object counts (the egress may add its extension); anything else is not ours to touch.
    written = event.object_path if event.object_path.startswith(target) else target
    if meta.get("status") == DISCARDED or not event.complete:
        bucket = objects(config.recording.bucket)
        for path in {written, target}:
            bucket.delete(path)
        if meta.get("status") == DISCARDED:
            return True
        failed = {"status": FAILED, "reason": "provider_failed", "endedAt": event.ended_at or event.at}
        if store.move_recording(db, appointment_id, recording_id, frozenset({RECORDING, PROCESSING}), failed):
            _audit(db, appointment_id, recording_id, "failed", "provider_failed", now)
            return True
        return False
    ended = {"status": PROCESSING, "endedAt": event.ended_at or event.at}
    if store.move_recording(db, appointment_id, recording_id, frozenset({RECORDING, PROCESSING}), ended) is None:
        return False  # stored, failed or gone already: a re-delivery
    job = {"appointmentId": appointment_id, "recordingId": recording_id, "source": "object", "path": written}
    return store.queue_job(db, job_id(appointment_id, recording_id), {**job, "queuedAt": now})


def _uploaded(db: Any, event: RecordingEvent, config: VideoConfig, now: dt.datetime) -> bool:
    appointment_id = attendance.appointment_with_room(db, event.room)
    if appointment_id is None:
        return False  # a room no visit holds (withdrawn, or not ours): not kept
    recording_id = event.provider_recording_id
    base = {
        "provider": config.provider,
        "providerRecordingId": recording_id,
        "startedAt": event.started_at,
        "endedAt": event.ended_at,
        "patientAccess": config.recording.patient_access,
        "deleteAt": now + dt.timedelta(days=config.recording.retention_days),
        "createdAt": SERVER_TIMESTAMP,
    }
    if not consent_covers(appointments.read_appointment(db, appointment_id), event.started_at):
        created = store.create_recording(
            db, appointment_id, recording_id, {**base, "status": DISCARDED, "reason": "no_consent"}
        )
        if created:
            _audit(db, appointment_id, recording_id, "discarded", "no_consent", now)
        return created
    if not links.allowed(event.link, config.recording.download_hosts):
        created = store.create_recording(
            db, appointment_id, recording_id, {**base, "status": FAILED, "reason": "link_not_allowed"}
        )
        if created:
            _audit(db, appointment_id, recording_id, "failed", "link_not_allowed", now)
        return created
    created = store.create_recording(db, appointment_id, recording_id, {**base, "status": PROCESSING})
    if not created and (store.read_recording(db, appointment_id, recording_id) or {}).get("status") != PROCESSING:
        return False  # a re-delivery of one stored, discarded or failed already
    job = {"appointmentId": appointment_id, "recordingId": recording_id, "source": "link", "link": event.link}
    return store.queue_job(db, job_id(appointment_id, recording_id), {**job, "queuedAt": now}) or created


@dataclass(frozen=True)
class JobOutcome:
    """What a job did: ``stored``, ``failed`` (with why) or ``nothing`` (no longer needed)."""

    outcome: str
    reason: str = ""


def _text(job: Mapping[str, Any], name: str) -> str:
    value = job.get(name)
    return value if isinstance(value, str) else ""


def run_job(
    db: Any,
    job_id_: str,
    job: Mapping[str, Any],
    config: VideoConfig,
    now: dt.datetime,
    objects: Callable[[str], Objects],
    open_link: Callable[..., links.Download] = links.open_link,
) -> JobOutcome:
    """Store one recording's file and record what it is; raises (to be retried) on what may pass."""
    appointment_id, recording_id = _text(job, "appointmentId"), _text(job, "recordingId")
    meta = store.read_recording(db, appointment_id, recording_id) if appointment_id and recording_id else None
    if meta is None or meta.get("status") != PROCESSING or not config.recording.enabled:
        store.finish_job(db, job_id_)
        return JobOutcome("nothing")
    rules, bucket = config.recording, objects(config.recording.bucket)
    target = object_path(appointment_id, recording_id)
    queued = job.get("queuedAt")
    age = now - queued if isinstance(queued, dt.datetime) else dt.timedelta(0)
    try:
        if _text(job, "source") == "link":
            if age > LINK_LIFETIME:
                return _fail(db, job_id_, appointment_id, recording_id, "link_expired", now)
            download = open_link(_text(job, "link"), rules.download_hosts, rules.max_bytes, rules.copy_seconds)
            stored = bucket.write(target, download.chunks, download.content_type, rules.max_bytes)
        else:
            source = _text(job, "path") or target
            # None when there is nothing to move (named so already, or an earlier try moved it).
            found = bucket.move(source, target, rules.max_bytes) if source != target else None
            found = found or bucket.describe(target, rules.max_bytes)
            if found is None:
                if age > OBJECT_GRACE:
                    return _fail(db, job_id_, appointment_id, recording_id, "file_missing", now)
                raise FileNotFoundError()  # not there yet: the event is delivered again (logged by class only)
            stored = found
    except links.LinkRefused as refused:
        return _fail(db, job_id_, appointment_id, recording_id, refused.why, now)
    except TooLarge:
        bucket.delete(target)
        return _fail(db, job_id_, appointment_id, recording_id, "too_large", now)
    done = {
        "status": READY,
        "bytes": stored.size,
        "sha256": stored.sha256,
        "contentType": stored.content_type,
        "storedAt": SERVER_TIMESTAMP,
    }
    if store.move_recording(db, appointment_id, recording_id, frozenset({PROCESSING}), done) is None:
        bucket.delete(target)  # it stopped being wanted while it was copied
        store.finish_job(db, job_id_)
        return JobOutcome("nothing")
    _audit(db, appointment_id, recording_id, "stored", "recording_stored", now)
    store.finish_job(db, job_id_)
    return JobOutcome("stored")


def _fail(db: Any, job_id_: str, appointment_id: str, recording_id: str, reason: str, now: dt.datetime) -> JobOutcome:
    failed = {"status": FAILED, "reason": reason}
    if store.move_recording(db, appointment_id, recording_id, frozenset({PROCESSING}), failed) is not None:
        _audit(db, appointment_id, recording_id, "failed", reason, now)
    store.finish_job(db, job_id_)
    return JobOutcome("failed", reason)


@dataclass(frozen=True)
class SweepReport:
    """What one retention sweep did."""

    deleted: int = 0
    failed: int = 0


def sweep(
    db: Any,
    *,
    now: dt.datetime,
    config: VideoConfig,
    objects: Callable[[str], Objects],
    limit: int = 200,
    on_failure: Callable[[str, Exception], None] = lambda _id, _error: None,
) -> SweepReport:
    """Delete the recordings whose retention has run out: the object first, then the record; audited."""
    if not config.recording.enabled:
        return SweepReport()
    bucket = objects(config.recording.bucket)
    deleted = failed = 0
    for appointment_id, recording_id, _meta in store.due_for_deletion(db, now, limit):
        try:
            bucket.delete(object_path(appointment_id, recording_id))
            store.delete_recording(db, appointment_id, recording_id)
            _audit(db, appointment_id, recording_id, "deleted", "retention", now)
        except Exception as error:  # noqa: BLE001 - one failure must not stop the sweep; the next run retries
            failed += 1
            on_failure(appointment_id, error)
        else:
            deleted += 1
    return SweepReport(deleted=deleted, failed=failed)
