"""Deploy entry: params and the secret, one-time set-up, and the two public functions.

Each handler only adapts: it reads the request, calls the core in ``telehealth``, and maps domain
errors to ``HttpsError``. Params are read with ``.value`` at call time, never at import.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Any

from firebase_admin import App, get_app, initialize_app
from firebase_functions import firestore_fn, https_fn, logger, params
from firebase_functions.core import Change, init
from google.cloud.firestore_v1 import Client, DocumentSnapshot

from telehealth import join, store
from telehealth.config import Settings, VideoConfig, build_settings, parse_features, parse_provider
from telehealth.errors import Misconfigured, VideoError, error_code
from telehealth.rooms import Action

SIGNING_KEY = params.SecretParam("VIDEO_SIGNING_KEY", description="HMAC secret (jitsi, livekit) or RSA PEM (jaas)")
PROVIDER = params.StringParam("VIDEO_PROVIDER", default="jitsi", description="jitsi, jaas or livekit")
DOMAIN = params.StringParam("VIDEO_DOMAIN", default="", description="video host; empty means 8x8.vc for jaas")
APP_ID = params.StringParam("VIDEO_APP_ID", default="", description="Jitsi app_id, JaaS AppID or LiveKit API key")
KEY_ID = params.StringParam("VIDEO_KEY_ID", default="", description="JaaS API key id (jaas only)")
JITSI_SUB = params.StringParam("VIDEO_JITSI_SUB", default="", description="Jitsi sub; empty means the domain")
JITSI_AUD = params.StringParam("VIDEO_JITSI_AUD", default="jitsi", description="Jitsi aud")
OPENS_MIN = params.IntParam("VIDEO_JOIN_OPENS_MIN", default=15, description="join opens this long before start")
CLOSES_MIN = params.IntParam("VIDEO_JOIN_CLOSES_MIN", default=30, description="join closes this long after end")
TTL_MIN = params.IntParam("VIDEO_TOKEN_TTL_MIN", default=60, description="longest token lifetime")
TOKEN_EMAIL = params.BoolParam("VIDEO_TOKEN_EMAIL", default=False, description="put the caller's email in tokens")
DOCTOR_FEATURES = params.StringParam("VIDEO_DOCTOR_FEATURES", default="", description="Jitsi features for the doctor")

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
            JITSI_SUB.value,
            JITSI_AUD.value,
            OPENS_MIN.value,
            CLOSES_MIN.value,
            TTL_MIN.value,
            TOKEN_EMAIL.value,
            DOCTOR_FEATURES.value,
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
    jitsi_sub: str,
    jitsi_aud: str,
    opens: int,
    closes: int,
    ttl: int,
    email: bool,
    features: str,
) -> VideoConfig:
    return VideoConfig(
        provider=parse_provider(provider),
        domain=domain.strip(),
        app_id=app_id.strip(),
        key_id=key_id.strip(),
        jitsi_subject=jitsi_sub.strip(),
        jitsi_audience=jitsi_aud.strip(),
        opens_minutes_before=opens,
        closes_minutes_after=closes,
        token_ttl_minutes=ttl,
        include_email=email,
        doctor_features=parse_features(features),
    )


def current_settings() -> Settings:
    """Config plus the parsed signing key (cached per distinct value)."""
    return build_settings(current_config(), SIGNING_KEY.value)


def _https_error(error: VideoError) -> https_fn.HttpsError:
    return https_fn.HttpsError(https_fn.FunctionsErrorCode(error_code(error)), error.message, error.details())


@https_fn.on_call(secrets=[SIGNING_KEY])
def get_join_token(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """Hand the appointment's doctor or patient a short-lived token for its room."""
    uid = req.auth.uid if req.auth is not None else None
    claims = req.auth.token if req.auth is not None else {}
    try:
        result = join.get_join_token(
            _db(), uid=uid, claims=claims, data=req.data, settings=current_settings, now=int(time.time())
        )
    except Misconfigured as error:
        logger.error("video settings unusable; refusing every join", problem=error.problem)
        raise _https_error(error) from None
    except VideoError as refusal:
        logger.info("join refused", reason=refusal.reason)
        raise _https_error(refusal) from None
    except Exception as error:  # noqa: BLE001 - anything else is INTERNAL, with no text for the client
        logger.error("join failed", error=type(error).__name__)
        raise https_fn.HttpsError(https_fn.FunctionsErrorCode.INTERNAL, "INTERNAL") from None
    logger.info("join granted", role=result["role"], provider=result["provider"])
    return result


@firestore_fn.on_document_written(document="appointments/{appointmentId}")
def assign_video_room(event: firestore_fn.Event[Change[DocumentSnapshot[Any] | None]]) -> None:
    """Give a confirmed video appointment its room; withdraw it when the appointment is cancelled."""
    change = event.data
    before = change.before.to_dict() if change.before is not None else None
    after = change.after.to_dict() if change.after is not None else None
    try:
        config = current_config()
    except Misconfigured as error:
        logger.error("video settings unusable; no room assigned", problem=error.problem)
        return
    written_at = change.after.update_time if change.after is not None else None
    outcome = store.apply_room_lifecycle(_db(), event.params["appointmentId"], before, after, config, written_at)
    if outcome.action is not Action.NOTHING:
        logger.info("video room updated", action=outcome.action.value, via=outcome.via)
