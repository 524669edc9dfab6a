"""The provider interface: what every provider module supplies, and the optional capabilities.

A provider is one frozen ``Provider`` value. Its token (claims, headers, expiry), its config checks,
its room URL and response fields are always there; a webhook verifier, a meeting end, room creation,
a token issued by the provider and a recorder are ``None`` where the provider has none, so callers ask "can it?"
and never "which one is it?".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..access import Grant, is_appointment_id
from ..config import ParamSpec, SecretSpec, Settings, VideoConfig
from ..invitations import INVITEE

Kind = Literal["joined", "left"]
# How our tokens name participants: by role, never by person (no uid, no name).
IDENTITIES = {"moderator": "doctor", "guest": "patient"}
ROLE_OF_IDENTITY = {identity: role for role, identity in IDENTITIES.items()}
# An invited guest (interpreter, caregiver) is named by their invitation: ``guest-<guestId>``, unique in
# the room (Twilio and LiveKit drop the older of two connections with one identity) and never a uid.
GUEST_IDENTITY_PREFIX = "guest-"


def guest_identity(guest_id: str) -> str:
    """The identity an invited guest's token carries."""
    return f"{GUEST_IDENTITY_PREFIX}{guest_id}"


@dataclass(frozen=True)
class Attendee:
    """Who a provider's participant identity is to us: a role, and the invitation for an invited guest."""

    role: str | None
    guest_id: str | None = None


def attendee(identity: Any) -> Attendee:
    """The role (and invitation) behind an identity our tokens gave; no role for anyone else (a recorder)."""
    text = identity if isinstance(identity, str) else ""
    role = ROLE_OF_IDENTITY.get(text)
    if role is not None:
        return Attendee(role)
    guest_id = text.removeprefix(GUEST_IDENTITY_PREFIX)
    if text.startswith(GUEST_IDENTITY_PREFIX) and is_appointment_id(guest_id):
        return Attendee(INVITEE, guest_id)
    return Attendee(None)


@dataclass(frozen=True)
class Participant:
    """How the caller appears in the meeting."""

    identity: str
    display_name: str
    email: str | None = None


@dataclass(frozen=True)
class AttendanceEvent:
    """Someone joined or left a room, as a provider reported it.

    Providers whose callbacks name their own room (a Vonage session, an EnableX room) leave ``room`` empty
    and give ``provider_room_id`` (``video.providerRoomId``) instead; ``participant`` is the provider's id
    of the connection where it has one (kept to disconnect it when the meeting ends).
    """

    event_id: str
    room: str
    kind: Kind
    role: str | None  # "moderator" / "guest" / "invitee" for our identities; None for anyone else (a recorder)
    at: dt.datetime
    guest_id: str | None = None  # the invitation of an invited guest ("invitee")
    provider_room_id: str = ""
    participant: str = ""


@dataclass(frozen=True)
class WebhookRequest:
    """A provider's POST to ``video_events/<provider>/<path>``: the bounded body, the headers, when it came."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    now: dt.datetime

    def header(self, name: str) -> str:
        """A header's value (names in any case, as HTTP has them), or empty."""
        wanted = name.lower()
        return next((str(value) for key, value in self.headers.items() if key.lower() == wanted), "")


@dataclass(frozen=True)
class WebhookReply:
    """A verified request that records nothing and must be answered with this JSON body (a URL-validation
    challenge, as Zoom sends when a webhook endpoint is registered and every 72 hours after)."""

    body: Mapping[str, str]


RecordingKind = Literal["ended", "uploaded"]


@dataclass(frozen=True)
class RecordingEvent:
    """A recording finished at the provider, as its webhook reported it.

    ``ended``: a recording the backend started (``provider_recording_id`` is the provider's id for it)
    has ended; ``complete`` says whether its file was written, ``object_path`` where in our bucket the
    provider says it wrote it. ``uploaded``: the provider holds a finished recording of the room at
    ``link``, a pre-authenticated URL that expires (``provider_recording_id`` names that recording).
    """

    event_id: str
    room: str
    kind: RecordingKind
    provider_recording_id: str
    at: dt.datetime
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    complete: bool = True
    object_path: str = ""
    link: str = ""


# What a verifier makes of a verified request: the events it holds, or a reply to send back.
WebhookOutcome = Sequence[AttendanceEvent | RecordingEvent] | WebhookReply


@dataclass(frozen=True)
class Deployment:
    """What a capability may read, each only when it asks: the config, the settings (config and parsed
    signing key), and secrets by param name."""

    config: Callable[[], VideoConfig]
    settings: Callable[[], Settings]
    secret: Callable[[str], str]


@dataclass(frozen=True)
class MeetingEnd:
    """Ending a room's meeting at the provider.

    ``enabled`` decides from the raw param values alone (before anything is validated), so a
    deployment that ends no meetings never needs its other settings after a withdrawal. ``end``
    raises ``ProviderCallFailed`` to be retried; a room the provider does not hold counts as ended.
    """

    end: Callable[[str, Deployment, int], None]
    enabled: Callable[[Mapping[str, Any]], bool] = lambda _values: True


@dataclass(frozen=True)
class Disconnect:
    """Ending a meeting where the provider has no API to end it but can force connections out (Vonage).

    ``connections(provider_room_id, connection_ids, deployment)`` disconnects each connection the provider's
    callbacks reported as still connected; one already gone counts as disconnected; a failure raises to be
    retried (those already out are gone on the retry too).
    """

    connections: Callable[[str, tuple[str, ...], Deployment], None]


@dataclass(frozen=True)
class RoomCreation:
    """Rooms that must exist at the provider before anyone joins.

    ``create(room_name, closes_at, deployment, now)`` makes the room (``closes_at``: when the visit's
    join window closes, epoch seconds) and returns the provider's id for it, stored as
    ``video.providerRoomId``. ``delete(provider_room_id, deployment)`` removes it; ``None`` where the
    provider cannot delete rooms (or its meeting end already does). Both raise to be retried; a room
    the provider no longer holds counts as deleted. ``enabled`` decides from the raw param values.
    """

    create: Callable[[str, int, Deployment, int], str]
    delete: Callable[[str, Deployment], None] | None = None
    enabled: Callable[[Mapping[str, Any]], bool] = lambda _values: True


@dataclass(frozen=True)
class Recorder:
    """Recordings the backend starts and stops through the provider's server API (LiveKit egress).

    ``start(room, bucket, object_path, deployment)`` has the provider record the room's meeting into
    the Cloud Storage bucket at ``object_path`` (to which it may add its file type's extension) and
    returns its id for the recording; the provider reports the end with a ``RecordingEvent``.
    ``stop(provider_recording_id, deployment)`` ends it; one that already ended counts as stopped.
    Both raise ``ProviderCallFailed`` when the provider refuses or fails.
    """

    start: Callable[[str, str, str, Deployment], str]
    stop: Callable[[str, Deployment], None]


def _no_options(_values: Mapping[str, Any], _shared: Mapping[str, Any]) -> None:
    return None


def _no_headers(_config: VideoConfig) -> dict[str, Any]:
    return {}


def _no_extras(_config: VideoConfig, _grant: Grant) -> dict[str, Any]:
    return {}


def _grant_expiry(grant: Grant) -> int:
    return grant.expires_at


def _room_at_domain(config: VideoConfig, room: str) -> str:
    return f"https://{config.domain}/{room}"


@dataclass(frozen=True, kw_only=True)
class Provider:
    """One video provider, as the use cases see it."""

    name: str
    algorithm: Literal["HS256", "RS256"]
    claims: Callable[[Grant, Participant, VideoConfig], dict[str, Any]]
    # Checks the provider's own params (and the shared ones it needs), returns its parsed options.
    configure: Callable[[Mapping[str, Any], Mapping[str, Any]], Any] = _no_options
    params: tuple[ParamSpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    default_domain: str = ""
    # Capture features its token can switch on and off (the rest are config errors for it).
    capture_features: frozenset[str] = field(default_factory=frozenset)
    headers: Callable[[VideoConfig], dict[str, Any]] = _no_headers
    expires_at: Callable[[Grant], int] = _grant_expiry
    room_url: Callable[[VideoConfig, str], str] = _room_at_domain
    # The join answer's own fields (the grant carries the provider's room id where it has one).
    response_extras: Callable[[VideoConfig, Grant], dict[str, Any]] = _no_extras
    webhook: Callable[[WebhookRequest, Deployment], WebhookOutcome] | None = None
    meeting_end: MeetingEnd | None = None
    # Where there is no meeting end: the still-connected connections are forced out instead.
    disconnect: Disconnect | None = None
    room_creation: RoomCreation | None = None
    # Where the provider issues join tokens itself (an API call, not a local signature): asks it for
    # one, and raises ``ProviderUnavailable`` when it cannot. ``claims`` is then the request's body.
    token_request: Callable[[Grant, Participant, Settings], str] | None = None
    # Where the backend starts and stops recordings itself (consent-checked, into our bucket).
    recorder: Recorder | None = None
