"""LiveKit with ``VIDEO_LIVEKIT_CREATE_ROOMS=true``: CreateRoom at assignment (the doctor, the patient and the
guests allowed, open until the join window closes), DeleteRoom at the meeting's end, joins waiting for the
room; against the RoomService stand-in (tests/standins.py), which verifies each request's token with
livekit-api's own verifier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import HMAC_SECRET, NOW_S, appointment, serial_transactional
from livekit.api import TwirpError
from standins import LiveKitRoomService, serve
from support.configs import params_for, video_config
from support.fakes import FakeDB

from telehealth import lifecycle
from telehealth.access import decide_join
from telehealth.errors import Misconfigured, NotJoinable, ProviderCallFailed
from telehealth.providers import build_settings, livekit
from telehealth.providers.base import Deployment
from telehealth.rooms import Action
from telehealth.store import appointments, attendance
from telehealth.store.appointments import RoomWrite

KEY = "APIrooms"
PATH = "appointments/a1"
LIVEKIT = {"provider": "livekit", "domain": "lk.clinic.test", "app_id": KEY}


def livekit_config(**changes: Any) -> Any:
    return video_config(**{**LIVEKIT, **changes})


@pytest.fixture
def room_service() -> Iterator[str]:
    LiveKitRoomService.reset(KEY, HMAC_SECRET, live=set())
    with serve(LiveKitRoomService) as url:
        yield url


def settings_for(url: str, secret: str = HMAC_SECRET, create_rooms: bool = True, max_guests: int = 1) -> Any:
    config = video_config(
        provider="livekit",
        domain="lk.clinic.test",
        app_id=KEY,
        server_api=url,
        create_rooms=create_rooms,
        max_guests=max_guests,
    )
    return build_settings(config, secret)


def deployment_at(url: str, secret: str = HMAC_SECRET, max_guests: int = 1) -> Deployment:
    settings = settings_for(url, secret, max_guests=max_guests)
    return Deployment(config=lambda: settings.config, settings=lambda: settings, secret=pytest.fail)


@pytest.mark.parametrize(
    ("closes_in", "empty_timeout"),
    [
        pytest.param(3600, 3600, id="open until the join window closes"),
        pytest.param(10, 300, id="at least five minutes"),
        pytest.param(-600, 300, id="even for a window that closed"),
        pytest.param(2**33, 2**32 - 1, id="at most what the field holds"),
    ],
)
def test_create_room_asks_for_the_visits_participants_open_until_the_window_closes(
    room_service: str, closes_in: int, empty_timeout: int
) -> None:
    sid = livekit.create_room("r" * 32, NOW_S + closes_in, deployment_at(room_service), NOW_S)

    [request] = LiveKitRoomService.created
    assert (request.name, request.max_participants) == ("r" * 32, 3)  # the doctor, the patient, one guest
    assert (request.empty_timeout, request.departure_timeout) == (empty_timeout, 20 * 60)
    assert sid == LiveKitRoomService.sids["r" * 32]
    assert sid.startswith("RM_")
    assert LiveKitRoomService.content_types == ["application/protobuf"]


@pytest.mark.parametrize(
    ("max_guests", "participants"),
    [pytest.param(0, 2, id="no guests: two"), pytest.param(1, 3, id="one guest"), pytest.param(3, 5, id="three")],
)
def test_the_participant_limit_counts_the_guests_the_deployment_allows(
    room_service: str, max_guests: int, participants: int
) -> None:
    livekit.create_room("r" * 32, NOW_S + 3600, deployment_at(room_service, max_guests=max_guests), NOW_S)
    assert [request.max_participants for request in LiveKitRoomService.created] == [participants]


def test_creating_the_same_room_twice_is_the_same_room(room_service: str) -> None:
    first = livekit.create_room("r" * 32, NOW_S + 3600, deployment_at(room_service), NOW_S)
    assert livekit.create_room("r" * 32, NOW_S + 3600, deployment_at(room_service), NOW_S) == first


def test_a_refused_create_room_raises(room_service: str) -> None:
    with pytest.raises(TwirpError) as raised:
        livekit.create_room(
            "r" * 32, NOW_S + 3600, deployment_at(room_service, "another-hmac-secret-0123456789ab"), NOW_S
        )
    assert raised.value.code == "unauthenticated"
    assert LiveKitRoomService.created == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"create_rooms": "yes"}, "VIDEO_LIVEKIT_CREATE_ROOMS must be true or false", id="not a bool"),
        pytest.param(
            {"provider": "jitsi", "app_id": "clinic-app", "domain": "meet.clinic.test"},
            "VIDEO_LIVEKIT_CREATE_ROOMS is for provider livekit only",
            id="set on another provider",
        ),
    ],
)
def test_the_create_rooms_param_is_checked(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(Misconfigured) as raised:
        video_config(
            **{"provider": "livekit", "domain": "lk.clinic.test", "app_id": KEY, "create_rooms": True, **changes}
        )
    assert raised.value.problem == problem


def test_livekit_creates_rooms_only_when_asked() -> None:
    assert livekit_config().creates_rooms is False
    assert livekit_config(create_rooms=False).creates_rooms is False
    assert livekit_config(create_rooms=True).creates_rooms is True


def test_a_join_waits_for_the_created_room_and_then_joins_the_named_one() -> None:
    config = livekit_config(create_rooms=True)
    with pytest.raises(NotJoinable) as raised:
        decide_join(appointment(), "guest", NOW_S, config)
    assert raised.value.reason == "room_not_ready"

    stored = appointment()
    stored["video"]["providerRoomId"] = "RM_abc"
    grant = decide_join(stored, "guest", NOW_S, config)
    assert (grant.room_name, grant.provider_room_id) == ("a" * 32, "RM_abc")
    # Without room creation the provider's id is neither needed nor carried.
    plain = decide_join(stored, "guest", NOW_S, livekit_config())
    assert plain.provider_room_id is None


def test_through_the_lifecycle_the_room_is_created_at_assignment_and_deleted_at_the_end(
    room_service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)
    monkeypatch.setattr(attendance, "transactional", serial_transactional)
    db = FakeDB()
    db.put(PATH, appointment(status="pending", video=None))
    deployment = deployment_at(room_service)
    params = params_for(provider="livekit", app_id=KEY, create_rooms=True)

    def event(**fields: Any) -> lifecycle.LifecycleOutcome:
        before = db.docs[PATH]
        db.put(PATH, {**before, **fields})
        return lifecycle.on_appointment_written(
            db,
            "a1",
            before,
            db.docs[PATH],
            db.times[PATH],
            params=params,
            config=deployment.config,
            deployment=deployment,
            now=NOW_S,
            on_failure=pytest.fail,
        )

    assigned = event(status="confirmed")
    room = db.docs[PATH]["video"]["roomName"]
    assert assigned.room_created is True
    assert db.docs[PATH]["video"]["providerRoomId"] == LiveKitRoomService.sids[room]

    cancelled = event(status="cancelled")
    # DeleteRoom is the meeting's end (LiveKit's room creation has no delete of its own).
    assert cancelled == lifecycle.LifecycleOutcome(
        RoomWrite(Action.WITHDRAW, "precondition"), meeting_ended=True, room_created=False, room_deleted=False
    )
    assert LiveKitRoomService.deleted == [room]


def test_a_created_room_without_a_sid_is_a_failure_to_retry(room_service: str) -> None:
    LiveKitRoomService.sids["r" * 32] = ""
    with pytest.raises(ProviderCallFailed) as raised:
        livekit.create_room("r" * 32, NOW_S + 3600, deployment_at(room_service), NOW_S)
    assert (raised.value.status, raised.value.why) == (200, "CreateRoom answered without a room sid")


def test_a_visit_whose_times_do_not_parse_gets_a_room_open_for_the_fallback(
    room_service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)
    db = FakeDB()
    stored = appointment(startTime="soon")
    db.put(PATH, stored)

    assert lifecycle.create_provider_room(db, "a1", deployment_at(room_service), NOW_S) is True

    [request] = LiveKitRoomService.created
    assert request.empty_timeout == 48 * 3600
