"""Ending a meeting at the provider when its appointment leaves ``confirmed``.

A token already handed out keeps working until it expires, and the providers keep a call running
while anyone is in it; so when a visit is cancelled or completed, the backend asks the provider to
end the room where the provider has an API for it. LiveKit (and OpenVidu 3): ``RoomService.DeleteRoom``
through livekit-api. Self-hosted Jitsi, where configured: Prosody's ``mod_muc_end_meeting``
(``POST /end-meeting?conference=<room>@<muc>``) with an RS256 system token whose public key the
deployment's ASAP key server publishes. JaaS, Twilio, Zoom: not done (README).
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal

import jwt

from . import store
from .config import Settings, VideoConfig, load_end_key
from .errors import Misconfigured
from .rooms import needs_room, room_of

# The system token only has to live through one request; a little slack for the two clocks.
SYSTEM_TOKEN_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 10
# Enough of an answer's body to tell the module's empty answers from a page.
ANSWER_BYTES = 4096


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the failure it is: the system token is never sent on to another URL."""

    def redirect_request(self, *_: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class EndMeetingFailed(Exception):
    """The provider refused or failed to end the meeting; the event is retried."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the provider answered {status}")
        self.status = status


class EndMeetingMisconfigured(EndMeetingFailed, Misconfigured):
    """Jitsi's answer shows a wrong set-up, named in ``problem``: logged as unusable settings, and retried.

    A ``Misconfigured``, so the trigger logs it by name ("video settings unusable ...", ``problem``);
    an ``EndMeetingFailed``, so whatever catches a failed ending catches it too.
    """

    def __init__(self, status: int, problem: str) -> None:
        Misconfigured.__init__(self, problem)
        self.status = status


# What a wrong set-up looks like from here (docs/jitsi-prosody.md), each naming the settings to check.
# mod_muc_end_meeting answers with an empty body; Prosody's router (or a proxy) answers with a page.
JITSI_NOT_THE_MODULE = (
    "VIDEO_SERVER_API_URL reached Prosody's router (or a proxy), not mod_muc_end_meeting: answered {status} "
    "with a page. Prosody needs the global muc_mapper_domain_base naming the end-meeting VirtualHost, and "
    'http_default_host naming it too (or the proxy sending it as Host), "muc_end_meeting" in modules_enabled, '
    "and Lua's net.url installed (without it the module does not load); see docs/jitsi-prosody.md"
)
JITSI_REFUSED_401 = (
    "Prosody's mod_muc_end_meeting refused the system token (401; Prosody's log says why): the VirtualHost named "
    "by the global muc_mapper_domain_base needs app_id = VIDEO_APP_ID and asap_key_server, and no app_secret (with "
    'one it takes HS256 only: "Invalid or incorrect alg"); prosody_password_public_key_repo_url/<sha256 hex of '
    "VIDEO_JITSI_END_KEY_ID>.pem must be the public half of VIDEO_JITSI_END_KEY"
)

EndMeetingAnswer = Literal["ended", "not_running"]


def classify_end_meeting_answer(status: int, body: bytes) -> EndMeetingAnswer:
    """What Prosody's answer to ``POST /end-meeting`` means; raises for anything but a done meeting.

    - 200, empty body: the module destroyed the room (``"ended"``).
    - 404, empty body: the module has no such room, nobody is in it (``"not_running"``).
    - 404 (or 200) with a body: Prosody's router's own page ("Unknown host", or the module did not load
      because net.url is missing) or a proxy's; the room may well be live. ``EndMeetingMisconfigured``.
    - 401: the module refused the token, which the backend makes fresh: a set-up mismatch.
      ``EndMeetingMisconfigured``.
    - anything else (400, 5xx, a redirect): ``EndMeetingFailed``.
    """
    empty = not body.strip()
    if status == 200 and empty:
        return "ended"
    if status == 404 and empty:
        return "not_running"
    if status in (200, 404):
        raise EndMeetingMisconfigured(status, JITSI_NOT_THE_MODULE.format(status=status))
    if status == 401:
        raise EndMeetingMisconfigured(status, JITSI_REFUSED_401)
    raise EndMeetingFailed(status)


def ended_room(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str | None:
    """The room whose meeting an event ends: it had one while confirmed, and no longer needs one."""
    if before is None or not needs_room(before):
        return None
    if after is not None and needs_room(after) and room_of(after) == room_of(before):
        return None
    return room_of(before)


def delete_livekit_room(server_url: str, api_key: str, api_secret: str, room: str) -> None:
    """``RoomService.DeleteRoom`` with livekit-api (a token with the room-admin grant, protobuf body).

    A room the server does not have (nobody joined, or everyone left and it closed) is already ended:
    LiveKit answers ``not_found`` for it, which is not a failure to retry.
    """
    from livekit.api import DeleteRoomRequest, LiveKitAPI, TwirpError  # only LiveKit deployments need it

    async def delete() -> None:
        api = LiveKitAPI(server_url, api_key, api_secret)
        try:
            await api.room.delete_room(DeleteRoomRequest(room=room))
        except TwirpError as error:
            if error.code != "not_found":
                raise
        finally:
            await api.aclose()

    asyncio.run(delete())


def jitsi_system_token(config: VideoConfig, key: object, room: str, now: int) -> str:
    """The token Prosody's end-meeting module verifies: RS256 with ``kid``, ``iss``, ``aud`` and ``room``."""
    claims = {
        "iss": config.app_id,
        "aud": config.jitsi_audience,
        "sub": config.jitsi_subject,
        "room": room,
        "iat": now,
        "nbf": now,
        "exp": now + SYSTEM_TOKEN_SECONDS,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": config.end_key_id})  # type: ignore[arg-type]


def end_jitsi_meeting(config: VideoConfig, key: object, room: str, now: int) -> None:
    """``POST <server API>/end-meeting?conference=<room>@<muc>``; see ``classify_end_meeting_answer``."""
    query = urllib.parse.urlencode({"conference": f"{room}@{config.jitsi_muc}"})
    request = urllib.request.Request(  # noqa: S310 - VideoConfig admits only http(s) server URLs
        f"{config.server_api_url}/end-meeting?{query}",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {jitsi_system_token(config, key, room, now)}"},
    )
    try:
        with _OPENER.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            status, body = int(response.status), response.read(ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read(ANSWER_BYTES)
        error.close()
    # Raises unless the module itself ended the room or has none (nobody in it: nothing to end).
    classify_end_meeting_answer(status, body)


def end_meeting(db: Any, room: str, settings: Settings, end_key: str, now: int) -> bool:
    """End the room's meeting at the provider, once; False where the provider has no API for it.

    ``end_key`` is ``VIDEO_JITSI_END_KEY`` (read only for Jitsi). Raises when the provider call
    fails, so the trigger's event is retried; the withdrawal it follows has already been written.
    """
    config = settings.config
    if not config.ends_meetings or store.meeting_already_ended(db, room):
        return False
    if config.provider == "livekit":
        delete_livekit_room(config.server_api_url, config.app_id, settings.signing_key.hmac_secret(), room)
    else:
        end_jitsi_meeting(config, load_end_key(end_key), room, now)
    store.mark_meeting_ended(db, room, config.provider)
    return True
