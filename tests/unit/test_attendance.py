"""The attendance use case on an in-memory Firestore: route to the deployed provider's verifier, then store each
verified event of a room of ours once and count what was new."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from conftest import NOW, appointment
from mockfirestore import MockFirestore
from support.configs import jitsi_config

from telehealth import attendance
from telehealth.config import Settings, SigningKey
from telehealth.errors import WebhookRejected
from telehealth.providers.base import Deployment
from telehealth.store import attendance as attendance_store

SECRET = "attendance-webhook-secret-0123456789"
ROOM = "a" * 32  # conftest's appointment() holds this room
NOW_TS = int(NOW.timestamp())


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> MockFirestore:
    monkeypatch.setattr(attendance_store, "transactional", lambda function: function)

    def holding(database: Any, room: str) -> str | None:
        # mock-firestore has no FieldFilter queries; the query itself is tested in test_video_events.
        assert database is fake
        found = [
            doc.id for doc in database.collection("appointments").stream() if doc.to_dict()["video"]["roomName"] == room
        ]
        return found[0] if found else None

    monkeypatch.setattr(attendance_store, "appointment_with_room", holding)
    fake = MockFirestore()
    fake.transaction = Direct  # type: ignore[method-assign]
    fake.collection("appointments").document("visit-1").set(appointment())
    return fake


class Direct:
    """A transaction that reads and writes at once (mock-firestore has none; serial, so it makes no difference)."""

    def get(self, ref: Any) -> Any:
        return iter([ref.get()])

    def create(self, ref: Any, data: dict[str, Any]) -> None:
        ref.create(data)

    def update(self, ref: Any, data: dict[str, Any]) -> None:
        ref.update(data)


def deployment() -> Deployment:
    config = jitsi_config()
    return Deployment(
        config=lambda: config,
        settings=lambda: Settings(config, SigningKey("HS256", b"")),
        secret=lambda name: {"VIDEO_WEBHOOK_SECRET": SECRET}[name],
    )


def occupant(event: str, room: str, jid: str, at: int = NOW_TS) -> bytes:
    stamp = "joined_at" if event == "joined" else "left_at"
    return json.dumps({"room_name": room, "occupant": {"id": "patient", "occupant_jid": jid, stamp: at}}).encode()


def post(body: bytes, path: str = "/jitsi/events/occupant/joined", method: str = "POST") -> attendance.WebhookPost:
    stream = io.BytesIO(body)
    headers = {"Authorization": f"Bearer {SECRET}"}
    return attendance.WebhookPost(method, path, headers, len(body), stream.read)


def attendance_of(db: MockFirestore) -> dict[str, Any]:
    return {doc.id: doc.to_dict() for doc in db.collection("appointments/visit-1/attendance").stream()}


def test_a_verified_join_of_our_room_is_stored_once_and_counted(db: MockFirestore) -> None:
    body = occupant("joined", ROOM, "pat@x/1")

    first = attendance.receive(db, post(body), deployment(), NOW)
    again = attendance.receive(db, post(body), deployment(), NOW)

    assert (first.events, first.recorded, first.reply) == (1, 1, None)
    assert (again.events, again.recorded) == (1, 0)  # the provider delivered it twice
    [stored] = attendance_of(db).values()
    assert stored == {"role": "guest", "event": "joined", "at": NOW}
    video = db.collection("appointments").document("visit-1").get().to_dict()["video"]
    assert video["attendance"] == {"patientJoinedAt": NOW}


def test_each_new_event_counts_once_and_a_room_nobody_holds_counts_nothing(db: MockFirestore) -> None:
    joined = attendance.receive(db, post(occupant("joined", ROOM, "pat@x/1")), deployment(), NOW)
    other = attendance.receive(db, post(occupant("joined", "z" * 32, "pat@x/2")), deployment(), NOW)
    later = NOW + dt.timedelta(seconds=30)
    left = attendance.receive(
        db, post(occupant("left", ROOM, "pat@x/1", NOW_TS + 30), "/jitsi/events/occupant/left"), deployment(), later
    )
    assert [(r.events, r.recorded) for r in (joined, other, left)] == [(1, 1), (1, 0), (1, 1)]
    assert sorted(doc["event"] for doc in attendance_of(db).values()) == ["joined", "left"]


@pytest.mark.parametrize(
    ("request_", "status", "why"),
    [
        pytest.param(post(b"{}", method="GET"), 405, "POST only", id="not a POST"),
        pytest.param(post(b"{}", path="/livekit"), 404, "no such webhook for this deployment's provider", id="other"),
        pytest.param(post(b"{}", path="/"), 404, "no such webhook for this deployment's provider", id="no provider"),
    ],
)
def test_requests_for_no_webhook_of_ours_are_refused_before_anything_is_read(
    db: MockFirestore, request_: attendance.WebhookPost, status: int, why: str
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        attendance.receive(db, request_, deployment(), NOW)
    assert (caught.value.status, caught.value.why) == (status, why)
    assert attendance_of(db) == {}


def test_a_verifier_that_answers_with_a_reply_records_nothing_and_counts_nothing(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from telehealth.providers import REGISTRY
    from telehealth.providers.base import WebhookReply

    jitsi = REGISTRY["jitsi"]
    monkeypatch.setitem(REGISTRY, "jitsi", replace(jitsi, webhook=lambda _r, _d: WebhookReply({"plainToken": "p"})))
    received = attendance.receive(db, post(occupant("joined", ROOM, "pat@x/1")), deployment(), NOW)
    assert (received.events, received.recorded, received.reply) == (0, 0, {"plainToken": "p"})
    assert attendance_of(db) == {}
