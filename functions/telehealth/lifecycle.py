"""The room lifecycle's use case, for the trigger and the sweep: decide, write, then the provider's part.

The room write comes first and never depends on the provider. A room that ends (withdrawn, replaced
by a move, completed) then ends every invitation to it. Where the provider creates rooms, an
assignment then creates the room there and stores its id in a second conditional write, and a room
that is no longer valid is deleted there; after that a withdrawn meeting is ended. A provider that
fails only delays its part: the error is raised, and the event's retry (or the sweep) completes it
(the room write is found done and not written again). Free of the functions SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .access import join_window
from .config import VideoConfig
from .providers import creates_rooms, ends_meetings, provider_of, room_url
from .providers.base import Deployment
from .reminders import ReminderHooks, Scheduled
from .reminders import on_appointment_written as schedule_reminders
from .rooms import Action, decide, moved, needs_room, new_room_name, provider_room_of, room_awaiting_provider, room_of
from .store import appointments, attendance, guests
from .store.appointments import RECORDED, SPARE, RoomWrite

# A provider room for a visit whose times do not parse lives until this long after its creation.
FALLBACK_ROOM_SECONDS = 48 * 3600

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


def end_meeting(
    db: Any, room: str, deployment: Deployment, now: int, *, appointment_id: str = "", provider_room: str | None = None
) -> bool:
    """End the room's meeting at the provider, once; False where it has no API for it or it was ended.

    A provider without a meeting end that can force connections out (``disconnect``) has the connections
    its callbacks left connected in the visit's provider room disconnected. Raises when the provider call
    fails, so the trigger's event is retried.
    """
    provider = provider_of(deployment.config())
    ends = provider.meeting_end is not None or (provider.disconnect is not None and provider_room is not None)
    if not ends or attendance.meeting_already_ended(db, room):
        return False
    if provider.meeting_end is not None:
        provider.meeting_end.end(room, deployment, now)
    elif provider.disconnect is not None and provider_room is not None:
        connected = attendance.still_connected(db, appointment_id, provider_room)
        provider.disconnect.connections(provider_room, connected, deployment)
    attendance.mark_meeting_ended(db, room, provider.name)
    return True


def room_closes_at(appointment: Doc, config: VideoConfig, now: int) -> int:
    """When a provider room may close: the visit's join window's close (a fallback for unusable times)."""
    window = join_window(appointment, config)
    return window.closes_at if window is not None else now + FALLBACK_ROOM_SECONDS


def create_provider_room(db: Any, appointment_id: str, deployment: Deployment, now: int) -> bool:
    """Complete an assignment: create the stored room at the provider, then record its id (the second write).

    False when the stored visit awaits no provider room (done already, withdrawn, or the provider
    creates none). A room the record refuses (the visit moved on, or another creation won) is spare
    and is deleted again where the provider can. Raises when the provider fails, to be retried.
    """
    stored = appointments.read_appointment(db, appointment_id) or {}
    creation = provider_of(deployment.config()).room_creation
    room = room_awaiting_provider(stored)
    if creation is None or room is None:
        return False
    provider_room = creation.create(room, room_closes_at(stored, deployment.config(), now), deployment, now)
    try:
        outcome = appointments.record_provider_room(db, appointment_id, room, provider_room)
    except Exception:
        discard_unless_recorded(db, appointment_id, provider_room, deployment)
        raise
    if outcome == SPARE and creation.delete is not None:
        creation.delete(provider_room, deployment)
    return outcome == RECORDED


def discard_unless_recorded(db: Any, appointment_id: str, provider_room: str, deployment: Deployment) -> None:
    """After a failed record: delete the new provider room unless the write landed after all (best effort:
    the record's own error is what the event is retried for, so any error here is dropped)."""
    with contextlib.suppress(Exception):
        if provider_room_of(appointments.read_appointment(db, appointment_id)) != provider_room:
            delete_provider_room(provider_room, deployment)


def delete_provider_room(provider_room: str | None, deployment: Deployment) -> bool:
    """Delete a room at the provider where it can (a room it no longer holds counts as deleted)."""
    creation = provider_of(deployment.config()).room_creation
    if provider_room is None or creation is None or creation.delete is None:
        return False
    creation.delete(provider_room, deployment)
    return True


def assigns(before: Doc | None, after: Doc | None) -> bool:
    """An event that gives its visit a room (a first one or a replacement), by the event alone."""
    return decide(before, after, after) in (Action.ASSIGN, Action.REPLACE)


@dataclass(frozen=True)
class LifecycleOutcome:
    """What one event did: the room write, and what it did at the provider (room created, deleted, meeting ended)."""

    write: RoomWrite
    meeting_ended: bool
    room_created: bool = False
    room_deleted: bool = False
    reminders: Scheduled = field(default_factory=Scheduled)
    invitations_ended: int = 0


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
    reminders: ReminderHooks | None = None,
) -> LifecycleOutcome:
    """Keep the stored ``video`` in line with the event, then do the provider's part where it has one.

    Whether rooms are created and meetings ended is read from the raw ``params`` alone: a deployment
    that does neither needs no other setting and no key here, so a broken one cannot fail (and retry
    for days) an event whose withdrawal went well. Only an event that assigns a room creates one at
    the provider (the trigger's own write and irrelevant updates never do), so re-deliveries find it
    recorded. ``on_failure`` hears which step failed before it is raised. Last, with ``reminders``, the
    event's reminders and notices are scheduled (``reminders.on_appointment_written``).
    """
    try:
        write = appointments.apply_room_lifecycle(db, appointment_id, before, after, room_maker(config), written_at)
    except Exception as error:
        on_failure("room lifecycle failed; no room assigned or withdrawn", error)
        raise
    room = ended_room(before, after)
    invitations_ended = 0
    if room is not None:
        try:
            invitations_ended = guests.end_invitations(db, appointment_id, room)
        except Exception as error:
            on_failure("ending the visit's invitations failed", error)
            raise
    created = deleted = False
    if creates_rooms(params):
        try:
            created = assigns(before, after) and create_provider_room(db, appointment_id, deployment, now)
        except Exception as error:
            on_failure("creating the room at the provider failed", error)
            raise
        try:
            deleted = room is not None and delete_provider_room(provider_room_of(before), deployment)
        except Exception as error:
            on_failure("deleting the room at the provider failed", error)
            raise
    ended = False
    if room is not None and ends_meetings(params):
        try:
            ended = end_meeting(
                db, room, deployment, now, appointment_id=appointment_id, provider_room=provider_room_of(before)
            )
        except Exception as error:
            on_failure("ending the meeting failed", error)
            raise
    scheduled = Scheduled()
    if reminders is not None:
        try:
            scheduled = schedule_reminders(appointment_id, before, after, written_at, hooks=reminders, now=now)
        except Exception as error:
            on_failure("scheduling reminders failed", error)
            raise
    return LifecycleOutcome(
        write,
        meeting_ended=ended,
        room_created=created,
        room_deleted=deleted,
        reminders=scheduled,
        invitations_ended=invitations_ended,
    )
