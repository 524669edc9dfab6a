"""An invited guest in every provider's token: their invitation's identity (never a uid), the name the doctor
invited them by with its kind, no moderation; and the identities the webhooks report, mapped back to a role."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import NOW_S, jitsi_config
from support.configs import video_config

from telehealth.access import Grant
from telehealth.config import VideoConfig
from telehealth.invitations import Guest
from telehealth.providers import provider_of
from telehealth.providers.base import Attendee, attendee, guest_identity
from telehealth.tokens import guest_participant

ROOM = "abcdefghijklmnopqrstuvwxyz234567"
GUEST_ID = "gst7Hq2Lm9Xc0Vb4Nz1K"  # a Firestore auto-id: 20 characters
UID = "uid-anonymous-guest-0001"
GUEST = Guest(GUEST_ID, "interpreter", "Ana Lima", "redeemed", ROOM, NOW_S + 3600, UID)
GRANT = Grant(
    role="guest",
    room_name=ROOM,
    issued_at=NOW_S,
    not_before=NOW_S - 10,
    expires_at=NOW_S + 3600,
    provider_room_id="RM_provider_room",
)

Read = Callable[[dict[str, Any]], Any]


def vonage_data(claims: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(claims["connection_data"])
    return data


# provider: its config, and where its token keeps the identity, the display name (None: it has none) and the
# role, with the role's non-moderating value.
PROVIDERS: dict[str, tuple[Callable[[], VideoConfig], Read, Read | None, Read, Any]] = {
    "jitsi": (
        jitsi_config,
        lambda c: c["context"]["user"]["id"],
        lambda c: c["context"]["user"]["name"],
        lambda c: c["context"]["user"]["moderator"],
        "false",
    ),
    "jaas": (
        lambda: video_config(provider="jaas", app_id="vpaas-magic-cookie-0123abcd", key_id="key42"),
        lambda c: c["context"]["user"]["id"],
        lambda c: c["context"]["user"]["name"],
        lambda c: c["context"]["user"]["moderator"],
        "false",
    ),
    "livekit": (
        lambda: video_config(provider="livekit", domain="video.clinic.test", app_id="APIclinic"),
        lambda c: c["sub"],
        lambda c: c["name"],
        lambda c: (c["video"]["roomAdmin"], c["video"]["roomRecord"]),
        (False, False),
    ),
    "twilio": (
        lambda: video_config(
            provider="twilio", domain="visit.clinic.test", app_id="SK" + "01" * 16, account_id="AC" + "fe" * 16
        ),
        lambda c: c["grants"]["identity"],
        None,
        lambda c: sorted(c["grants"]),  # an identity and a room grant, nothing else
        ["identity", "video"],
    ),
    "zoom": (
        lambda: video_config(provider="zoom", domain="visit.clinic.test", app_id="zoomSdkKey123"),
        lambda c: c["user_identity"],
        None,
        lambda c: c["role_type"],
        0,
    ),
    "vonage": (
        lambda: video_config(provider="vonage", app_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
        lambda c: vonage_data(c)["identity"],
        lambda c: vonage_data(c)["name"],
        lambda c: c["role"],
        "publisher",
    ),
    "enablex": (
        lambda: video_config(provider="enablex", app_id="enx-app-0001"),
        lambda c: c["user_ref"],
        lambda c: c["name"],
        lambda c: c["role"],
        "participant",
    ),
}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_providers_token_names_a_guest_by_their_invitation_never_by_uid(provider: str) -> None:
    make_config, identity_of, name_of, role_of, not_moderating = PROVIDERS[provider]
    config = make_config()
    claims = provider_of(config).claims(GRANT, guest_participant(GUEST), config)

    assert identity_of(claims) == f"guest-{GUEST_ID}"
    assert len(identity_of(claims)) < 35  # Zoom's user_identity limit, the tightest
    if name_of is not None:
        assert name_of(claims) == "Ana Lima · interpreter"
    assert role_of(claims) == not_moderating
    assert UID not in json.dumps(claims)


def test_every_provider_in_the_registry_is_checked() -> None:
    from telehealth.providers import REGISTRY

    assert set(PROVIDERS) == set(REGISTRY)


@pytest.mark.parametrize(
    ("guest", "name"),
    [
        pytest.param(GUEST, "Ana Lima · interpreter", id="an interpreter"),
        pytest.param(Guest("g1", "caregiver", "Sam", "redeemed", ROOM, 0, None), "Sam · caregiver", id="a caregiver"),
        pytest.param(Guest("g1", "caregiver", "\u200b", "redeemed", ROOM, 0, None), "Caregiver", id="no name left"),
        pytest.param(Guest("g1", "", "Sam", "redeemed", ROOM, 0, None), "Sam · guest", id="no kind stored"),
        pytest.param(
            Guest("g1", "interpreter", "A" * 90, "redeemed", ROOM, 0, None),
            "A" * 66 + " · interpreter",
            id="cut to 80 with its label",
        ),
    ],
)
def test_a_guests_name_carries_its_kind(guest: Guest, name: str) -> None:
    who = guest_participant(guest)
    assert (who.identity, who.display_name, who.email) == (guest_identity(guest.guest_id), name, None)
    assert len(who.display_name) <= 80


@pytest.mark.parametrize(
    ("identity", "seen"),
    [
        pytest.param("doctor", Attendee("moderator"), id="the doctor"),
        pytest.param("patient", Attendee("guest"), id="the patient"),
        pytest.param(f"guest-{GUEST_ID}", Attendee("invitee", GUEST_ID), id="an invited guest"),
        pytest.param("guest-", Attendee(None), id="a prefix without an id"),
        pytest.param("guest-a/b", Attendee(None), id="an id that is no document id"),
        pytest.param("guest-__x__", Attendee(None), id="a reserved id"),
        pytest.param("Guest-abc", Attendee(None), id="another case"),
        pytest.param("recorder", Attendee(None), id="anyone else"),
        pytest.param(7, Attendee(None), id="not text"),
        pytest.param(None, Attendee(None), id="none"),
    ],
)
def test_a_reported_identity_maps_back_to_its_role(identity: Any, seen: Attendee) -> None:
    assert attendee(identity) == seen
