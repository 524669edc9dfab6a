"""Deploy entry: params and secrets (declared by ``telehealth.providers``), one-time set-up, and the public
functions, each a few lines: read the request, call a use case, map its outcome (``_https_error``) or log its
failure (``_log_failure``). Params are read with ``.value`` at call time, never at import."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from firebase_admin import App, get_app, initialize_app
from firebase_functions import firestore_fn, https_fn, logger, options, params, scheduler_fn, tasks_fn
from firebase_functions.core import Change, init
from flask import Request, Response
from google.cloud.firestore_v1 import DocumentSnapshot

from telehealth import (
    attendance,
    bucket,
    delivery,
    guests,
    join,
    lifecycle,
    lobby,
    recording_files,
    recordings,
    repair,
    sessions,
)
from telehealth.config import SIGNING_KEY, SMS_SECRET, ParamSpec, Settings, VideoConfig, read_values
from telehealth.errors import Misconfigured, Unauthenticated, VideoError, WebhookRejected, error_code
from telehealth.gate import Caller, Policy, policy_limits
from telehealth.notify.channels import channels_for
from telehealth.notify.queue import AdminTaskQueue
from telehealth.notify.settings import NotifySettings, notify_settings
from telehealth.providers import build_settings, cached_config, creates_rooms, param_specs, secret_specs
from telehealth.providers.base import Deployment
from telehealth.ratelimit import redemption_limiter, shared_limiter
from telehealth.reminders import REMINDER_FUNCTION, ReminderHooks
from telehealth.rooms import Action
from telehealth.store.client import FunctionsClient

_KINDS: dict[str, Callable[..., Any]] = {"str": params.StringParam, "int": params.IntParam, "bool": params.BoolParam}


def _declare(spec: ParamSpec) -> Any:
    return _KINDS[spec.kind](spec.name, default=spec.default, description=spec.description)


PARAMS: dict[str, Any] = {spec.name: _declare(spec) for spec in param_specs()}
SECRETS = {spec.name: params.SecretParam(spec.name, description=spec.description) for spec in secret_specs()}
MAX_INSTANCES = PARAMS["VIDEO_MAX_INSTANCES"]

_clients: dict[str, Any] = {}
_set_up_lock = threading.Lock()


def _admin_app() -> App:
    try:
        return get_app()
    except ValueError:
        return initialize_app()


# The callable wrapper verifies the caller's ID token before any @init hook runs, and needs the
# default app for that, so the app (cheap: no network, no credentials yet) is made at import.
_admin_app()


@init
def _set_up() -> None:
    """Once per instance, before the first invocation: one Firestore client."""
    with _set_up_lock:
        if "db" not in _clients:
            # The plain client, as the SDK's own Firestore triggers use: ADC in production, and anonymous
            # credentials against the emulator (the Admin SDK wrapper would insist on ADC there too); its
            # server streams are read on the calling thread (telehealth/store/client.py).
            _clients["db"] = FunctionsClient(project=_admin_app().project_id)


def _raw_params() -> tuple[str | None, ...]:
    """What every param's value is made of: its environment variable (a param's default is a constant)."""
    return tuple(os.environ.get(name) for name in PARAMS)


@lru_cache(maxsize=8)
def _parsed_params(raw: tuple[str | None, ...], strict: bool) -> Mapping[str, Any]:
    del raw  # the cache key only: read_values reads the same variables
    return MappingProxyType(read_values(PARAMS, strict))


def param_values(strict: bool = True, raw: tuple[str | None, ...] | None = None) -> dict[str, Any]:
    """Every plain param's value by name (``strict``: one that does not parse fails closed, every time).

    Parsed once per distinct set of raw values (``raw``: as this request already read them).
    """
    return dict(_parsed_params(_raw_params() if raw is None else raw, strict))


def current_config() -> VideoConfig:
    """The params as a validated config, built once per distinct set of values."""
    return cached_config(param_values())


@lru_cache(maxsize=4)
def _settings_for(raw: tuple[str | None, ...], secret: str) -> Settings:
    return build_settings(cached_config(param_values(raw=raw)), secret)


def current_settings(raw: tuple[str | None, ...] | None = None) -> Settings:
    """Config plus the parsed signing key, once per distinct set of raw values and key (failures: every time)."""
    return _settings_for(_raw_params() if raw is None else raw, SECRETS[SIGNING_KEY].value)


DEPLOYMENT = Deployment(config=current_config, settings=current_settings, secret=lambda name: str(SECRETS[name].value))


def current_notify_settings() -> NotifySettings:
    """The reminder and notification params, checked (every call: they are plain strings, cheap to check)."""
    return notify_settings(param_values(strict=False))


REMINDERS = ReminderHooks(settings=current_notify_settings, queue=lambda: AdminTaskQueue(REMINDER_FUNCTION))


def _https_error(error: VideoError) -> https_fn.HttpsError:
    return https_fn.HttpsError(https_fn.FunctionsErrorCode(error_code(error)), error.message, error.details())


def _log_failure(what: str, error: Exception, **context: Any) -> None:
    """The one failure log line: a setting by name, or the error's class and stack, never its message."""
    if isinstance(error, Misconfigured):
        logger.error(f"{what}: video settings unusable", problem=error.problem, **context)
    else:
        stack = "".join(traceback.format_tb(error.__traceback__))
        logger.error(what, error=type(error).__name__, traceback=stack, **context)


def _header_token(req: https_fn.CallableRequest[Any], header: str) -> str:
    return str(req.raw_request.headers.get(header, "")).removeprefix("Bearer ")


def _policy(req: https_fn.CallableRequest[Any]) -> Policy:
    raw = _raw_params()  # the environment, read once per request
    values = param_values(strict=False, raw=raw)  # only the policy's own params must parse here; the rest is audited
    per_minute, retention_days, reuse_seconds = policy_limits(values)
    uid = str(req.auth.uid) if req.auth is not None else ""
    # Read on the request's thread: the request object does not exist on the session-check threads.
    id_token, app_token = _header_token(req, "Authorization"), _header_token(req, "X-Firebase-AppCheck")
    return Policy(
        settings=lambda: current_settings(raw),
        session_check=lambda: sessions.shared_checks(reuse_seconds).start(uid, id_token),
        app_check_passes=lambda: sessions.app_check_passes(
            enforce=values["VIDEO_ENFORCE_APP_CHECK"],
            replay=values.get("VIDEO_APP_CHECK_REPLAY") is not False,
            verified_app=req.app,
            app_check_token=app_token,
        ),
        limiter=shared_limiter(per_minute),
        audit_retention_days=retention_days,
        redeem_limiter=redemption_limiter(),
        deployment=DEPLOYMENT,
        objects=bucket.open_bucket,
    )


def _serve(use_case: Callable[..., dict[str, Any]], req: https_fn.CallableRequest[Any], name: str) -> dict[str, Any]:
    """Run one callable's use case and map its outcome: refusals to their codes, anything else INTERNAL."""
    caller = Caller(req.auth.uid, req.auth.token) if req.auth is not None and req.auth.uid else None
    try:
        if caller is None:
            raise Unauthenticated()
        return use_case(_clients["db"], caller=caller, data=req.data, policy=_policy(req), now=int(time.time()))
    except Misconfigured as error:
        _log_failure(f"{name} refused", error, function=name)
        raise _https_error(error) from None
    except VideoError as refusal:
        logger.info(f"{name} refused", reason=refusal.reason)
        raise _https_error(refusal) from None
    except Exception as error:  # noqa: BLE001 - anything else is INTERNAL, with no text for the client
        _log_failure(f"{name} failed", error)
        raise https_fn.HttpsError(https_fn.FunctionsErrorCode.INTERNAL, "INTERNAL") from None


# From make bench's load run (docs/benchmarks.md): joins per second peak at 8 concurrent requests per
# instance (THREADS=8 in the env gives gunicorn a thread each); 1 vCPU; 256 MiB (a warm worker is ~80 MiB).
SERVING: dict[str, Any] = {"concurrency": 8, "cpu": 1, "memory": options.MemoryOption.MB_256}
CALLABLE: dict[str, Any] = {"secrets": [SECRETS[SIGNING_KEY]], "max_instances": MAX_INSTANCES, **SERVING}
# The recording callables (and consent, whose no stops one) reach the provider's API with its other secrets too.
RECORDING_CALLABLE: dict[str, Any] = {**CALLABLE, "secrets": list(SECRETS.values())}


@https_fn.on_call(**CALLABLE)
def get_join_token(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """Hand the appointment's doctor or patient a short-lived token for its room."""
    result = _serve(join.get_join_token, req, "join")
    logger.info("join granted", role=result["role"], provider=result["provider"])
    return result


@https_fn.on_call(**CALLABLE)
def admit_patient(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The doctor lets the waiting patient in, or not (``VIDEO_WAITING_ROOM=admit``)."""
    result = _serve(lobby.admit_patient, req, "admission")
    logger.info("admission recorded", admitted=result["admitted"])
    return result


@https_fn.on_call(**RECORDING_CALLABLE)
def set_recording_consent(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The patient's yes or no to recording; the doctor's next token follows it."""
    result = _serve(lobby.set_recording_consent, req, "consent")
    logger.info("recording consent recorded", consent=result["consent"])
    return result


@https_fn.on_call(**CALLABLE)
def invite_guest(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The visit's doctor invites an interpreter or a caregiver; the answer holds the code's only copy."""
    result = _serve(guests.invite_guest, req, "invitation")
    logger.info("guest invited")  # never the code, the link or the name
    return result


@https_fn.on_call(**CALLABLE)
def redeem_invite(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """Any signed-in account (anonymous included) opens an invitation and is bound to it, once."""
    result = _serve(guests.redeem_invite, req, "redemption")
    logger.info("invitation redeemed")
    return result


@https_fn.on_call(**CALLABLE)
def remove_guest(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The visit's doctor or patient removes a guest; the guest is refused from then on."""
    result = _serve(guests.remove_guest, req, "removal")
    logger.info("guest removed")
    return result


@https_fn.on_call(**RECORDING_CALLABLE)
def start_recording(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The visit's doctor starts recording (only with the patient's consent), into the project's bucket."""
    result = _serve(recordings.start_recording, req, "recording start")
    logger.info("recording started", status=result["status"])
    return result


@https_fn.on_call(**RECORDING_CALLABLE)
def stop_recording(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The visit's doctor stops the recording; the provider's webhook then reports its file."""
    result = _serve(recordings.stop_recording, req, "recording stop")
    logger.info("recording stopped", stopped=len(result["stopped"]))
    return result


@https_fn.on_call(**RECORDING_CALLABLE)
def get_recording_url(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """A short-lived download URL of a stored recording, for the doctor (and the patient where allowed)."""
    result = _serve(recordings.get_recording_url, req, "recording url")
    logger.info("recording url handed out", expiresAt=result["expiresAt"])
    return result


def _retried(function: Any) -> Any:
    """Turn on redelivery of failed events for a Firestore trigger.

    firebase-functions 0.6 has no ``retry`` option for ``firestore_fn`` (its manifest always says
    ``retry: false``; firebase-functions-python issue 165), so set it on the declared endpoint.
    """
    function.__firebase_endpoint__.eventTrigger["retry"] = True
    return function


@_retried
@firestore_fn.on_document_written(
    document="appointments/{appointmentId}", secrets=list(SECRETS.values()), max_instances=MAX_INSTANCES
)
def assign_video_room(event: firestore_fn.Event[Change[DocumentSnapshot[Any] | None]]) -> None:
    """Give a confirmed video appointment its room, withdraw it when it must go, end the meeting then.

    Any failure raises, so the event is delivered again (``retry=True``); the work is idempotent.
    """
    change, appointment_id = event.data, event.params["appointmentId"]
    outcome = lifecycle.on_appointment_written(
        _clients["db"],
        appointment_id,
        change.before.to_dict() if change.before is not None else None,
        change.after.to_dict() if change.after is not None else None,
        change.after.update_time if change.after is not None else None,
        params=param_values(strict=False),
        config=current_config,
        deployment=DEPLOYMENT,
        now=int(time.time()),
        on_failure=lambda what, error: _log_failure(
            f"{what}; the event will be retried", error, appointmentId=appointment_id
        ),
        reminders=REMINDERS,
    )
    if outcome.reminders.problem:
        logger.error("reminders not scheduled: settings unusable", problem=outcome.reminders.problem)
    elif outcome.reminders.added:
        logger.info("reminders scheduled", tasks=outcome.reminders.added, appointmentId=appointment_id)
    if outcome.write.action is not Action.NOTHING:
        logger.info("video room updated", action=outcome.write.action.value, via=outcome.write.via)
    if outcome.invitations_ended:
        logger.info("invitations ended", appointmentId=appointment_id, count=outcome.invitations_ended)
    for happened, line in (
        (outcome.room_created, "room created at the provider"),
        (outcome.room_deleted, "room deleted at the provider"),
        (outcome.meeting_ended, "meeting ended at the provider"),
    ):
        if happened:
            logger.info(line, appointmentId=appointment_id)


# Its name has no underscore: a task-queue function's queue is named after it, and Cloud Tasks queue ids
# allow only letters, digits and hyphens (firebase-tools issues 7884, 8659, 7365).
@tasks_fn.on_task_dispatched(
    retry_config=options.RetryConfig(max_attempts=5, min_backoff_seconds=30, max_backoff_seconds=600),
    rate_limits=options.RateLimits(max_concurrent_dispatches=20),
    secrets=[SECRETS[SMS_SECRET]],
    max_instances=MAX_INSTANCES,
)
def sendVisitReminder(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """One reminder or notice to one participant, if the visit still stands as the task was made for.

    Any failure answers INTERNAL (HTTP 500), so Cloud Tasks delivers the task again; each channel sends once
    per task. The failure is logged here by class and stack; the SDK's own "Unhandled error" line, which
    would carry the exception's text, never happens.
    """
    values = param_values(strict=False)
    try:
        settings = current_notify_settings()
        project = _admin_app().project_id
        channels = channels_for(settings, str(SECRETS[SMS_SECRET].value), project)
        result = delivery.send_visit_reminder(
            _clients["db"],
            req.data,
            settings=settings,
            channels=channels,
            project=project,
            now=int(time.time()),
            retention_days=policy_limits(values)[1],
        )
    except Exception as error:  # noqa: BLE001 - INTERNAL (500: Cloud Tasks retries), and no text in any log
        _log_failure("reminder failed; the task will be retried", error)
        raise https_fn.HttpsError(https_fn.FunctionsErrorCode.INTERNAL, "INTERNAL") from None
    logger.info("reminder task done", outcome=result.outcome, **result.channels)
    return {"outcome": result.outcome}


@scheduler_fn.on_schedule(schedule="every 10 minutes", max_instances=1)
def repair_video_rooms(event: scheduler_fn.ScheduledEvent) -> None:
    """Every 10 minutes: give rooms to confirmed video visits that lack one, withdraw rooms that must go."""
    now = event.schedule_time if event.schedule_time.tzinfo else event.schedule_time.replace(tzinfo=dt.UTC)
    values = param_values()
    report = repair.sweep(
        _clients["db"],
        now=now,
        config=current_config,
        limit=max(1, values["VIDEO_REPAIR_LIMIT"]),
        on_failure=lambda appointment_id, error: _log_failure(
            "repair failed for one appointment; the next sweep tries again", error, appointmentId=appointment_id
        ),
        deployment=DEPLOYMENT if creates_rooms(values) else None,
    )
    log = logger.error if report.failed else logger.info
    log("repair sweep done", **dataclasses.asdict(report))


@https_fn.on_request(secrets=list(SECRETS.values()), max_instances=MAX_INSTANCES)
def video_events(req: Request) -> Response:
    """Provider webhooks at ``video_events/<provider>``: verify, then record joins and leaves of our rooms."""
    post = attendance.WebhookPost(req.method, req.path, dict(req.headers.items()), req.content_length, req.stream.read)
    try:
        received = attendance.receive(_clients["db"], post, DEPLOYMENT, dt.datetime.now(dt.UTC))
    except WebhookRejected as rejected:
        logger.warn("webhook rejected", status=rejected.status, why=rejected.why)
        return Response(status=rejected.status)
    except Exception as error:  # noqa: BLE001 - the provider retries on 5xx; nothing of the request is echoed
        _log_failure("webhook failed", error)
        return Response(status=500)
    logger.info("webhook handled", events=received.events, recorded=received.recorded)
    body = '{"ok": true}' if received.reply is None else json.dumps(dict(received.reply))
    return Response(status=200, response=body, content_type="application/json")


@_retried
@firestore_fn.on_document_created(document="videoRecordingJobs/{jobId}", timeout_sec=540, max_instances=MAX_INSTANCES)
def store_recording(event: firestore_fn.Event[DocumentSnapshot[Any] | None]) -> None:
    """Copy a finished recording into Storage (or check the one an egress wrote) and record what it is.

    A failure that may pass raises, so the event is delivered again (``retry=True``); the job is idempotent.
    """
    job_id = event.params["jobId"]
    job = event.data.to_dict() if event.data is not None else None
    if job is None:
        return
    try:
        done = recording_files.run_job(
            _clients["db"], job_id, job, current_config(), dt.datetime.now(dt.UTC), objects=bucket.open_bucket
        )
    except Exception as error:
        _log_failure("recording copy failed; the event will be retried", error, job=job_id)
        raise
    log = logger.warn if done.outcome == "failed" else logger.info
    log("recording job done", outcome=done.outcome, reason=done.reason, job=job_id)


@scheduler_fn.on_schedule(schedule="every 1 hours", max_instances=1)
def sweep_recordings(event: scheduler_fn.ScheduledEvent) -> None:
    """Every hour: delete the recordings (object and record) older than VIDEO_RECORDING_RETENTION_DAYS."""
    now = event.schedule_time if event.schedule_time.tzinfo else event.schedule_time.replace(tzinfo=dt.UTC)
    report = recording_files.sweep(
        _clients["db"],
        now=now,
        config=current_config(),
        objects=bucket.open_bucket,
        on_failure=lambda appointment_id, error: _log_failure(
            "recording deletion failed; the next sweep tries again", error, appointmentId=appointment_id
        ),
    )
    log = logger.error if report.failed else logger.info
    log("recording sweep done", **dataclasses.asdict(report))
