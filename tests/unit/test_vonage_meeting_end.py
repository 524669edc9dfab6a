"""Ending a Vonage meeting: the connections its callbacks left connected are forced out (the package's
``disconnect_client`` against the HTTPS stand-in), once per room; and the store's side: connections by
provider room, appointments by provider room, callbacks recorded under the room they name."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, NOW_S, serial_transactional
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mockfirestore import MockFirestore
from standins import VonageVideo, loopback_certificate, serve
from support import samples
from support.configs import video_config
from support.fakes import FakeDB

from telehealth import attendance as attendance_use_case
from telehealth import lifecycle
from telehealth.errors import ProviderCallFailed
from telehealth.providers import build_settings, ends_meetings, vonage
from telehealth.providers.base import AttendanceEvent, Deployment, Disconnect
from telehealth.store import attendance

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SESSION = samples.VONAGE_SESSION
ROOM = "v" * 32


def pem() -> str:
    text: bytes = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return text.decode()


@pytest.fixture
def video_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """The HTTPS stand-in holding the session's connections; yields a deployment pointed at it."""
    certificate = loopback_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    public = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    VonageVideo.reset(samples.VONAGE_APPLICATION, public)
    VonageVideo.connected[SESSION] = {"c-doctor", "c-patient"}
    with serve(VonageVideo, tls=certificate) as url:
        config = video_config(provider="vonage", app_id=samples.VONAGE_APPLICATION, server_api=url)
        settings = build_settings(config, pem())
        yield Deployment(config=lambda: config, settings=lambda: settings, secret=pytest.fail)


def test_each_connection_left_connected_is_forced_out_and_one_already_gone_counts(video_api: Deployment) -> None:
    vonage.disconnect(SESSION, ("c-doctor", "c-gone", "c-patient"), video_api)

    assert VonageVideo.disconnected == ["c-doctor", "c-patient"]
    assert VonageVideo.statuses == [204, 404, 204]
    [claims, *_] = VonageVideo.jwt_claims
    assert claims["application_id"] == samples.VONAGE_APPLICATION  # the application JWT, as for the session


@pytest.mark.parametrize("status", [500, 429, 403])
def test_a_refused_disconnect_raises_for_a_retry(video_api: Deployment, status: int) -> None:
    VonageVideo.fail_disconnect_with = status
    with pytest.raises(ProviderCallFailed) as raised:
        vonage.disconnect(SESSION, ("c-doctor",), video_api)
    assert (raised.value.status, raised.value.why) == (status, "Vonage refused to disconnect")


@pytest.mark.parametrize(
    ("session", "connections"),
    [
        pytest.param(SESSION, (), id="nobody connected"),
        pytest.param("../other", ("c-doctor",), id="a session id that is not plain"),
        pytest.param(SESSION, ("a/b",), id="a connection id that is not plain"),
    ],
)
def test_nothing_is_asked_of_vonage_for_nothing_of_ours(
    video_api: Deployment, session: str, connections: tuple[str, ...]
) -> None:
    vonage.disconnect(session, connections, video_api)
    assert VonageVideo.statuses == []


def vonage_values() -> dict[str, Any]:
    return {"VIDEO_PROVIDER": "vonage", "VIDEO_APP_ID": samples.VONAGE_APPLICATION}


def test_vonage_deployments_end_meetings_and_its_disconnect_is_its_meeting_end() -> None:
    assert ends_meetings(vonage_values()) is True
    assert vonage.PROVIDER.meeting_end is None
    assert vonage.PROVIDER.disconnect is not None
    assert vonage.PROVIDER.disconnect.connections is vonage.disconnect


def deployment() -> Deployment:
    config = video_config(provider="vonage", app_id=samples.VONAGE_APPLICATION)
    return Deployment(config=lambda: config, settings=pytest.fail, secret=pytest.fail)


def test_a_withdrawn_vonage_meeting_disconnects_the_connections_still_in_its_session_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = MockFirestore()
    asked: list[tuple[Any, ...]] = []
    monkeypatch.setattr(attendance, "still_connected", lambda _db, *where: asked.append(where) or ("c1", "c2"))
    forced: list[tuple[str, tuple[str, ...]]] = []
    recording = Disconnect(connections=lambda session, ids, _d: forced.append((session, ids)))
    provider = dataclasses.replace(vonage.PROVIDER, disconnect=recording)
    monkeypatch.setattr(lifecycle, "provider_of", lambda _config: provider)

    first = lifecycle.end_meeting(db, ROOM, deployment(), NOW_S, appointment_id="a1", provider_room=SESSION)
    again = lifecycle.end_meeting(db, ROOM, deployment(), NOW_S, appointment_id="a1", provider_room=SESSION)

    assert (first, again) == (True, False)  # the second delivery finds the room's meeting ended
    assert asked == [("a1", SESSION)]
    assert forced == [(SESSION, ("c1", "c2"))]
    assert db.collection("videoMeetingsEnded").document(ROOM).get().to_dict()["provider"] == "vonage"


def test_a_vonage_room_without_a_session_has_no_meeting_to_end() -> None:
    db = MockFirestore()
    assert lifecycle.end_meeting(db, ROOM, deployment(), NOW_S, appointment_id="a1", provider_room=None) is False
    assert not db.collection("videoMeetingsEnded").document(ROOM).get().exists


# The store --------------------------------------------------------------------------------------------------


def test_the_connections_still_in_a_session_are_those_joined_and_not_left() -> None:
    db = FakeDB()
    events = [
        {"event": "joined", "participant": "c-doctor"},
        {"event": "joined", "participant": "c-patient"},
        {"event": "left", "participant": "c-patient"},
        {"event": "joined", "participant": "c-again"},
        {"event": "left", "participant": "c-left-first"},  # its join not delivered (yet)
        {"event": "joined"},  # a provider event without a connection
        {"event": "joined", "participant": ""},
        {"event": "joined", "participant": 7},
    ]
    for n, event in enumerate(events):
        db.put(f"appointments/a1/attendance/e{n}", {**event, "providerRoomId": SESSION})
    db.put("appointments/a1/attendance/other", {"event": "joined", "participant": "c-x", "providerRoomId": "other"})
    db.put("appointments/a2/attendance/e0", {"event": "joined", "participant": "c-y", "providerRoomId": SESSION})

    assert attendance.still_connected(db, "a1", SESSION) == ("c-again", "c-doctor")
    assert db.queries == [
        {
            "collection": "appointments/a1/attendance",
            "where": [("providerRoomId", "==", SESSION)],
            "order_by": "",
            "limit": attendance.MAX_CONNECTIONS,
        }
    ]


@pytest.mark.parametrize(
    ("video", "holder"),
    [
        pytest.param({"roomName": ROOM, "providerRoomId": SESSION}, ("visit-1", ROOM), id="the visit and its room"),
        pytest.param({"roomName": ROOM, "providerRoomId": "another"}, None, id="nobody holds it"),
        pytest.param({"roomName": "", "providerRoomId": SESSION}, None, id="a visit without a room name"),
    ],
)
def test_a_provider_room_is_looked_up_with_one_equality_query_of_one_document(video: Any, holder: Any) -> None:
    db = FakeDB()
    db.put("appointments/visit-1", {"video": video})
    assert attendance.appointment_with_provider_room(db, SESSION) == holder
    assert db.queries == [
        {"collection": "appointments", "where": [("video.providerRoomId", "==", SESSION)], "order_by": "", "limit": 1}
    ]


def test_a_callback_naming_a_provider_room_is_recorded_under_its_visit_with_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = AttendanceEvent("e1", "", "joined", "guest", NOW, provider_room_id=SESSION, participant="c-patient")
    other = AttendanceEvent("e2", "", "joined", "guest", NOW, provider_room_id="another-session", participant="c9")
    provider = dataclasses.replace(vonage.PROVIDER, webhook=lambda _request, _deployment: [event, other])
    monkeypatch.setattr(attendance_use_case, "provider_of", lambda _config: provider)
    monkeypatch.setattr(
        attendance, "appointment_with_provider_room", lambda _db, room: ("a1", ROOM) if room == SESSION else None
    )
    monkeypatch.setattr(attendance, "appointment_with_room", pytest.fail)  # never looked up by our room name
    recorded: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        attendance, "record_attendance", lambda _db, *args, **where: recorded.append((*args, where)) or True
    )
    post = attendance_use_case.WebhookPost("POST", "/vonage", {}, 2, lambda _n: b"{}")

    received = attendance_use_case.receive(MockFirestore(), post, deployment(), NOW)

    assert (received.events, received.recorded) == (2, 1)  # the other session is no visit's
    where = {"participant": "c-patient", "provider_room_id": SESSION, "guest_id": None}
    assert recorded == [("a1", ROOM, "e1", "joined", "guest", NOW, where)]


def test_a_connection_is_stored_with_its_provider_room_and_other_events_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attendance, "transactional", serial_transactional)
    db = FakeDB()
    db.put("appointments/a1", {"video": {"roomName": ROOM}})
    at = NOW - dt.timedelta(minutes=1)

    assert attendance.record_attendance(
        db, "a1", ROOM, "e1", "joined", "guest", at, participant="c-patient", provider_room_id=SESSION
    )
    assert attendance.record_attendance(db, "a1", ROOM, "e2", "joined", "moderator", at)

    assert db.docs["appointments/a1/attendance/e1"] == {
        "role": "guest",
        "event": "joined",
        "at": at,
        "participant": "c-patient",
        "providerRoomId": SESSION,
    }
    assert db.docs["appointments/a1/attendance/e2"] == {"role": "moderator", "event": "joined", "at": at}
