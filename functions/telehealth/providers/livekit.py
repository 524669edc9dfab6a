"""LiveKit (and OpenVidu 3, which speaks LiveKit's protocol): HS256 access tokens, webhooks, DeleteRoom.

Webhooks are verified with livekit-api's own ``WebhookReceiver`` (a JWT signed with the API key
and secret that carries the body's sha256). A meeting is ended with ``RoomService.DeleteRoom``;
a room the server does not hold (nobody joined, or it closed) is already ended (livekit#1860).
With ``VIDEO_LIVEKIT_CREATE_ROOMS=true`` each room is made with ``RoomService.CreateRoom`` at
assignment (for the doctor, the patient and the guests allowed; open until the join window closes); the
server's ``room.auto_create: false`` then keeps a deleted room from being reopened by an old token
(docs/providers-rooms.md). DeleteRoom at the meeting's end deletes it, so no separate delete.
Recordings are room-composite egresses the backend starts and stops (``Egress`` service, a
``roomRecord`` grant), each writing one MP4 straight into the project's bucket; their
``egress_ended`` webhook reports the result (docs/recordings.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import ParamSpec, SecretSpec, VideoConfig
from ..errors import Misconfigured, ProviderCallFailed, WebhookRejected
from .base import (
    AttendanceEvent,
    Deployment,
    Kind,
    MeetingEnd,
    Participant,
    Provider,
    Recorder,
    RecordingEvent,
    RoomCreation,
    WebhookRequest,
    attendee,
)
from .events import epoch, require_fresh, safe_event_id

CREATE_ROOMS = "VIDEO_LIVEKIT_CREATE_ROOMS"
EGRESS_CREDENTIALS = "VIDEO_EGRESS_GCP_CREDENTIALS"
# Egress statuses (livekit_egress.proto): the file of a COMPLETE egress is written whole.
EGRESS_COMPLETE = 3
# The doctor and the patient; each invited guest the deployment allows (``VIDEO_MAX_GUESTS``) is one more.
BASE_PARTICIPANTS = 2
# Both gone this long (a dropped connection, a reload): the room closes.
DEPARTURE_TIMEOUT = 20 * 60
# An empty room stays open until the visit's join window closes; at least this long, at most uint32.
MIN_EMPTY_TIMEOUT = 5 * 60
MAX_EMPTY_TIMEOUT = 2**32 - 1


def configure(values: Mapping[str, Any], shared: Mapping[str, Any]) -> None:
    """LiveKit needs its API key as the app id; ``VIDEO_LIVEKIT_CREATE_ROOMS`` is true or false."""
    if not shared["app_id"]:
        raise Misconfigured("VIDEO_APP_ID is required for provider livekit")
    if not isinstance(values.get(CREATE_ROOMS, False), bool):
        raise Misconfigured(f"{CREATE_ROOMS} must be true or false")


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """Claims for LiveKit: one room, join and publish, admin for the doctor only."""
    body: dict[str, Any] = {
        "iss": config.app_id,
        "sub": who.identity,
        "name": who.display_name,
        "nbf": grant.not_before,
        "exp": grant.expires_at,
        "video": {
            "room": grant.room_name,
            "roomJoin": True,
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
            "roomAdmin": grant.role == "moderator",
            "roomRecord": "recording" in grant.features,
        },
    }
    if who.email:
        body["metadata"] = json.dumps({"email": who.email})
    return body


KINDS = {"participant_joined": "joined", "participant_left": "left", "participant_connection_aborted": "left"}


def events(request: WebhookRequest, deployment: Deployment) -> list[AttendanceEvent | RecordingEvent]:
    """A LiveKit webhook, verified with livekit-api's WebhookReceiver (token signature and body hash)."""
    from livekit.api import TokenVerifier, WebhookReceiver  # imported here: only LiveKit deployments need it

    settings = deployment.settings()
    authorization = request.header("Authorization")
    if not authorization:
        raise WebhookRejected(401, "no Authorization header")
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8") from None
    verifier = TokenVerifier(settings.config.app_id, settings.signing_key.hmac_secret())
    try:
        event = WebhookReceiver(verifier).receive(body, authorization.removeprefix("Bearer "))
    except Exception:  # noqa: BLE001 - the receiver raises bare Exception for a bad hash; any failure is a 401
        raise WebhookRejected(401, "LiveKit signature or body hash does not verify") from None
    if event.event == "egress_ended":
        return [egress_ended(event, request)]
    kind = KINDS.get(event.event)
    if kind is None:
        return []
    at = epoch(event.created_at)
    require_fresh(at, request.now)
    if not event.room.name:
        raise WebhookRejected(400, "event without a room")
    who = attendee(event.participant.identity)
    kind_of: Kind = "left" if kind == "left" else "joined"
    return [AttendanceEvent(safe_event_id(event.id), event.room.name, kind_of, who.role, at, who.guest_id)]


def _nanoseconds(value: int) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value / 1e9, dt.UTC) if value > 0 else None


def egress_ended(event: Any, request: WebhookRequest) -> RecordingEvent:
    """An ``egress_ended`` event: which egress, whether its file is complete, and where it was written."""
    at = epoch(event.created_at)
    require_fresh(at, request.now)
    info = event.egress_info
    if not info.egress_id or not info.room_name:
        raise WebhookRejected(400, "egress event without an egress id or a room")
    files = list(info.file_results) or ([info.file] if info.HasField("file") else [])
    return RecordingEvent(
        event_id=safe_event_id(event.id),
        room=info.room_name,
        kind="ended",
        provider_recording_id=info.egress_id,
        at=at,
        started_at=_nanoseconds(info.started_at),
        ended_at=_nanoseconds(info.ended_at),
        complete=info.status == EGRESS_COMPLETE and bool(files),
        object_path=files[0].filename if files else "",
    )


def egress_credentials(raw: str) -> str:
    """The service-account key (JSON) the egress uploads with, or empty for the egress server's own."""
    value = raw.strip()
    if value.lower() in ("", "none"):
        return ""
    try:
        key = json.loads(value)
    except ValueError:
        raise Misconfigured(f"{EGRESS_CREDENTIALS} is not a service-account key (JSON) nor none") from None
    if not isinstance(key, dict) or key.get("type") != "service_account" or not key.get("private_key"):
        raise Misconfigured(f"{EGRESS_CREDENTIALS} is not a service-account key (JSON) nor none")
    return value


def _twirp_failure(error: Any) -> ProviderCallFailed:
    return ProviderCallFailed(int(error.status), str(error.code))


def start_recording(room: str, bucket: str, object_path: str, deployment: Deployment) -> str:
    """``Egress.StartRoomCompositeEgress``: one MP4 of the room into ``bucket`` at ``object_path``."""
    from livekit.api import (  # only LiveKit deployments need it
        EncodedFileOutput,
        EncodedFileType,
        GCPUpload,
        LiveKitAPI,
        RoomCompositeEgressRequest,
        TwirpError,
    )

    settings = deployment.settings()
    config = settings.config
    upload = GCPUpload(credentials=egress_credentials(deployment.secret(EGRESS_CREDENTIALS)), bucket=bucket)
    output = EncodedFileOutput(file_type=EncodedFileType.MP4, filepath=object_path, gcp=upload)
    request = RoomCompositeEgressRequest(room_name=room, file_outputs=[output])

    async def start() -> str:
        api = LiveKitAPI(config.server_api_url, config.app_id, settings.signing_key.hmac_secret())
        try:
            info = await api.egress.start_room_composite_egress(request)
        except TwirpError as error:
            raise _twirp_failure(error) from None
        finally:
            await api.aclose()
        if not info.egress_id:
            raise ProviderCallFailed(200, "StartRoomCompositeEgress answered without an egress id")
        return str(info.egress_id)

    return asyncio.run(start())


def stop_recording(egress_id: str, deployment: Deployment) -> None:
    """``Egress.StopEgress``; an egress the server no longer runs (``not_found``, ended) is stopped already."""
    from livekit.api import LiveKitAPI, StopEgressRequest, TwirpError  # only LiveKit deployments need it

    settings = deployment.settings()
    config = settings.config

    async def stop() -> None:
        api = LiveKitAPI(config.server_api_url, config.app_id, settings.signing_key.hmac_secret())
        try:
            await api.egress.stop_egress(StopEgressRequest(egress_id=egress_id))
        except TwirpError as error:
            if error.code not in ("not_found", "failed_precondition"):
                raise _twirp_failure(error) from None
        finally:
            await api.aclose()

    asyncio.run(stop())


def delete_room(server_url: str, api_key: str, api_secret: str, room: str) -> None:
    """``RoomService.DeleteRoom`` with livekit-api; ``not_found`` means there is nothing left to end."""
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


def create_room(room: str, closes_at: int, deployment: Deployment, now: int) -> str:
    """``RoomService.CreateRoom`` with livekit-api; returns the room's sid (LiveKit answers an existing
    room of that name with itself, so a second creation makes no second room)."""
    from livekit.api import CreateRoomRequest, LiveKitAPI  # only LiveKit deployments need it

    settings = deployment.settings()
    config = settings.config
    request = CreateRoomRequest(
        name=room,
        empty_timeout=min(max(closes_at - now, MIN_EMPTY_TIMEOUT), MAX_EMPTY_TIMEOUT),
        departure_timeout=DEPARTURE_TIMEOUT,
        max_participants=BASE_PARTICIPANTS + config.max_guests,
    )

    async def create() -> str:
        api = LiveKitAPI(config.server_api_url, config.app_id, settings.signing_key.hmac_secret())
        try:
            made = await api.room.create_room(request)
        finally:
            await api.aclose()
        if not made.sid:
            raise ProviderCallFailed(200, "CreateRoom answered without a room sid")
        return str(made.sid)

    return asyncio.run(create())


def end(room: str, deployment: Deployment, _now: int) -> None:
    """End the room's meeting: delete the room at the server."""
    settings = deployment.settings()
    config = settings.config
    delete_room(config.server_api_url, config.app_id, settings.signing_key.hmac_secret(), room)


PROVIDER = Provider(
    name="livekit",
    algorithm="HS256",
    claims=claims,
    configure=configure,
    capture_features=frozenset({"recording"}),
    response_extras=lambda config, _grant: {"serverUrl": f"wss://{config.domain}"},
    params=(ParamSpec(CREATE_ROOMS, "bool", False, "create each room at assignment (livekit only)", exclusive=True),),
    webhook=events,
    meeting_end=MeetingEnd(end=end),
    room_creation=RoomCreation(create=create_room, enabled=lambda values: values.get(CREATE_ROOMS) is True),
    secrets=(SecretSpec(EGRESS_CREDENTIALS, "service-account key (JSON) egress uploads recordings with, or none"),),
    recorder=Recorder(start=start_recording, stop=stop_recording),
)
