"""Deploy entry: params and the secret, one-time set-up, and the public functions.

Each handler only adapts: it reads the request, calls the core in ``telehealth``, and maps domain
errors to ``HttpsError``. Params are read with ``.value`` at call time, never at import.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from firebase_admin import App, app_check, auth, get_app, initialize_app
from firebase_functions import firestore_fn, https_fn, logger, options, params, scheduler_fn
from firebase_functions.core import Change, init
from flask import Request, Response
from google.cloud.firestore_v1 import Client, DocumentSnapshot

from telehealth import join, lobby, meetings, repair, store, webhooks
from telehealth.config import (
    Settings,
    VideoConfig,
    build_settings,
    ends_meetings,
    parse_features,
    parse_provider,
    parse_waiting_room,
)
from telehealth.errors import Misconfigured, Unauthenticated, VideoError, error_code
from telehealth.ratelimit import RateLimiter
from telehealth.rooms import Action

SIGNING_KEY = params.SecretParam(
    "VIDEO_SIGNING_KEY", description="HMAC secret (jitsi, livekit, twilio, zoom) or RSA PEM (jaas)"
)
WEBHOOK_SECRET = params.SecretParam(
    "VIDEO_WEBHOOK_SECRET", description="JaaS webhook secret; also the Jitsi event-sync header secret"
)
END_KEY = params.SecretParam(
    "VIDEO_JITSI_END_KEY", description="RSA PEM signing Jitsi end-meeting tokens; 'none' where not used"
)
PROVIDER = params.StringParam("VIDEO_PROVIDER", default="jitsi", description="jitsi, jaas, livekit, twilio or zoom")
DOMAIN = params.StringParam("VIDEO_DOMAIN", default="", description="video host; empty means 8x8.vc for jaas")
APP_ID = params.StringParam("VIDEO_APP_ID", default="", description="Jitsi app_id, JaaS AppID or LiveKit API key")
KEY_ID = params.StringParam("VIDEO_KEY_ID", default="", description="JaaS API key id (jaas only)")
ACCOUNT_ID = params.StringParam("VIDEO_ACCOUNT_ID", default="", description="Twilio account SID (twilio only)")
JITSI_SUB = params.StringParam("VIDEO_JITSI_SUB", default="", description="Jitsi sub; empty means the domain")
JITSI_AUD = params.StringParam("VIDEO_JITSI_AUD", default="jitsi", description="Jitsi aud")
OPENS_MIN = params.IntParam("VIDEO_JOIN_OPENS_MIN", default=15, description="join opens this long before start")
CLOSES_MIN = params.IntParam("VIDEO_JOIN_CLOSES_MIN", default=30, description="join closes this long after end")
TTL_MIN = params.IntParam("VIDEO_TOKEN_TTL_MIN", default=60, description="longest token lifetime")
TOKEN_EMAIL = params.BoolParam("VIDEO_TOKEN_EMAIL", default=False, description="put the caller's email in tokens")
DOCTOR_FEATURES = params.StringParam("VIDEO_DOCTOR_FEATURES", default="", description="Jitsi features for the doctor")
WAITING_ROOM = params.StringParam("VIDEO_WAITING_ROOM", default="host", description="off, host or admit")
JOIN_RATE = params.IntParam("VIDEO_JOIN_RATE_PER_MIN", default=20, description="joins per account per minute")
ENFORCE_APP_CHECK = params.BoolParam("VIDEO_ENFORCE_APP_CHECK", default=False, description="refuse without App Check")
APP_CHECK_REPLAY = params.BoolParam("VIDEO_APP_CHECK_REPLAY", default=False, description="consume limited-use tokens")
AUDIT_DAYS = params.IntParam("VIDEO_AUDIT_RETENTION_DAYS", default=2190, description="days an audit record is kept")
MAX_INSTANCES = params.IntParam("VIDEO_MAX_INSTANCES", default=10, description="instances per function, at most")
SERVER_API = params.StringParam(
    "VIDEO_SERVER_API_URL", default="", description="provider server API base URL; empty: https://<domain>"
)
END_KEY_ID = params.StringParam(
    "VIDEO_JITSI_END_KEY_ID", default="", description="kid of VIDEO_JITSI_END_KEY; empty: Jitsi meetings not ended"
)
JITSI_MUC = params.StringParam("VIDEO_JITSI_MUC", default="", description="Jitsi MUC domain; empty: conference.<sub>")
REPAIR_LIMIT = params.IntParam("VIDEO_REPAIR_LIMIT", default=500, description="documents per query per sweep")

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
    """Once per instance, before the first invocation: the Admin SDK app and one Firestore client."""
    with _set_up_lock:
        if "db" in _clients:
            return
        app = _admin_app()
        # The plain client, as the SDK's own Firestore triggers use: ADC in production, and anonymous
        # credentials against the emulator (the Admin SDK wrapper would insist on ADC there too).
        _clients["db"] = Client(project=app.project_id)


def _db() -> Any:
    return _clients["db"]


def current_config() -> VideoConfig:
    """The plain params as a validated config, built once per distinct set of values."""
    try:
        values = (
            PROVIDER.value,
            DOMAIN.value,
            APP_ID.value,
            KEY_ID.value,
            ACCOUNT_ID.value,
            JITSI_SUB.value,
            JITSI_AUD.value,
            OPENS_MIN.value,
            CLOSES_MIN.value,
            TTL_MIN.value,
            TOKEN_EMAIL.value,
            DOCTOR_FEATURES.value,
            WAITING_ROOM.value,
            SERVER_API.value,
            END_KEY_ID.value,
            JITSI_MUC.value,
        )
    except ValueError:
        raise Misconfigured("a numeric or boolean VIDEO_* param does not parse") from None
    return _config_from(*values)


@lru_cache(maxsize=4)
def _config_from(
    provider: str,
    domain: str,
    app_id: str,
    key_id: str,
    account_id: str,
    jitsi_sub: str,
    jitsi_aud: str,
    opens: int,
    closes: int,
    ttl: int,
    email: bool,
    features: str,
    waiting_room: str,
    server_api: str,
    end_key_id: str,
    jitsi_muc: str,
) -> VideoConfig:
    return VideoConfig(
        provider=parse_provider(provider),
        domain=domain.strip(),
        app_id=app_id.strip(),
        key_id=key_id.strip(),
        account_id=account_id.strip(),
        jitsi_subject=jitsi_sub.strip(),
        jitsi_audience=jitsi_aud.strip(),
        opens_minutes_before=opens,
        closes_minutes_after=closes,
        token_ttl_minutes=ttl,
        include_email=email,
        doctor_features=parse_features(features),
        waiting_room=parse_waiting_room(waiting_room),
        server_api=server_api.strip(),
        end_key_id=end_key_id.strip(),
        jitsi_muc=jitsi_muc.strip(),
    )


def current_settings() -> Settings:
    """Config plus the parsed signing key (cached per distinct value)."""
    return build_settings(current_config(), SIGNING_KEY.value)


def _https_error(error: VideoError) -> https_fn.HttpsError:
    return https_fn.HttpsError(https_fn.FunctionsErrorCode(error_code(error)), error.message, error.details())


@lru_cache(maxsize=2)
def _limiter(per_minute: int) -> RateLimiter:
    # One limiter per instance (per distinct limit): its windows live in this instance's memory.
    return RateLimiter(per_minute)


def _bearer_token(req: https_fn.CallableRequest[Any], header: str) -> str:
    value: str = req.raw_request.headers.get(header, "")
    return value.removeprefix("Bearer ")


# The Auth API lookups of concurrent requests run here, each overlapping its request's Firestore read.
_SESSION_CHECKS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="session-check")


def _session_is_live(id_token: str) -> bool:
    """Check revocation and disabled accounts now, with the Auth API (the SDK's own check does neither)."""
    try:
        auth.verify_id_token(id_token, check_revoked=True)
    except (auth.RevokedIdTokenError, auth.UserDisabledError, auth.UserNotFoundError):
        return False
    return True


def _start_session_check(req: https_fn.CallableRequest[Any]) -> Callable[[], bool]:
    # The token is read here, on the request's thread: the request object does not exist on others.
    return _SESSION_CHECKS.submit(_session_is_live, _bearer_token(req, "Authorization")).result


def _app_check_passes(req: https_fn.CallableRequest[Any]) -> bool:
    """App Check as the params ask: off, required (the SDK verified ``req.app``), or required and unused."""
    if not ENFORCE_APP_CHECK.value:
        return True
    if req.app is None:  # no token, or one the SDK refused (forged, expired, another project's)
        return False
    if not APP_CHECK_REPLAY.value:
        return True
    claims = app_check.verify_token(_bearer_token(req, "X-Firebase-AppCheck"), consume=True)
    return claims.get("already_consumed") is False


def _join_policy(req: https_fn.CallableRequest[Any]) -> join.JoinPolicy:
    try:
        per_minute, retention_days = JOIN_RATE.value, AUDIT_DAYS.value
    except ValueError:
        raise Misconfigured("VIDEO_JOIN_RATE_PER_MIN or VIDEO_AUDIT_RETENTION_DAYS does not parse") from None
    if per_minute < 1 or retention_days < 1:
        raise Misconfigured("VIDEO_JOIN_RATE_PER_MIN and VIDEO_AUDIT_RETENTION_DAYS must be at least 1")
    return join.JoinPolicy(
        settings=current_settings,
        session_check=lambda: _start_session_check(req),
        app_check_passes=lambda: _app_check_passes(req),
        limiter=_limiter(per_minute),
        audit_retention_days=retention_days,
    )


UseCase = Callable[..., dict[str, Any]]


def _serve(use_case: UseCase, req: https_fn.CallableRequest[Any], name: str) -> dict[str, Any]:
    """Run one callable's use case and map its outcome: domain errors to their codes, anything else INTERNAL."""
    caller = join.Caller(req.auth.uid, req.auth.token) if req.auth is not None and req.auth.uid else None
    try:
        if caller is None:
            raise Unauthenticated()
        return use_case(_db(), caller=caller, data=req.data, policy=_join_policy(req), now=int(time.time()))
    except Misconfigured as error:
        logger.error("video settings unusable; refusing", function=name, problem=error.problem)
        raise _https_error(error) from None
    except VideoError as refusal:
        logger.info(f"{name} refused", reason=refusal.reason)
        raise _https_error(refusal) from None
    except Exception as error:  # noqa: BLE001 - anything else is INTERNAL, with no text for the client
        logger.error(f"{name} failed", error=type(error).__name__, traceback=_traceback_without_values())
        raise https_fn.HttpsError(https_fn.FunctionsErrorCode.INTERNAL, "INTERNAL") from None


# Serving, from make bench's load run (README "Benchmarks"): one instance's joins per second peak at
# 8 concurrent requests; more only queue inside it and raise p99. So 8 requests per instance (and
# THREADS=8 in the env, so gunicorn has a thread for each), 1 vCPU, 256 MiB (a warm worker is ~80 MiB).
SERVING: dict[str, Any] = {"concurrency": 8, "cpu": 1, "memory": options.MemoryOption.MB_256}


@https_fn.on_call(secrets=[SIGNING_KEY], max_instances=MAX_INSTANCES, **SERVING)
def get_join_token(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """Hand the appointment's doctor or patient a short-lived token for its room."""
    result = _serve(join.get_join_token, req, "join")
    logger.info("join granted", role=result["role"], provider=result["provider"])
    return result


@https_fn.on_call(secrets=[SIGNING_KEY], max_instances=MAX_INSTANCES, **SERVING)
def admit_patient(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The doctor lets the waiting patient in, or not (``VIDEO_WAITING_ROOM=admit``)."""
    result = _serve(lobby.admit_patient, req, "admission")
    logger.info("admission recorded", admitted=result["admitted"])
    return result


@https_fn.on_call(secrets=[SIGNING_KEY], max_instances=MAX_INSTANCES, **SERVING)
def set_recording_consent(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The patient's yes or no to recording; the doctor's next token follows it."""
    result = _serve(lobby.set_recording_consent, req, "consent")
    logger.info("recording consent recorded", consent=result["consent"])
    return result


def _traceback_without_values() -> str:
    """The current exception's stack (files, lines, functions), without its message: that could hold data."""
    return "".join(traceback.format_tb(sys.exc_info()[2]))


def _retried(function: Any) -> Any:
    """Turn on redelivery of failed events for a Firestore trigger.

    firebase-functions 0.6 has no ``retry`` option for ``firestore_fn`` (its manifest always says
    ``retry: false``; firebase-functions-python issue 165), so set it on the declared endpoint.
    """
    function.__firebase_endpoint__.eventTrigger["retry"] = True
    return function


@_retried
@firestore_fn.on_document_written(
    document="appointments/{appointmentId}", secrets=[SIGNING_KEY, END_KEY], max_instances=MAX_INSTANCES
)
def assign_video_room(event: firestore_fn.Event[Change[DocumentSnapshot[Any] | None]]) -> None:
    """Give a confirmed video appointment its room; withdraw it when the appointment leaves confirmed.

    Any failure raises, so the event is delivered again (``retry=True``); the work is idempotent.
    """
    change = event.data
    appointment_id = event.params["appointmentId"]
    before = change.before.to_dict() if change.before is not None else None
    after = change.after.to_dict() if change.after is not None else None
    written_at = change.after.update_time if change.after is not None else None
    try:
        outcome = store.apply_room_lifecycle(_db(), appointment_id, before, after, current_config, written_at)
    except Misconfigured as error:
        logger.error(
            "video settings unusable; no room assigned, the event will be retried",
            appointmentId=appointment_id,
            problem=error.problem,
        )
        raise
    except Exception as error:
        logger.error(
            "room lifecycle failed; the event will be retried",
            appointmentId=appointment_id,
            error=type(error).__name__,
            traceback=_traceback_without_values(),
        )
        raise
    if outcome.action is not Action.NOTHING:
        logger.info("video room updated", action=outcome.action.value, via=outcome.via)
    room = meetings.ended_room(before, after)
    # Decided from the two raw params: a deployment that ends no meetings (JaaS, Twilio, Zoom, Jitsi
    # without VIDEO_JITSI_END_KEY_ID) needs no other setting and no key here, so a broken one cannot
    # fail, and have retried for days, an event whose withdrawal went well.
    if room is not None and ends_meetings(PROVIDER.value, END_KEY_ID.value):
        # After the withdrawal, never before it: a provider that fails only delays this, and the
        # event's retry ends the meeting then (the withdrawal is found done and not written again).
        try:
            ended = meetings.end_meeting(_db(), room, current_settings(), END_KEY.value, int(time.time()))
        except Misconfigured as error:
            logger.error(
                "video settings unusable; the meeting is not ended, the event will be retried",
                appointmentId=appointment_id,
                problem=error.problem,
            )
            raise
        except Exception as error:
            logger.error(
                "ending the meeting failed; the event will be retried",
                appointmentId=appointment_id,
                error=type(error).__name__,
                traceback=_traceback_without_values(),
            )
            raise
        if ended:
            logger.info("meeting ended at the provider", appointmentId=appointment_id)


@scheduler_fn.on_schedule(schedule="every 10 minutes", max_instances=1)
def repair_video_rooms(event: scheduler_fn.ScheduledEvent) -> None:
    """Every 10 minutes: give rooms to confirmed video visits that lack one, withdraw rooms that must go."""
    now = event.schedule_time if event.schedule_time.tzinfo else event.schedule_time.replace(tzinfo=dt.UTC)

    def failed(appointment_id: str, error: Exception) -> None:
        logger.error(
            "repair failed for one appointment; the next sweep tries again",
            appointmentId=appointment_id,
            error=type(error).__name__,
            traceback="".join(traceback.format_tb(error.__traceback__)),
        )

    report = repair.sweep(_db(), now=now, config=current_config, limit=max(1, REPAIR_LIMIT.value), on_failure=failed)
    log = logger.error if report.failed else logger.info
    log(
        "repair sweep done",
        examined=report.examined,
        assigned=report.assigned,
        withdrawn=report.withdrawn,
        failed=report.failed,
    )


def _webhook_events(req: Request, now: dt.datetime) -> list[webhooks.AttendanceEvent]:
    """Route by the path after the function's URL: /livekit, /jaas, /jitsi/events/... (event_sync's api_prefix)."""
    if req.method != "POST":
        raise webhooks.Rejected(405, "POST only")
    if (req.content_length or 0) > webhooks.MAX_BODY_BYTES:
        raise webhooks.Rejected(400, "body too large")
    # At most one byte past the limit, even for a chunked body that announced no length.
    body = req.stream.read(webhooks.MAX_BODY_BYTES + 1)
    if len(body) > webhooks.MAX_BODY_BYTES:
        raise webhooks.Rejected(400, "body too large")
    source, _, rest = req.path.strip("/").partition("/")
    config = current_config()
    if source == "livekit" and config.provider == "livekit":
        secret = current_settings().signing_key.hmac_secret()
        auth_header = req.headers.get("Authorization", "")
        return webhooks.livekit_events(body, auth_header, config.app_id, secret, now)
    if source == "jaas" and config.provider == "jaas":
        signature = req.headers.get("X-Jaas-Signature", "")
        return webhooks.jaas_events(body, signature, WEBHOOK_SECRET.value, config.app_id, now)
    if source == "jitsi" and config.provider == "jitsi":
        auth_header = req.headers.get("Authorization", "")
        return webhooks.jitsi_events(rest, body, auth_header, WEBHOOK_SECRET.value, now)
    raise webhooks.Rejected(404, "no such webhook for this deployment's provider")


@https_fn.on_request(secrets=[SIGNING_KEY, WEBHOOK_SECRET], max_instances=MAX_INSTANCES)
def video_events(req: Request) -> Response:
    """Provider webhooks: verify, then record joins and leaves of our rooms as attendance."""
    try:
        events = _webhook_events(req, dt.datetime.now(dt.UTC))
        recorded = 0
        for event in events:
            appointment_id = store.appointment_with_room(_db(), event.room)
            if appointment_id is not None and store.record_attendance(
                _db(), appointment_id, event.room, event.event_id, event.kind, event.role, event.at
            ):
                recorded += 1
    except webhooks.Rejected as rejected:
        logger.warn("webhook rejected", status=rejected.status, why=rejected.why)
        return Response(status=rejected.status)
    except Misconfigured as error:
        logger.error("video settings unusable; webhook refused", problem=error.problem)
        return Response(status=500)
    except Exception as error:  # noqa: BLE001 - the provider retries on 5xx; nothing of the request is echoed
        logger.error("webhook failed", error=type(error).__name__, traceback=_traceback_without_values())
        return Response(status=500)
    logger.info("webhook handled", events=len(events), recorded=recorded)
    return Response(status=200, response='{"ok": true}', content_type="application/json")
