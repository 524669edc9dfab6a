"""EnableX: rooms created through its server API at assignment, each join's token issued by EnableX.

The server API (``VIDEO_SERVER_API_URL``, default ``https://api.enablex.io``) takes HTTP basic auth
with the App ID (``VIDEO_APP_ID``) and App Key (``VIDEO_SIGNING_KEY``) and JSON bodies:
``POST /video/v1/rooms`` makes a permanent group room (the doctor, the patient, the guests allowed),
``POST /video/v1/rooms/<id>/tokens`` a participant's token (``moderator`` for the doctor,
``participant`` otherwise), ``DELETE /video/v1/rooms/<id>`` removes the room (404: already gone).
Nothing is signed here: a token call that fails answers ``unavailable``, for the client to call again.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import Settings
from ..errors import Misconfigured, ProviderCallFailed, ProviderUnavailable
from .base import Deployment, Participant, Provider, RoomCreation

API_HOST = "api.enablex.io"
ROOMS = "/video/v1/rooms"
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


def call(settings: Settings, path: str, body: Mapping[str, Any] | None, timeout: float) -> Any:
    """One server API request, a POST of ``body`` (a DELETE without one); returns the status and the JSON
    answer (an empty object where it is none)."""
    config = settings.config
    request = urllib.request.Request(  # noqa: S310 - the config admits only http(s) server URLs
        f"{config.server_api_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="DELETE" if body is None else "POST",
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


PROVIDER = Provider(
    name="enablex",
    algorithm="HS256",
    # What the token carries is EnableX's to decide: the "claims" are what we ask it for.
    claims=lambda grant, who, _config: token_body(grant, who),
    configure=configure,
    default_domain=API_HOST,
    response_extras=lambda _config, grant: {"roomId": grant.provider_room_id},
    room_creation=RoomCreation(create=create_room, delete=delete_room),
    token_request=request_token,
)
