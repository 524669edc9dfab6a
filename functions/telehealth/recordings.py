"""Recordings the doctor starts and stops, the consent withdrawal that discards them, and the download URL.

``start_recording`` / ``stop_recording``: where the provider records through the backend's API (a
``recorder``), the visit's active doctor starts one only while the patient's consent is ``true``; the
provider writes it into the bucket at ``recordings/{appointmentId}/{recordingId}``. Withdrawing consent
(``discard_active``, after ``set_recording_consent`` recorded the ``false``) stops every active one at
once and keeps nothing of it. ``get_recording_url``: a short-lived signed URL of a stored recording for
the doctor (and the patient where ``VIDEO_PATIENT_RECORDING_ACCESS`` is true); anyone else, and any
recording they may not have, is ``not-found``. All pass the gate (one audit record each). Free of the
functions SDK.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import Any

from google.cloud.firestore import SERVER_TIMESTAMP

from .access import patient_consents_to_recording
from .bucket import Objects
from .config import VideoConfig
from .errors import (
    AppointmentNotFound,
    InvalidArgument,
    Misconfigured,
    NotJoinable,
    ProviderCallFailed,
    ProviderUnavailable,
    RecordingRefused,
)
from .gate import Caller, Granted, Policy, Visit, serve
from .providers import provider_of
from .providers.base import Deployment, Recorder
from .rooms import room_of
from .store import audit
from .store import recordings as store
from .store.recordings import DISCARDED, FAILED, PROCESSING, READY, RECORDING

# Ours are 20 characters; those named after a provider's recording are at most 128 (providers.events).
RECORDING_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def object_path(appointment_id: str, recording_id: str) -> str:
    """Where a recording's file is kept in the bucket."""
    return f"recordings/{appointment_id}/{recording_id}"


def new_recording_id() -> str:
    """A fresh recording id: 120 random bits, URL-safe, derived from nothing."""
    return secrets.token_urlsafe(15)


def parse_recording_id(data: Any) -> str:
    """The request's ``recordingId``, or ``invalid-argument`` before anything is read."""
    value = data.get("recordingId") if isinstance(data, Mapping) else None
    if not isinstance(value, str) or RECORDING_ID.fullmatch(value) is None:
        raise InvalidArgument("recordingId")
    return value


def delete_at(now: int, config: VideoConfig) -> dt.datetime:
    """When a recording made now is due for deletion."""
    return dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(days=config.recording.retention_days)


def _deployment(policy: Policy) -> Deployment:
    if policy.deployment is None:
        raise Misconfigured("the recording callables need the deployment (provider API and secrets)")
    return policy.deployment


def _recorder(visit: Visit) -> Recorder:
    """The visit's active doctor, a deployment that keeps recordings, a provider that records through us."""
    if visit.appointment is None or visit.role != "moderator":
        raise AppointmentNotFound()
    config = visit.settings.config
    if not config.recording.enabled:
        raise RecordingRefused("recording_off")
    recorder = provider_of(config).recorder
    if recorder is None:
        raise RecordingRefused("recording_unsupported")
    return recorder


def start_recording(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """The visit's doctor starts recording its meeting: only with the patient's consent, one at a time."""
    deployment = _deployment(policy)

    def step(visit: Visit) -> Granted | None:
        recorder = _recorder(visit)
        appointment, config = visit.appointment or {}, visit.settings.config
        if appointment.get("type") != "video":
            raise NotJoinable("not_video")
        if appointment.get("status") != "confirmed":
            raise NotJoinable("not_confirmed")
        room = room_of(appointment)
        if room is None:
            raise NotJoinable("room_not_ready")
        if not patient_consents_to_recording(appointment):
            raise RecordingRefused("no_consent")
        for recording_id, _meta in store.recordings_where(db, visit.appointment_id, "status", RECORDING):
            return Granted(
                {"recordingId": recording_id, "status": RECORDING}, "recording_running", audit=_id(recording_id)
            )
        recording_id = new_recording_id()
        metadata = {
            "status": RECORDING,
            "provider": config.provider,
            "startedAt": SERVER_TIMESTAMP,
            "patientAccess": config.recording.patient_access,
            "deleteAt": delete_at(now, config),
        }

        def still_consented(stored: Mapping[str, Any] | None) -> bool:
            return stored is not None and patient_consents_to_recording(stored) and room_of(stored) == room

        if not store.begin_recording(db, visit.appointment_id, recording_id, metadata, still_consented):
            return None  # consent or room changed since the read: read again, decide again
        path = object_path(visit.appointment_id, recording_id)
        try:
            provider_id = recorder.start(room, config.recording.bucket, path, deployment)
        except ProviderCallFailed:
            failed = {"status": FAILED, "reason": "provider_failed", "endedAt": SERVER_TIMESTAMP}
            store.move_recording(db, visit.appointment_id, recording_id, frozenset({RECORDING}), failed)
            raise ProviderUnavailable() from None
        attach = {"providerRecordingId": provider_id}
        if store.move_recording(db, visit.appointment_id, recording_id, frozenset({RECORDING}), attach) is None:
            # Discarded while it started (consent withdrawn meanwhile): stop it now, keep nothing.
            pending = {**attach, "stopPending": True}
            store.move_recording(db, visit.appointment_id, recording_id, frozenset({DISCARDED}), pending)
            with contextlib.suppress(ProviderCallFailed):  # the stop stays pending: the next withdrawal retries it
                _stop_discarded(db, visit.appointment_id, recording_id, provider_id, recorder, deployment)
            raise RecordingRefused("no_consent")
        return Granted({"recordingId": recording_id, "status": RECORDING}, "recording_started", audit=_id(recording_id))

    return serve(db, caller=caller, data=data, policy=policy, now=now, step=step)


def stop_recording(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """The visit's doctor stops what is being recorded; the provider's webhook then reports the file."""
    deployment = _deployment(policy)

    def step(visit: Visit) -> Granted | None:
        recorder = _recorder(visit)
        stopped = []
        for recording_id, meta in store.recordings_where(db, visit.appointment_id, "status", RECORDING):
            provider_id = meta.get("providerRecordingId")
            if not isinstance(provider_id, str) or not provider_id:
                continue  # still starting: its start call attaches the id, and the next stop finds it
            try:
                recorder.stop(provider_id, deployment)
            except ProviderCallFailed:
                raise ProviderUnavailable() from None
            ended = {"status": PROCESSING, "stoppedAt": SERVER_TIMESTAMP}
            store.move_recording(db, visit.appointment_id, recording_id, frozenset({RECORDING}), ended)
            stopped.append(recording_id)
        return Granted({"stopped": stopped}, "recording_stopped" if stopped else "recording_not_running")

    return serve(db, caller=caller, data=data, policy=policy, now=now, step=step)


def _id(recording_id: str) -> dict[str, str]:
    return {"recordingId": recording_id}


def _stop_discarded(
    db: Any, appointment_id: str, recording_id: str, provider_id: str, recorder: Recorder, deployment: Deployment
) -> None:
    """Stop a discarded recording at the provider; ``stopPending`` stays set until that succeeds."""
    recorder.stop(provider_id, deployment)
    store.move_recording(db, appointment_id, recording_id, frozenset({DISCARDED}), {"stopPending": False})


def discard_active(
    db: Any, appointment_id: str, deployment: Deployment, objects: Any, now: int, uid: str, retention_days: int
) -> list[str]:
    """Consent withdrawn: every recording still being recorded is discarded and stopped at once.

    Each is marked ``discarded`` first (so a racing start, webhook or copy keeps nothing of it), then
    stopped at the provider; any file already written is deleted. A stop that fails stays pending and
    raises (``ProviderCallFailed``), so the patient's next withdrawal tries again. Returns the ids.
    """
    config = deployment.config()
    recorder = provider_of(config).recorder
    discarded = []
    for recording_id, meta in store.recordings_where(db, appointment_id, "status", RECORDING):
        provider_id = meta.get("providerRecordingId")
        changes = {
            "status": DISCARDED,
            "reason": "consent_withdrawn",
            "endedAt": SERVER_TIMESTAMP,
            "stopPending": bool(provider_id),
        }
        if store.move_recording(db, appointment_id, recording_id, frozenset({RECORDING}), changes) is None:
            continue
        discarded.append(recording_id)
        audit.record_access(
            db,
            appointment_id=appointment_id,
            uid=uid,
            role="guest",
            outcome="discarded",
            reason="consent_withdrawn",
            now=now,
            retention_days=retention_days,
            extra=_id(recording_id),
        )
    for recording_id, meta in store.recordings_where(db, appointment_id, "stopPending", True):
        provider_id = meta.get("providerRecordingId")
        if recorder is not None and isinstance(provider_id, str) and provider_id:
            _stop_discarded(db, appointment_id, recording_id, provider_id, recorder, deployment)
    if discarded and config.recording.enabled:
        bucket: Objects = objects(config.recording.bucket)
        for recording_id in discarded:
            bucket.delete(object_path(appointment_id, recording_id))
    return discarded


def get_recording_url(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """A short-lived download URL of a stored recording, for those the clinic lets download it."""

    def step(visit: Visit) -> Granted | None:
        recording_id = parse_recording_id(data)  # checked before any read (check_input)
        appointment, config = visit.appointment, visit.settings.config
        if appointment is None:
            raise AppointmentNotFound()
        is_patient = appointment.get("patientId") == visit.caller.uid and visit.role == "guest"
        if not (visit.role == "moderator" or (is_patient and config.recording.patient_access)):
            raise AppointmentNotFound()
        meta = store.read_recording(db, visit.appointment_id, recording_id)
        if meta is None or (is_patient and meta.get("patientAccess") is not True):
            raise AppointmentNotFound()  # the same answer: recordings the caller may not have do not exist for them
        if meta.get("status") != READY:
            raise RecordingRefused("not_ready")
        if not config.recording.enabled:
            raise RecordingRefused("recording_off")
        expires_at = now + config.recording.url_ttl_seconds
        url = policy.objects(config.recording.bucket).download_url(
            object_path(visit.appointment_id, recording_id),
            dt.datetime.fromtimestamp(expires_at, dt.UTC),
            dt.datetime.fromtimestamp(now, dt.UTC),
        )
        answer = {
            "url": url,
            "expiresAt": expires_at,
            "contentType": meta.get("contentType"),
            "bytes": meta.get("bytes"),
        }
        return Granted(answer, "recording_url", expires_at=expires_at, audit=_id(recording_id))

    def check(request: Any) -> None:
        parse_recording_id(request)

    return serve(db, caller=caller, data=data, policy=policy, now=now, step=step, check_input=check)
