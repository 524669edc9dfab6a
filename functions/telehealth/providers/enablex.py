"""EnableX: rooms created through its server API at assignment, each join's token issued by EnableX, attendance
from the room's call detail records when a session ends.

The server API (``VIDEO_SERVER_API_URL``, default ``https://api.enablex.io``) takes HTTP basic auth
with the App ID (``VIDEO_APP_ID``) and App Key (``VIDEO_SIGNING_KEY``) and JSON bodies:
``POST /video/v1/rooms`` makes a permanent group room (the doctor, the patient, the guests allowed),
``POST /video/v1/rooms/<id>/tokens`` a participant's token (``moderator`` for the doctor,
``participant`` otherwise), ``DELETE /video/v1/rooms/<id>`` removes the room (404: already gone).
Nothing is signed here: a token call that fails answers ``unavailable``, for the client to call again.

EnableX's webhook is not signed: it is sent with HTTP basic auth, App ID : ``VIDEO_WEBHOOK_SECRET``
(compared in constant time). Its ``roomdrop`` notification (a session ended) names a room; the joins
and leaves are then read from EnableX itself (``GET /video/v2/cdr/room/<id>``), so a replayed body
only makes us read EnableX's own records again (each stored once, by its ``cdr_id``).
"""

from __future__ import annotations

import base64
import hmac
import http.client
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import WEBHOOK_SECRET, Settings, check_shared_secret
from ..errors import Misconfigured, ProviderCallFailed, ProviderUnavailable, WebhookRejected
from .base import (
    AttendanceEvent,
    Deployment,
    Kind,
    Participant,
    Provider,
    RoomCreation,
    WebhookRequest,
    attendee,
)
from .events import derived_event_id, iso_time, parse_json_object, text_field

API_HOST = "api.enablex.io"
ROOMS = "/video/v1/rooms"
CDR = "/video/v2/cdr/room"
# An EnableX room id goes into request paths: only a plain one is taken.
ROOM_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# A join waits on the token call, so it gets a shorter deadline than the trigger's calls.
TOKEN_TIMEOUT_SECONDS = 5
REQUEST_TIMEOUT_SECONDS = 10
# Answers are small JSON objects; a larger one is cut off here, and fails as malformed.
MAX_ANSWER_BYTES = 64 * 1024
# A session's longest length at EnableX, in minutes: a four-hour visit and its join window.
SESSION_MINUTES = 300


def configure(_values: Mapping[str, Any], shared: Mapping[str, Any]) -> None:
    """EnableX needs its App ID as the app id (the App Key is the signing-key secret)."""
    if not shared["app_id"]:
        raise Misconfigured("VIDEO_APP_ID (the EnableX App ID) is required for provider enablex")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: the App Key is never sent on to another URL."""

    def redirect_request(self, *_: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def authorization(app_id: str, app_key: str) -> str:
    """HTTP basic auth with the App ID as user and the App Key as password."""
    return "Basic " + base64.b64encode(f"{app_id}:{app_key}".encode()).decode()


def call(settings: Settings, path: str, body: Mapping[str, Any] | None, timeout: float, method: str = "") -> Any:
    """One server API request, a POST of ``body`` (a DELETE without one, or ``method``); returns the status and
    the JSON answer (an empty object where it is none)."""
    config = settings.config
    request = urllib.request.Request(  # noqa: S310 - the config admits only http(s) server URLs
        f"{config.server_api_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method or ("DELETE" if body is None else "POST"),
        # The two headers EnableX's server API asks for (urllib sends every name capitalized anyway).
        headers={
            "Authorization": authorization(config.app_id, settings.signing_key.hmac_secret()),
            "Content-Type": "application/json",
        },
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = int(response.status), response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        return error.code, {}  # a refusal's body decides nothing: its status does
    try:
        answer = json.loads(raw)
    except ValueError:  # an empty or cut-off body too
        return status, {}
    return status, answer if isinstance(answer, Mapping) else {}


def room_body(room: str, max_guests: int) -> dict[str, Any]:
    """A permanent group room for the doctor (the moderator), the patient and the guests the deployment allows
    (participants), named by our random room name only."""
    return {
        "name": room,
        "owner_ref": room,
        "settings": {
            "description": "",
            "mode": "group",
            "scheduled": False,
            "adhoc": False,
            "duration": SESSION_MINUTES,
            "moderators": "1",
            "participants": str(1 + max_guests),
            "auto_recording": False,
            "quality": "SD",
            "canvas": False,
            "knock": False,
            "wait_for_moderator": False,
        },
        "sip": {"enabled": False},
    }


def create_room(room: str, _closes_at: int, deployment: Deployment, _now: int) -> str:
    """``POST /video/v1/rooms``; returns EnableX's ``room_id``."""
    settings = deployment.settings()
    status, answer = call(settings, ROOMS, room_body(room, settings.config.max_guests), REQUEST_TIMEOUT_SECONDS)
    made = answer.get("room")
    room_id = made.get("room_id") if isinstance(made, Mapping) else None
    if status != 200 or answer.get("result") != 0 or not isinstance(room_id, str) or not ROOM_ID.fullmatch(room_id):
        raise ProviderCallFailed(status, "EnableX did not create the room")
    return room_id


def delete_room(room_id: str, deployment: Deployment) -> None:
    """``DELETE /video/v1/rooms/<id>``; a room EnableX does not hold (404) is deleted already."""
    if not ROOM_ID.fullmatch(room_id):
        return  # never ours: nothing to delete
    status, answer = call(deployment.settings(), f"{ROOMS}/{room_id}", None, REQUEST_TIMEOUT_SECONDS)
    if status == 404:
        return
    if status != 200 or answer.get("result") != 0:
        raise ProviderCallFailed(status, "EnableX did not delete the room")


def token_body(grant: Grant, who: Participant) -> dict[str, Any]:
    """The token request's body: the display name, the role, our identity as ``user_ref``."""
    return {
        "name": who.display_name,
        "role": "moderator" if grant.role == "moderator" else "participant",
        "user_ref": who.identity,
    }


def request_token(grant: Grant, who: Participant, settings: Settings) -> str:
    """``POST /video/v1/rooms/<id>/tokens``; any failure (unreachable, slow, refused, malformed) is
    ``ProviderUnavailable``, never an internal error."""
    room_id = grant.provider_room_id or ""
    if not ROOM_ID.fullmatch(room_id):
        raise ProviderUnavailable()
    body = token_body(grant, who)
    try:
        status, answer = call(settings, f"{ROOMS}/{room_id}/tokens", body, TOKEN_TIMEOUT_SECONDS)
    except (OSError, http.client.HTTPException):
        raise ProviderUnavailable() from None
    token = answer.get("token")
    if status != 200 or answer.get("result") != 0 or not isinstance(token, str) or not token:
        raise ProviderUnavailable()
    return token


# A CDR's times of a user in the room: the join and, once it ended, the leave.
CDR_TIMES: tuple[tuple[Kind, str], ...] = (("joined", "connect_dt"), ("left", "disconnect_dt"))


def cdr_events(room_id: str, settings: Settings) -> list[AttendanceEvent]:
    """The room's joins and leaves as EnableX's call detail records have them (entries of other projects
    or rooms, and times that do not parse, are left out); a failed read raises, for a retry."""
    status, answer = call(settings, f"{CDR}/{room_id}", None, REQUEST_TIMEOUT_SECONDS, method="GET")
    records = answer.get("cdr")
    if status != 200 or answer.get("result") not in (0, "0") or not isinstance(records, list):
        raise ProviderCallFailed(status, "EnableX did not answer the room's call detail records")
    found = []
    for record in records:
        room = record.get("room") if isinstance(record, Mapping) else None
        if not isinstance(room, Mapping) or record.get("app_id") != settings.config.app_id:
            continue
        cdr_id, user = record.get("cdr_id"), record.get("user")
        if room.get("room_id") != room_id or not isinstance(cdr_id, str) or not cdr_id:
            continue
        ref = user.get("ref") if isinstance(user, Mapping) else None
        who = attendee(ref)
        for kind, key in CDR_TIMES:
            try:
                at = iso_time(room.get(key), key)
            except WebhookRejected:
                continue  # not there (still in the room) or not a time: nothing to record of it
            event_id = derived_event_id("enablex", kind, cdr_id)
            found.append(
                AttendanceEvent(event_id, "", kind, who.role, at, provider_room_id=room_id, guest_id=who.guest_id)
            )
    return found


def events(request: WebhookRequest, deployment: Deployment) -> list[AttendanceEvent]:
    """An EnableX notification with our basic auth: a ``roomdrop`` of this project's room reads its CDR."""
    if request.path.strip("/"):
        raise WebhookRejected(404, "no such EnableX webhook path")
    secret = check_shared_secret(WEBHOOK_SECRET, deployment.secret(WEBHOOK_SECRET))
    given = request.header("Authorization")
    if not given:
        raise WebhookRejected(401, "no Authorization header")
    if not hmac.compare_digest(given.encode(), authorization(deployment.config().app_id, secret).encode()):
        raise WebhookRejected(401, "EnableX webhook credentials do not match")
    payload = parse_json_object(request.body)
    kind, app_id = text_field(payload, "type"), text_field(payload, "app_id")
    if kind != "roomdrop" or app_id != deployment.config().app_id:
        return []  # recordings, transcodes, file transfers, another project: nothing to record
    room_id = text_field(payload, "room_id")
    if not ROOM_ID.fullmatch(room_id):
        raise WebhookRejected(400, "room_id missing or not plain")
    return cdr_events(room_id, deployment.settings())


PROVIDER = Provider(
    name="enablex",
    algorithm="HS256",
    # What the token carries is EnableX's to decide: the "claims" are what we ask it for.
    claims=lambda grant, who, _config: token_body(grant, who),
    configure=configure,
    default_domain=API_HOST,
    response_extras=lambda _config, grant: {"roomId": grant.provider_room_id},
    webhook=events,
    room_creation=RoomCreation(create=create_room, delete=delete_room),
    token_request=request_token,
)
