"""Twilio Video: access tokens (HS256 with the API key secret, ``cty: twilio-fpa;v=1``), one room grant,
room status callbacks for attendance, and rooms completed through the REST API.

Recording is an account/room setting at Twilio, not a token switch: no capture feature can be
configured for it (docs/security.md: keep account-level recording off).

Status callbacks are form posts signed with ``X-Twilio-Signature`` (HMAC-SHA1 of the callback URL and
the sorted parameters, keyed with the account's Auth Token, held in ``VIDEO_WEBHOOK_SECRET``); they are
verified with the ``twilio`` package's own ``RequestValidator`` against ``VIDEO_TWILIO_CALLBACK_URL``,
the exact URL configured at Twilio, never one rebuilt from the request's Host header (a signature
over another URL of the same account must not verify here). Shared-key signing (Twilio's Webhooks
configuration API, which Twilio does not offer as HIPAA eligible) is refused. A meeting is ended
with ``POST /v1/Rooms/<room>`` ``Status=completed``; a room Twilio does not hold is already ended.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..access import Grant
from ..config import WEBHOOK_SECRET, ParamSpec, VideoConfig, check_shared_secret, text
from ..errors import Misconfigured, ProviderCallFailed, WebhookRejected
from . import rest
from .base import AttendanceEvent, Deployment, MeetingEnd, Participant, Provider, WebhookRequest, attendee
from .events import derived_event_id, iso_time, require_fresh

API_KEY = re.compile(r"SK[0-9a-f]{32}")
ACCOUNT = re.compile(r"AC[0-9a-f]{32}")
CALLBACK_URL = "VIDEO_TWILIO_CALLBACK_URL"
# https anywhere; plain http only on the loopback (the emulator).
_CALLBACK = re.compile(
    r"(https://[a-z0-9.-]+(:[0-9]{1,5})?|http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?)(/[^?#\s]*)?/twilio"
)
API_BASE = "https://video.twilio.com"
SIGNATURE = "X-Twilio-Signature"
SIGNATURE_SETTINGS = "X-Twilio-Webhooks-Signature-Settings"
NO_SUCH_RESOURCE = 20404  # Twilio's error code for "The requested resource ... was not found"


@dataclass(frozen=True)
class TwilioOptions:
    """Twilio's own settings: the account SID (the token's ``sub``) and the status callback URL."""

    account: str
    callback_url: str


def _options(config: VideoConfig) -> TwilioOptions:
    options = config.options
    assert isinstance(options, TwilioOptions)
    return options


def configure(values: Mapping[str, Any], shared: Mapping[str, Any]) -> TwilioOptions:
    """Check the API key SID (the app id), the account SID and, where set, the status callback URL."""
    if not API_KEY.fullmatch(str(shared["app_id"])):
        raise Misconfigured("VIDEO_APP_ID must be a Twilio API key SID (SK and 32 hex digits) for provider twilio")
    account = text(values, "VIDEO_ACCOUNT_ID")
    if not ACCOUNT.fullmatch(account):
        raise Misconfigured("VIDEO_ACCOUNT_ID must be a Twilio account SID (AC and 32 hex digits) for twilio")
    callback_url = text(values, CALLBACK_URL)
    if callback_url and not _CALLBACK.fullmatch(callback_url):
        raise Misconfigured(
            "VIDEO_TWILIO_CALLBACK_URL must be the https URL of video_events/twilio as configured at Twilio "
            "(ending in /twilio, no query)"
        )
    return TwilioOptions(account=account, callback_url=callback_url)


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for a Twilio Video access token: the API key issues it for the account, one room."""
    return {
        "jti": f"{config.app_id}-{grant.issued_at}",
        "iss": config.app_id,
        "sub": _options(config).account,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "grants": {"identity": who.identity, "video": {"room": grant.room_name}},
    }


class FormParams(dict[str, list[str]]):
    """A form body's parameters, every value of each (``RequestValidator`` signs repeated ones too)."""

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``, as the validator asks a MultiDict for them."""
        return self[name]


def form_params(body: bytes) -> FormParams:
    """An ``application/x-www-form-urlencoded`` body's parameters, or 400."""
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except ValueError:  # UnicodeDecodeError is one
        raise WebhookRejected(400, "body is not a UTF-8 form") from None
    params = FormParams()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def verify_signature(url: str, params: FormParams, signature: str, auth_token: str) -> None:
    """Check ``X-Twilio-Signature`` with the twilio package's own validator (HMAC-SHA1, the Auth Token)."""
    from twilio.request_validator import RequestValidator  # imported here: only Twilio deployments need it

    if not signature:
        raise WebhookRejected(401, "no Twilio signature")
    if not RequestValidator(auth_token).validate(url, params, signature):
        raise WebhookRejected(401, "Twilio signature does not verify")


def single(params: FormParams, name: str) -> str:
    """A parameter Twilio sends once; missing, empty or repeated is a malformed callback."""
    values = params.get(name, [])
    if len(values) != 1 or not values[0]:
        raise WebhookRejected(400, f"{name} missing or repeated")
    return values[0]


KINDS = {"participant-connected": "joined", "participant-disconnected": "left"}


def events(request: WebhookRequest, deployment: Deployment) -> list[AttendanceEvent]:
    """A room status callback: signed for our callback URL, of our account, fresh within five minutes."""
    if request.path.strip("/"):
        raise WebhookRejected(404, "no such Twilio callback path")
    options = _options(deployment.config())
    if not options.callback_url:
        raise Misconfigured("VIDEO_TWILIO_CALLBACK_URL is not set: status callbacks cannot be verified")
    auth_token = check_shared_secret(WEBHOOK_SECRET, deployment.secret(WEBHOOK_SECRET))
    if request.header(SIGNATURE_SETTINGS):
        raise WebhookRejected(401, "Twilio shared-key signature: sign status callbacks with the Auth Token")
    params = form_params(request.body)
    verify_signature(options.callback_url, params, request.header(SIGNATURE), auth_token)
    if single(params, "AccountSid") != options.account:
        return []  # another account's (a subaccount's) room: not ours to record
    kind = KINDS.get(single(params, "StatusCallbackEvent"))
    if kind is None:
        return []  # room-created, room-ended, track and recording events: nothing to record
    room, room_sid, participant = (single(params, name) for name in ("RoomName", "RoomSid", "ParticipantSid"))
    at = iso_time(single(params, "Timestamp"), "Timestamp")
    require_fresh(at, request.now)
    identities = params.get("ParticipantIdentity", [])
    who = attendee(identities[0] if len(identities) == 1 else None)
    event_id = derived_event_id("twilio", kind, room_sid, participant)
    return [AttendanceEvent(event_id, room, "joined" if kind == "joined" else "left", who.role, at, who.guest_id)]


def judge_end_answer(status: int, body: bytes) -> None:
    """What Twilio's answer means: 200 completed; its own 404 (code 20404) had no such in-progress room.

    Anything else raises to be retried: a 404 without Twilio's error body is not Twilio (a wrong
    ``VIDEO_SERVER_API_URL``), and the room may still be live.
    """
    if status == 200:
        return
    if status == 404:
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            answer = None
        if isinstance(answer, Mapping) and answer.get("code") == NO_SUCH_RESOURCE:
            return
        raise ProviderCallFailed(404, "not Twilio's 'no such room' answer: check VIDEO_SERVER_API_URL")
    if status == 401:
        raise ProviderCallFailed(401, "credentials refused: check VIDEO_APP_ID (API key SID) and VIDEO_SIGNING_KEY")
    raise ProviderCallFailed(status)


def room_request(base: str, room: str, api_key: str, api_secret: str) -> urllib.request.Request:
    """``POST <base>/v1/Rooms/<room>`` ``Status=completed``, as the twilio package's client sends it."""
    credentials = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode("ascii")
    return urllib.request.Request(  # noqa: S310 - the config admits only http(s) server URLs
        f"{base}/v1/Rooms/{urllib.parse.quote(room, safe='')}",
        data=urllib.parse.urlencode({"Status": "completed"}).encode(),
        method="POST",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )


def end(room: str, deployment: Deployment, _now: int) -> None:
    """End the room's meeting: complete the in-progress room by its unique name (our room name)."""
    settings = deployment.settings()
    config = settings.config
    request = room_request(config.server_api or API_BASE, room, config.app_id, settings.signing_key.hmac_secret())
    judge_end_answer(*rest.send(request))


PROVIDER = Provider(
    name="twilio",
    algorithm="HS256",
    claims=claims,
    configure=configure,
    params=(
        ParamSpec("VIDEO_ACCOUNT_ID", "str", "", "Twilio account SID (twilio only)", exclusive=True),
        ParamSpec(
            CALLBACK_URL,
            "str",
            "",
            "the status callback URL set at Twilio (https://.../video_events/twilio); empty: no attendance",
            exclusive=True,
        ),
    ),
    headers=lambda _config: {"cty": "twilio-fpa;v=1"},
    webhook=events,
    meeting_end=MeetingEnd(end=end),
)
