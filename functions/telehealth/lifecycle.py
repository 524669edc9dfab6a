"""The room lifecycle's use case, for the trigger and the sweep: decide, write, then end the meeting.

The room write comes first and never depends on the provider: a provider that fails only delays
ending its meeting, and the event's retry ends it then (the withdrawal is found done and not
written again). Free of the functions SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .config import VideoConfig
from .providers import ends_meetings, provider_of, room_url
from .providers.base import Deployment
from .rooms import moved, needs_room, new_room_name, room_of
from .store import appointments, attendance
from .store.appointments import RoomWrite

Doc = Mapping[str, Any]


def room_maker(config: Callable[[], VideoConfig]) -> Callable[[], dict[str, Any]]:
    """What a new room's ``video`` map holds (the store adds ``assignedAt``); the config is read only then."""

    def new_room() -> dict[str, Any]:
        settings = config()
        name = new_room_name()
        return {"roomName": name, "provider": settings.provider, "roomUrl": room_url(settings, name)}

    return new_room


def ended_room(before: Doc | None, after: Doc | None) -> str | None:
    """The room whose meeting an event ends: it had one while confirmed, and no longer needs it."""
    if before is None or not needs_room(before):
        return None
    if after is not None and needs_room(after) and room_of(after) == room_of(before) and not moved(before, after):
        return None
    return room_of(before)


def end_meeting(db: Any, room: str, deployment: Deployment, now: int) -> bool:
    """End the room's meeting at the provider, once; False where it has no API for it or it was ended.

    Raises when the provider call fails, so the trigger's event is retried.
    """
    provider = provider_of(deployment.config())
    if provider.meeting_end is None or attendance.meeting_already_ended(db, room):
        return False
    provider.meeting_end.end(room, deployment, now)
    attendance.mark_meeting_ended(db, room, provider.name)
    return True


@dataclass(frozen=True)
class LifecycleOutcome:
    """What one event did: the room write, and whether a meeting was ended at the provider."""

    write: RoomWrite
    meeting_ended: bool


Failure = Callable[[str, Exception], None]


def on_appointment_written(
    db: Any,
    appointment_id: str,
    before: Doc | None,
    after: Doc | None,
    written_at: Any,
    *,
    params: Mapping[str, Any],
    config: Callable[[], VideoConfig],
    deployment: Deployment,
    now: int,
    on_failure: Failure,
) -> LifecycleOutcome:
    """Keep the stored ``video`` in line with the event, then end a withdrawn room's meeting where it can.

    Whether meetings are ended is read from the raw ``params`` alone: a deployment that ends none
    needs no other setting and no key here, so a broken one cannot fail (and retry for days) an
    event whose withdrawal went well. ``on_failure`` hears which step failed before it is raised.
    """
    try:
        write = appointments.apply_room_lifecycle(db, appointment_id, before, after, room_maker(config), written_at)
    except Exception as error:
        on_failure("room lifecycle failed; no room assigned or withdrawn", error)
        raise
    room = ended_room(before, after)
    if room is None or not ends_meetings(params):
        return LifecycleOutcome(write, meeting_ended=False)
    try:
        ended = end_meeting(db, room, deployment, now)
    except Exception as error:
        on_failure("ending the meeting failed", error)
        raise
    return LifecycleOutcome(write, meeting_ended=ended)
