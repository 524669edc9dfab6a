"""Self-hosted Jitsi (Prosody token auth): HS256 tokens, event-sync attendance, end-meeting where configured.

Tokens follow Jitsi's token plugins: integer times, one room (never ``*``), string-only
``context.user`` values, explicit feature flags. Attendance comes from jitsi-contrib's event_sync
module, which sends the webhook secret as ``Authorization: Bearer``. Meetings are ended through
Prosody's ``mod_muc_end_meeting`` with an RS256 system token (docs/jitsi-prosody.md has the set-up).
"""

from __future__ import annotations

import hmac
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import jwt

from ..access import Grant
from ..config import (
    CAPTURE_FEATURES,
    DIAL_OUT_FEATURES,
    HOST,
    WEBHOOK_SECRET,
    ParamSpec,
    SecretSpec,
    VideoConfig,
    check_shared_secret,
    load_rsa_private_key,
    text,
)
from ..errors import Misconfigured, ProviderCallFailed, ProviderMisconfigured, WebhookRejected
from .base import AttendanceEvent, Deployment, MeetingEnd, Participant, Provider, WebhookRequest, attendee
from .events import derived_event_id, epoch, parse_json_object, require_fresh

END_KEY = "VIDEO_JITSI_END_KEY"
END_KEY_ID = "VIDEO_JITSI_END_KEY_ID"
# The system token only has to live through one request; a little slack for the two clocks.
SYSTEM_TOKEN_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 10
# A kid for Jitsi's ASAP key server: the server fetches <key server>/<sha256 hex of the kid>.pem.
_KEY_ID = re.compile(r"[A-Za-z0-9._:/-]{1,255}")


@dataclass(frozen=True)
class JitsiOptions:
    """Jitsi's own settings: the token's ``sub`` and ``aud``, and the end-meeting key id and MUC domain."""

    subject: str
    audience: str
    end_key_id: str
    muc: str


def _options(config: VideoConfig) -> JitsiOptions:
    options = config.options
    assert isinstance(options, JitsiOptions)
    return options


def configure(values: Mapping[str, Any], shared: Mapping[str, Any]) -> JitsiOptions:
    """Check Jitsi's params: an app id (``iss``), a lowercase ``sub``, an ``aud``, the end-meeting pair."""
    if not shared["app_id"]:
        raise Misconfigured("VIDEO_APP_ID (the Jitsi app_id, used as iss) is required")
    subject = text(values, "VIDEO_JITSI_SUB") or str(shared["domain"]).split(":")[0]
    if subject != subject.lower():
        raise Misconfigured("VIDEO_JITSI_SUB must be lowercase")
    audience = text(values, "VIDEO_JITSI_AUD", "jitsi")
    if not audience:
        raise Misconfigured("VIDEO_JITSI_AUD must not be empty")
    end_key_id = text(values, END_KEY_ID)
    if end_key_id and not _KEY_ID.fullmatch(end_key_id):
        raise Misconfigured("VIDEO_JITSI_END_KEY_ID must be 1-255 of A-Z a-z 0-9 . _ : / -")
    muc = text(values, "VIDEO_JITSI_MUC") or f"conference.{subject}"
    if end_key_id and (":" in muc or not HOST.match(muc)):
        raise Misconfigured("VIDEO_JITSI_MUC must be the rooms' MUC host name (conference.<XMPP domain>)")
    return JitsiOptions(subject=subject, audience=audience, end_key_id=end_key_id, muc=muc)


def jitsi_context(grant: Grant, who: Participant, features: frozenset[str]) -> dict[str, Any]:
    """The ``context`` claim Jitsi's plugins read (self-hosted and JaaS alike)."""
    return {
        # Every value a string: the presence-identity plugin throws on booleans and numbers.
        "user": {
            "id": who.identity,
            "name": who.display_name,
            "email": who.email or "",
            "avatar": "",
            "moderator": "true" if grant.role == "moderator" else "false",
        },
        # Every feature named, so nothing is left to the server's default; dial-out is always off.
        "features": {
            feature: "true" if feature in features else "false" for feature in (*CAPTURE_FEATURES, *DIAL_OUT_FEATURES)
        },
    }


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a self-hosted Jitsi (Prosody token auth)."""
    options = _options(config)
    return {
        "iss": config.app_id,
        "aud": options.audience,
        "sub": options.subject,
        "room": grant.room_name.lower(),
        "iat": grant.issued_at,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "context": jitsi_context(grant, who, grant.features),
    }


EVENT_PATHS = {"events/occupant/joined": "joined", "events/occupant/left": "left"}


def events(request: WebhookRequest, deployment: Deployment) -> list[AttendanceEvent]:
    """A jitsi-contrib event_sync post: the shared secret in ``Authorization``, the event in the path."""
    secret = check_shared_secret(WEBHOOK_SECRET, deployment.secret(WEBHOOK_SECRET))
    given = request.header("Authorization").removeprefix("Bearer ").encode()
    if not hmac.compare_digest(given, secret.encode()):
        raise WebhookRejected(401, "event-sync secret does not match")
    kind = EVENT_PATHS.get(request.path.strip("/"))
    payload = parse_json_object(request.body)
    if kind is None:
        return []  # room created/destroyed: nothing to record
    occupant, room = payload.get("occupant"), payload.get("room_name")
    if not isinstance(occupant, Mapping) or not isinstance(room, str) or not room:
        raise WebhookRejected(400, "payload without room or occupant")
    at = epoch(occupant.get("joined_at" if kind == "joined" else "left_at"))
    require_fresh(at, request.now)
    jid = str(occupant.get("occupant_jid", ""))
    event_id = derived_event_id("jitsi", kind, room, jid, str(int(at.timestamp())))
    who = attendee(occupant.get("id"))
    return [
        AttendanceEvent(event_id, room.lower(), "joined" if kind == "joined" else "left", who.role, at, who.guest_id)
    ]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the failure it is: the system token is never sent on to another URL."""

    def redirect_request(self, *_: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@lru_cache(maxsize=2)
def load_end_key(pem: str) -> object:
    """``VIDEO_JITSI_END_KEY``, the RSA key that signs end-meeting system tokens; parsed once."""
    return load_rsa_private_key(pem, END_KEY, "Jitsi's end-meeting token is RS256")


def system_token(config: VideoConfig, key: object, room: str, now: int) -> str:
    """The token Prosody's end-meeting module verifies: RS256 with ``kid``; it requires a ``room`` claim."""
    options = _options(config)
    body = {
        "iss": config.app_id,
        "aud": options.audience,
        "sub": options.subject,
        "room": room,
        "iat": now,
        "nbf": now,
        "exp": now + SYSTEM_TOKEN_SECONDS,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": options.end_key_id})  # type: ignore[arg-type]


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
# Enough of an answer's body to tell the module's empty answers from a page.
ANSWER_BYTES = 4096


def classify_end_meeting_answer(status: int, body: bytes) -> Literal["ended", "not_running"]:
    """What Prosody's answer to ``POST /end-meeting`` means; raises for anything but a done meeting.

    200 or 404 with an empty body is the module itself: the room destroyed, or none (nobody in it).
    With a body it is Prosody's router's page ("Unknown host", or the module not loaded because
    net.url is missing) or a proxy's, and the room may be live; a 401 is a token the module refused.
    Both name the settings to check (``ProviderMisconfigured``); anything else is ``ProviderCallFailed``.
    """
    empty = not body.strip()
    if status == 200 and empty:
        return "ended"
    if status == 404 and empty:
        return "not_running"
    if status in (200, 404):
        raise ProviderMisconfigured(status, JITSI_NOT_THE_MODULE.format(status=status))
    if status == 401:
        raise ProviderMisconfigured(status, JITSI_REFUSED_401)
    raise ProviderCallFailed(status)


def end(room: str, deployment: Deployment, now: int) -> None:
    """``POST <server API>/end-meeting?conference=<room>@<muc>`` with the system token."""
    config = deployment.config()
    key = load_end_key(deployment.secret(END_KEY))
    query = urllib.parse.urlencode({"conference": f"{room}@{_options(config).muc}"})
    request = urllib.request.Request(  # noqa: S310 - the config admits only http(s) server URLs
        f"{config.server_api_url}/end-meeting?{query}",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {system_token(config, key, room, now)}"},
    )
    try:
        with _OPENER.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            status, body = int(response.status), response.read(ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read(ANSWER_BYTES)
        error.close()
    # Raises unless the module itself ended the room or has none (nobody in it: nothing to end).
    classify_end_meeting_answer(status, body)


PROVIDER = Provider(
    name="jitsi",
    algorithm="HS256",
    claims=claims,
    configure=configure,
    params=(
        ParamSpec("VIDEO_JITSI_SUB", "str", "", "Jitsi sub; empty means the domain"),
        ParamSpec("VIDEO_JITSI_AUD", "str", "jitsi", "Jitsi aud"),
        ParamSpec(END_KEY_ID, "str", "", "kid of VIDEO_JITSI_END_KEY; empty: meetings are not ended", exclusive=True),
        ParamSpec("VIDEO_JITSI_MUC", "str", "", "Jitsi MUC domain; empty: conference.<sub>"),
    ),
    secrets=(SecretSpec(END_KEY, "RSA PEM signing Jitsi end-meeting tokens; 'none' where not used"),),
    capture_features=frozenset(CAPTURE_FEATURES),
    webhook=events,
    meeting_end=MeetingEnd(end=end, enabled=lambda values: bool(str(values.get(END_KEY_ID, "")).strip())),
)
