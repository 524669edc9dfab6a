"""Attendance from provider webhooks: bound the body, route to the deployed provider's verifier, record.

``video_events/<provider>/...`` reaches the verifier of the deployed provider when its name is
``<provider>`` and it has one; anything else is 404. Each verified event for a room of ours is
stored once (by its event id) and folded into the order-independent summary. A verified request
the provider wants answered (a URL-validation challenge) records nothing and carries the verifier's
reply back. A recording's event (finished, uploaded) goes to ``recording_files``. Free of the functions SDK.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import recording_files
from .bucket import Objects, open_bucket
from .errors import WebhookRejected
from .providers import provider_of
from .providers.base import AttendanceEvent, Deployment, RecordingEvent, WebhookReply, WebhookRequest
from .store import attendance

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class WebhookPost:
    """The parts of an HTTP request a webhook reads; ``read(n)`` reads at most n bytes of the body."""

    method: str
    path: str
    headers: Mapping[str, str]
    content_length: int | None
    read: Callable[[int], bytes]


@dataclass(frozen=True)
class Received:
    """What one webhook request held, how many of its events were new for a room of ours, and the JSON
    body to answer with where the provider asked for one."""

    events: int
    recorded: int
    reply: Mapping[str, str] | None = None


def bounded_body(post: WebhookPost) -> bytes:
    """The body, refused (400) past 64 KiB, reading at most one byte more even when no length was sent."""
    if (post.content_length or 0) > MAX_BODY_BYTES:
        raise WebhookRejected(400, "body too large")
    body = post.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(400, "body too large")
    return body


def receive(
    db: Any,
    post: WebhookPost,
    deployment: Deployment,
    now: dt.datetime,
    objects: Callable[[str], Objects] = open_bucket,
) -> Received:
    """Verify one webhook request with the deployed provider's verifier and record its events."""
    if post.method != "POST":
        raise WebhookRejected(405, "POST only")
    body = bounded_body(post)
    source, _, rest = post.path.strip("/").partition("/")
    provider = provider_of(deployment.config())
    if source != provider.name or provider.webhook is None:
        raise WebhookRejected(404, "no such webhook for this deployment's provider")
    events = provider.webhook(WebhookRequest(rest, post.headers, body, now), deployment)
    if isinstance(events, WebhookReply):
        return Received(events=0, recorded=0, reply=events.body)
    recorded = 0
    for event in events:
        if isinstance(event, RecordingEvent):
            recorded += recording_files.on_recording_event(db, event, deployment.config(), objects, now)
            continue
        found = holder(db, event)
        if found is not None and attendance.record_attendance(
            db,
            found[0],
            found[1],
            event.event_id,
            event.kind,
            event.role,
            event.at,
            participant=event.participant,
            provider_room_id=event.provider_room_id,
            guest_id=event.guest_id,
        ):
            recorded += 1
    return Received(events=len(events), recorded=recorded)


def holder(db: Any, event: AttendanceEvent) -> tuple[str, str] | None:
    """The appointment holding the event's room now and that room's name: found by the provider's room id
    where the provider names its own rooms, else by our room name."""
    if event.provider_room_id:
        return attendance.appointment_with_provider_room(db, event.provider_room_id)
    appointment_id = attendance.appointment_with_room(db, event.room)
    return None if appointment_id is None else (appointment_id, event.room)
