"""Jitsi event-sync webhooks through the emulators (this suite deploys jitsi): verified, de-duplicated,
converging whatever the order, readable by the two participants only. LiveKit and JaaS: tests/matrix."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import emulator_api as emu
import pytest
from conftest import all_documents
from google.cloud import firestore

ROOM = "e" * 32


def room(db: firestore.Client, people: dict[str, emu.User]) -> firestore.DocumentReference:
    ref = db.collection("appointments").document("visit")
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, video={"roomName": ROOM}))
    return ref


def post(kind: str, user: str, at: int, secret: str | None = None, room_name: str = ROOM, **extra: Any) -> int:
    occupant = {"name": user, "id": user, "occupant_jid": f"{room_name}@conference.meet/{user}", "email": ""}
    occupant["joined_at" if kind == "joined" else "left_at"] = at
    body = json.dumps({"event_name": f"muc-occupant-{kind}", "room_name": room_name, "occupant": occupant} | extra)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {secret or emu.local_secret('VIDEO_WEBHOOK_SECRET')}",
    }
    return emu.post_webhook(f"jitsi/events/occupant/{kind}", body.encode(), headers)


def attendance(ref: firestore.DocumentReference) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events = sorted(
        (snap.to_dict() for snap in ref.collection("attendance").stream()), key=lambda e: (e["at"], e["event"])
    )
    return events, (ref.get().to_dict()["video"].get("attendance") or {})


def test_joins_and_leaves_are_recorded_once_and_summarised(db: firestore.Client, people: dict[str, emu.User]) -> None:
    ref = room(db, people)
    fields_before = {k: v for k, v in ref.get().to_dict().items() if k != "video"}
    now = int(time.time())
    for _ in range(2):  # every event delivered twice
        assert post("left", "patient", now + 3) == 200  # out of order: the leave before the joins
        assert post("joined", "patient", now - 60) == 200
        assert post("joined", "doctor", now - 90) == 200
        assert post("joined", "jibri", now - 30) == 200  # a recorder: stored without a role, no summary field

    events, summary = attendance(ref)
    assert [(e["event"], e["role"]) for e in events] == [
        ("joined", "moderator"),
        ("joined", "guest"),
        ("joined", None),
        ("left", "guest"),
    ]
    to_time = lambda seconds: dt.datetime.fromtimestamp(seconds, dt.UTC)  # noqa: E731
    assert summary == {
        "doctorJoinedAt": to_time(now - 90),
        "patientJoinedAt": to_time(now - 60),
        "lastLeftAt": to_time(now + 3),
    }
    # Only video changed.
    assert {k: v for k, v in ref.get().to_dict().items() if k != "video"} == fields_before


@pytest.mark.parametrize(
    ("send", "status"),
    [
        pytest.param(lambda now: post("joined", "patient", now, secret="wrong-secret"), 401, id="wrong secret"),
        pytest.param(
            lambda now: emu.post_webhook("jitsi/events/occupant/joined", b"{}", {"Content-Type": "application/json"}),
            401,
            id="unsigned",
        ),
        pytest.param(lambda now: post("joined", "patient", now - 600), 400, id="stale"),
        pytest.param(
            lambda now: emu.post_webhook(
                "jitsi/events/occupant/joined",
                b"x" * 70_000,
                {"Authorization": f"Bearer {emu.local_secret('VIDEO_WEBHOOK_SECRET')}"},
            ),
            400,
            id="oversized",
        ),
        pytest.param(
            lambda now: emu.post_webhook(
                "jitsi/events/occupant/joined",
                b"{nope",
                {"Authorization": f"Bearer {emu.local_secret('VIDEO_WEBHOOK_SECRET')}"},
            ),
            400,
            id="malformed",
        ),
        pytest.param(
            lambda now: emu.post_webhook("livekit", b"{}", {"Authorization": "x"}), 404, id="another provider"
        ),
        pytest.param(
            lambda now: emu.post_webhook("jitsi/events/occupant/joined", b"", {}, method="GET"), 405, id="GET"
        ),
    ],
)
def test_bad_webhooks_are_refused_and_change_nothing(
    db: firestore.Client, people: dict[str, emu.User], send: Any, status: int
) -> None:
    room(db, people)
    before = all_documents(db)
    assert send(int(time.time())) == status
    assert all_documents(db) == before
    assert not list(db.collection("appointments").document("visit").collection("attendance").stream())


def test_an_event_for_a_room_no_appointment_holds_writes_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    room(db, people)
    before = all_documents(db)
    assert post("joined", "patient", int(time.time()), room_name="z" * 32) == 200
    assert all_documents(db) == before


def test_the_participants_read_attendance_and_nobody_writes_it(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = room(db, people)
    assert post("joined", "patient", int(time.time())) == 200
    [event_id] = [snap.id for snap in ref.collection("attendance").stream()]
    path = f"appointments/visit/attendance/{event_id}"
    assert emu.UserFirestore(people["patient"].id_token).get(path) == 200
    assert emu.UserFirestore(people["doctor"].id_token).get(path) == 200
    assert emu.UserFirestore(people["stranger"].id_token).get(path) == 403
    assert emu.UserFirestore(None).get(path) == 403
    for who in ("patient", "doctor"):
        fs = emu.UserFirestore(people[who].id_token)
        assert fs.create("appointments/visit/attendance", "mine", {"event": "joined"}) == 403
        assert fs.delete(path) == 403
