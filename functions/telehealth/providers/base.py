"""The provider interface: what every provider module supplies, and the optional capabilities.

A provider is one frozen ``Provider`` value. Its token (claims, headers, expiry), its config checks,
its room URL and response fields are always there; a webhook verifier, a meeting end, room creation
and a token issued by the provider are ``None`` where the provider has none, so callers ask "can it?"
and never "which one is it?".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..access import Grant
from ..config import ParamSpec, SecretSpec, Settings, VideoConfig

Kind = Literal["joined", "left"]
# How our tokens name participants: by role, never by person (no uid, no name).
IDENTITIES = {"moderator": "doctor", "guest": "patient"}
ROLE_OF_IDENTITY = {identity: role for role, identity in IDENTITIES.items()}


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
    role: str | None  # "moderator" / "guest" for our identities; None for anyone else (a recorder, a bot)
    at: dt.datetime
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


# What a verifier makes of a verified request: the attendance events it holds, or a reply to send back.
WebhookOutcome = list[AttendanceEvent] | WebhookReply


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
