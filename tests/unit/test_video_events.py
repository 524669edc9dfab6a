"""The store's queries as built (a recorder stands in for the client), attendance on mock-firestore, and the
webhook function through real Flask requests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import inspect
import io
import json
import time
from typing import Any, ClassVar

import flask
import pytest
from conftest import HMAC_SECRET, NOW, appointment
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent
from mockfirestore import MockFirestore
from support.fakes import FakeDB

import main
from telehealth.rooms import Action
from telehealth.store import appointments, attendance
from telehealth.store.appointments import RoomWrite

ROOM = "a" * 32  # conftest's appointment() holds this room


def visit(db: FakeDB, doc_id: str, **fields: Any) -> None:
    db.put(f"appointments/{doc_id}", {"status": "confirmed", "type": "video", **fields})


def test_the_sweep_reads_confirmed_video_visits_in_the_window_soonest_first() -> None:
    db = FakeDB()
    start, until = NOW, NOW + dt.timedelta(hours=48)
    visit(db, "later", startTime=NOW + dt.timedelta(hours=30))
    visit(db, "soon", startTime=NOW + dt.timedelta(hours=1))
    visit(db, "at-start", startTime=start)
    visit(db, "at-end", startTime=until)
    visit(db, "past-the-window", startTime=until + dt.timedelta(seconds=1))
    visit(db, "before-the-window", startTime=start - dt.timedelta(seconds=1))
    visit(db, "pending", status="pending", startTime=NOW + dt.timedelta(hours=2))
    visit(db, "in-person", type="in_person", startTime=NOW + dt.timedelta(hours=2))
    visit(db, "no-start")

    found = appointments.confirmed_video_between(db, start, until, 3)
    assert [s.id for s in found] == ["at-start", "soon", "later"]
    assert [s.id for s in appointments.confirmed_video_between(db, start, until, 9)][-1] == "at-end"
    assert db.queries[0] == {  # the shape the (status, type, startTime) index serves
        "collection": "appointments",
        "where": [
            ("status", "==", "confirmed"),
            ("type", "==", "video"),
            ("startTime", ">=", start),
            ("startTime", "<=", until),
        ],
        "order_by": "startTime",
        "limit": 3,
    }


def test_the_sweep_reads_rooms_held_by_pending_cancelled_and_in_person_visits() -> None:
    db = FakeDB()
    room = {"roomName": ROOM}
    visit(db, "cancelled", status="cancelled", video=room)
    visit(db, "pending", status="pending", video=room)
    visit(db, "in-person", type="in_person", video=room)
    visit(db, "kept", video=room)
    visit(db, "completed", status="completed", video=room)  # completed visits keep their room
    visit(db, "cancelled-without-room", status="cancelled")

    assert [s.id for s in appointments.holding_a_room_without_keeping_it(db, 5)] == [
        "cancelled",
        "pending",
        "in-person",
    ]
    assert [s.id for s in appointments.holding_a_room_without_keeping_it(db, 1)] == ["cancelled", "in-person"]
    assert [(q["where"], q["limit"]) for q in db.queries[:2]] == [  # the (status|type, video.roomName) indexes
        ([("status", "in", ["pending", "cancelled"]), ("video.roomName", ">", "")], 5),
        ([("type", "in", ["in_person"]), ("video.roomName", ">", "")], 5),
    ]


def test_a_room_is_looked_up_with_one_equality_query_of_one_document() -> None:
    db = FakeDB()
    visit(db, "other", video={"roomName": "b" * 32})
    visit(db, "visit-1", video={"roomName": ROOM})
    assert attendance.appointment_with_room(db, ROOM) == "visit-1"
    assert db.queries == [
        {"collection": "appointments", "where": [("video.roomName", "==", ROOM)], "order_by": "", "limit": 1}
    ]
    assert attendance.appointment_with_room(db, "c" * 32) is None


@pytest.fixture
def db() -> MockFirestore:
    fake = MockFirestore()
    fake.collection("appointments").document("a1").set(appointment())
    return fake


def test_a_meeting_is_marked_ended_once(db: MockFirestore) -> None:
    assert attendance.meeting_already_ended(db, ROOM) is False
    attendance.mark_meeting_ended(db, ROOM, "livekit")
    assert attendance.meeting_already_ended(db, ROOM) is True
    assert db.collection("videoMeetingsEnded").document(ROOM).get().to_dict()["provider"] == "livekit"


SECRET = "unit-webhook-secret-value-0123456789"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, db: MockFirestore) -> list[tuple[Any, ...]]:
    """The function wired to settings and a stand-in store; returns the attendance calls it makes.

    record_attendance itself runs a real transaction: tests/emulator/test_attendance.py covers it.
    """
    for name, value in {"VIDEO_PROVIDER": "jitsi", "VIDEO_DOMAIN": "meet.clinic.test", "VIDEO_APP_ID": "app"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VIDEO_SIGNING_KEY", HMAC_SECRET)
    monkeypatch.setenv("VIDEO_WEBHOOK_SECRET", SECRET)
    monkeypatch.setitem(main._clients, "db", db)
    monkeypatch.setattr(attendance, "appointment_with_room", lambda _db, room: "a1" if room == ROOM else None)
    recorded: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        attendance, "record_attendance", lambda _db, *args, **where: recorded.append((*args, where["guest_id"])) or True
    )
    return recorded


def post(path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> int:
    with flask.Flask("test").test_request_context(path, method=method, data=body, headers=headers):
        status: int = main.video_events(flask.request).status_code
    return status


def occupant_joined(room: str = ROOM, at: int | None = None, identity: str = "patient") -> bytes:
    occupant = {"id": identity, "name": "P", "occupant_jid": f"{room}@c/p", "joined_at": at or int(time.time())}
    return json.dumps({"event_name": "muc-occupant-joined", "room_name": room, "occupant": occupant}).encode()


def test_the_webhook_function_records_a_verified_event_sync_post(served: list[tuple[Any, ...]]) -> None:
    at = int(time.time())
    assert post("/jitsi/events/occupant/joined", occupant_joined(at=at), {"Authorization": f"Bearer {SECRET}"}) == 200
    [(appointment_id, room, event_id, kind, role, when, guest_id)] = served
    assert guest_id is None  # our patient or doctor, not an invited guest
    assert (appointment_id, room, kind, role, when) == (
        "a1",
        ROOM,
        "joined",
        "guest",
        dt.datetime.fromtimestamp(at, dt.UTC),
    )
    assert len(event_id) == 40


def test_an_invited_guests_event_sync_post_is_recorded_as_theirs(served: list[tuple[Any, ...]]) -> None:
    body = occupant_joined(identity="guest-g1")
    assert post("/jitsi/events/occupant/joined", body, {"Authorization": f"Bearer {SECRET}"}) == 200
    [(_appointment, _room, _event, kind, role, _at, guest_id)] = served
    assert (kind, role, guest_id) == ("joined", "invitee", "g1")


def test_an_event_for_a_room_no_visit_holds_records_nothing(served: list[tuple[Any, ...]]) -> None:
    assert (
        post("/jitsi/events/occupant/joined", occupant_joined("z" * 32), {"Authorization": f"Bearer {SECRET}"}) == 200
    )
    assert served == []


@pytest.mark.parametrize(
    ("path", "body", "headers", "method", "status"),
    [
        pytest.param(
            "/jitsi/events/occupant/joined",
            occupant_joined(),
            {"Authorization": "Bearer no"},
            "POST",
            401,
            id="bad secret",
        ),
        pytest.param("/jitsi/events/occupant/joined", occupant_joined(), {}, "GET", 405, id="GET"),
        pytest.param(
            "/jitsi/events/occupant/joined",
            b"x" * 70_000,
            {"Authorization": f"Bearer {SECRET}"},
            "POST",
            400,
            id="huge",
        ),
        pytest.param("/livekit", b"{}", {"Authorization": "x"}, "POST", 404, id="another provider's path"),
        pytest.param("/jaas", b"{}", {"X-Jaas-Signature": "t=1,v1=x"}, "POST", 404, id="jaas on a jitsi deployment"),
        pytest.param("/", b"{}", {}, "POST", 404, id="no provider in the path"),
    ],
)
def test_the_webhook_function_refuses_and_writes_nothing(
    served: list[tuple[Any, ...]], path: str, body: bytes, headers: dict[str, str], method: str, status: int
) -> None:
    assert post(path, body, headers, method) == status
    assert served == []


def test_the_webhook_function_answers_500_without_detail_when_settings_are_unusable(
    served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_DOMAIN", "")
    assert post("/jitsi/events/occupant/joined", occupant_joined(), {"Authorization": f"Bearer {SECRET}"}) == 500
    logs = capsys.readouterr()
    assert "VIDEO_DOMAIN" in logs.out + logs.err
    assert SECRET not in logs.out + logs.err


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def test_a_chunked_oversized_body_is_refused_without_reading_it_all(served: list[tuple[Any, ...]]) -> None:
    body = CountingStream(b"x" * 200_000)
    headers = {"Authorization": f"Bearer {SECRET}", "Transfer-Encoding": "chunked"}
    with flask.Flask("test").test_request_context(
        "/jitsi/events/occupant/joined",
        method="POST",
        input_stream=body,
        headers=headers,
        environ_base={"wsgi.input_terminated": True},  # as gunicorn marks a chunked body
    ):
        assert main.video_events(flask.request).status_code == 400
    assert body.consumed <= 64 * 1024 + 1
    assert served == []


def test_a_cancellation_on_a_jitsi_deployment_with_a_broken_key_still_succeeds(
    served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only providers that can end a meeting need the key after a withdrawal (jitsi cannot)."""
    monkeypatch.setenv("VIDEO_SIGNING_KEY", "short")
    monkeypatch.setattr(appointments, "apply_room_lifecycle", lambda *_a: RoomWrite(Action.WITHDRAW, "event"))

    class Snapshot:
        def __init__(self, data: dict[str, Any]) -> None:
            self._data, self.update_time = data, None

        def to_dict(self) -> dict[str, Any]:
            return self._data

    class Event:
        params: ClassVar[dict[str, str]] = {"appointmentId": "a1"}

        class data:
            before = Snapshot(appointment())
            after = Snapshot(appointment(status="cancelled"))

    inspect.unwrap(main.assign_video_room)(Event())  # raises if it asked for the broken key


# The webhook function for each provider, and what it logs when it refuses ------------------------------


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    logs = capsys.readouterr()
    return [json.loads(line) for line in (logs.out + logs.err).splitlines() if line.startswith("{")]


LIVEKIT_KEY = "APIunitwebhooks"
JAAS_APP = "vpaas-magic-cookie-0123456789abcdef"


def livekit_post(secret: str = HMAC_SECRET, prefix: str = "", identity: str = "doctor") -> tuple[bytes, dict[str, str]]:
    message = WebhookEvent(
        event="participant_joined",
        id="EV_unit",
        created_at=int(time.time()),
        room=Room(name=ROOM),
        participant=ParticipantInfo(identity=identity),
    )
    body = MessageToJson(message).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = AccessToken(LIVEKIT_KEY, secret).with_sha256(digest).to_jwt()
    return body, {"Authorization": prefix + token}


def test_a_livekit_deployment_records_a_signed_webhook(
    served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_PROVIDER", "livekit")
    monkeypatch.setenv("VIDEO_APP_ID", LIVEKIT_KEY)
    body, headers = livekit_post()
    assert post("/livekit", body, headers) == 200
    [(appointment_id, room, event_id, kind, role, _at, guest_id)] = served
    assert guest_id is None  # our patient or doctor, not an invited guest
    assert (appointment_id, room, event_id, kind, role) == ("a1", ROOM, "EV_unit", "joined", "moderator")
    assert post("/livekit", *livekit_post(secret="another-hmac-secret-0123456789abcdef")) == 401
    assert len(served) == 1


def test_a_livekit_webhook_of_an_invited_guest_is_recorded_as_theirs(
    served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_PROVIDER", "livekit")
    monkeypatch.setenv("VIDEO_APP_ID", LIVEKIT_KEY)
    assert post("/livekit", *livekit_post(identity="guest-g2")) == 200
    [(_appointment, _room, _event, kind, role, _at, guest_id)] = served
    assert (kind, role, guest_id) == ("joined", "invitee", "g2")


@pytest.mark.parametrize(("identity", "role", "guest"), [("patient", "guest", None), ("guest-g3", "invitee", "g3")])
def test_a_jaas_deployment_records_a_signed_webhook(
    served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch, identity: str, role: str, guest: str | None
) -> None:
    monkeypatch.setenv("VIDEO_PROVIDER", "jaas")
    monkeypatch.setenv("VIDEO_DOMAIN", "")
    monkeypatch.setenv("VIDEO_APP_ID", JAAS_APP)
    monkeypatch.setenv("VIDEO_KEY_ID", "unitkey")
    payload = {
        "idempotencyKey": "idem-1",
        "eventType": "PARTICIPANT_LEFT",
        "timestamp": int(time.time() * 1000),
        "fqn": f"{JAAS_APP}/{ROOM}",
        "data": {"id": identity},
    }
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest())
    assert post("/jaas", body, {"X-Jaas-Signature": f"t={stamp},v1={signature.decode()}"}) == 200
    [(appointment_id, room, event_id, kind, seen, _at, guest_id)] = served
    assert (appointment_id, room, event_id, kind, seen, guest_id) == ("a1", ROOM, "idem-1", "left", role, guest)
    assert post("/jaas", body, {}) == 401  # unsigned
    assert len(served) == 1


@pytest.mark.parametrize(
    ("path", "body", "headers", "method", "status", "why"),
    [
        pytest.param("/jitsi/events/occupant/joined", b"{}", {}, "GET", 405, "POST only", id="GET"),
        pytest.param(
            "/jitsi/events/occupant/joined",
            b" " * 70_000,
            {"Authorization": f"Bearer {SECRET}"},
            "POST",
            400,
            "body too large",
            id="announced too large",
        ),
        pytest.param("/livekit", b"{}", {}, "POST", 404, "no such webhook for this deployment's provider", id="404"),
        pytest.param(
            "/jitsi/events/occupant/joined",
            occupant_joined(),
            {},
            "POST",
            401,
            "event-sync secret does not match",
            id="no Authorization at all",
        ),
    ],
)
def test_each_webhook_refusal_is_logged_with_its_reason_and_nothing_of_the_request(
    served: list[tuple[Any, ...]],
    capsys: pytest.CaptureFixture[str],
    path: str,
    body: bytes,
    headers: dict[str, str],
    method: str,
    status: int,
    why: str,
) -> None:
    assert post(path, body, headers, method) == status
    assert log_lines(capsys) == [{"severity": "WARNING", "message": "webhook rejected", "status": status, "why": why}]
    assert served == []


def test_a_livekit_post_without_authorization_is_logged_as_unsigned(
    served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_PROVIDER", "livekit")
    monkeypatch.setenv("VIDEO_APP_ID", LIVEKIT_KEY)
    assert post("/livekit", livekit_post()[0], {}) == 401
    assert [line["why"] for line in log_lines(capsys)] == ["no Authorization header"]


def test_a_chunked_body_one_byte_over_the_limit_is_refused_and_one_at_it_is_read(
    served: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    event = occupant_joined()
    at_limit = b" " * (64 * 1024 - len(event)) + event  # its last byte is the closing brace: all of it is read
    for body, status in ((at_limit, 200), (at_limit + b" ", 400)):
        with flask.Flask("test").test_request_context(
            "/jitsi/events/occupant/joined",
            method="POST",
            input_stream=io.BytesIO(body),
            headers={"Authorization": f"Bearer {SECRET}", "Transfer-Encoding": "chunked"},
            environ_base={"wsgi.input_terminated": True},
        ):
            assert main.video_events(flask.request).status_code == status
    assert len(served) == 1
    assert [line.get("why") for line in log_lines(capsys)] == [None, "body too large"]


def test_an_announced_body_at_the_limit_is_read(served: list[tuple[Any, ...]]) -> None:
    event = occupant_joined()
    body = b" " * (64 * 1024 - len(event)) + event
    assert post("/jitsi/events/occupant/joined", body, {"Authorization": f"Bearer {SECRET}"}) == 200
    assert len(served) == 1


def test_a_path_that_only_resembles_an_event_path_records_nothing(served: list[tuple[Any, ...]]) -> None:
    assert post("/jitsi/events/occupant/joinedX", occupant_joined(), {"Authorization": f"Bearer {SECRET}"}) == 200
    assert served == []
