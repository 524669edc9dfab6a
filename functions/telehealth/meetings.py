"""Ending a meeting at the provider when its appointment leaves ``confirmed``.

A token already handed out keeps working until it expires, and the providers keep a call running
while anyone is in it; so when a visit is cancelled or completed, the backend asks the provider to
end the room where the provider has an API for it. LiveKit (and OpenVidu 3): ``RoomService.DeleteRoom``
through livekit-api. JaaS: no such API. Self-hosted Jitsi: its end-meeting endpoint needs a token
from a separately configured key server (ASAP), which this backend does not hold (README).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from . import store
from .config import Settings
from .rooms import needs_room, room_of

ENDABLE = frozenset({"livekit"})


def ended_room(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str | None:
    """The room whose meeting an event ends: it had one while confirmed, and no longer needs one."""
    if before is None or not needs_room(before):
        return None
    if after is not None and needs_room(after) and room_of(after) == room_of(before):
        return None
    return room_of(before)


def delete_livekit_room(server_url: str, api_key: str, api_secret: str, room: str) -> None:
    """``RoomService.DeleteRoom`` with livekit-api (a token with the room-admin grant, protobuf body)."""
    from livekit.api import DeleteRoomRequest, LiveKitAPI  # imported here: only LiveKit deployments need it

    async def delete() -> None:
        api = LiveKitAPI(server_url, api_key, api_secret)
        try:
            await api.room.delete_room(DeleteRoomRequest(room=room))
        finally:
            await api.aclose()

    asyncio.run(delete())


def end_meeting(db: Any, room: str, settings: Settings) -> bool:
    """End the room's meeting at the provider, once; False where the provider has no API for it.

    Raises when the provider call fails, so the trigger's event is retried; the withdrawal it
    follows has already been written.
    """
    config = settings.config
    if config.provider not in ENDABLE or store.meeting_already_ended(db, room):
        return False
    secret = settings.signing_key.key
    assert isinstance(secret, bytes), "LiveKit signs with HMAC"
    delete_livekit_room(config.server_api_url, config.app_id, secret.decode(), room)
    store.mark_meeting_ended(db, room, config.provider)
    return True
