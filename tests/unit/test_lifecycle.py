"""The room lifecycle's use case on an in-memory Firestore: the room write first, then the provider's part
(ending a withdrawn room's meeting), each failure named to ``on_failure`` before it is raised."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import appointment
from google.api_core.exceptions import ServiceUnavailable
from mockfirestore import MockFirestore
from support.configs import jitsi_config

from telehealth import lifecycle
from telehealth.config import Settings, SigningKey
from telehealth.errors import ProviderCallFailed
from telehealth.providers.base import Deployment
from telehealth.rooms import ROOM_NAME_ALPHABET, ROOM_NAME_LENGTH, Action

CONFIG = jitsi_config()
JITSI_ENDING = {"VIDEO_PROVIDER": "jitsi", "VIDEO_JITSI_END_KEY_ID": "k1"}


def deployment() -> Deployment:
    return Deployment(
        config=lambda: CONFIG,
        settings=lambda: Settings(CONFIG, SigningKey("HS256", b"")),
        secret=lambda name: pytest.fail(f"read {name}"),
    )


def run(db: Any, before: Any, after: Any, *, params: Any = None, written_at: Any = None) -> Any:
    failures: list[tuple[str, Exception]] = []
    outcome = lifecycle.on_appointment_written(
        db,
        "a1",
        before,
        after,
        written_at,
        params=params or {"VIDEO_PROVIDER": "jitsi"},
        config=lambda: CONFIG,
        deployment=deployment(),
        now=1_800_000_000,
        on_failure=lambda what, error: failures.append((what, error)),
    )
    return outcome, failures


def stored(db: MockFirestore) -> dict[str, Any]:
    data: dict[str, Any] = db.collection("appointments").document("a1").get().to_dict()
    return data


def test_a_confirmation_writes_a_room_on_the_named_document_and_ends_nothing() -> None:
    db = MockFirestore()
    pending = appointment(status="pending", video=None)
    db.collection("appointments").document("a1").set(pending)
    confirmed = {**pending, "status": "confirmed"}
    db.collection("appointments").document("a1").set(confirmed)

    outcome, failures = run(db, pending, confirmed)

    assert (outcome.write.action, outcome.write.via, outcome.meeting_ended, failures) == (
        Action.ASSIGN,
        "transaction",
        False,
        [],
    )
    video = stored(db)["video"]
    assert set(video) == {"roomName", "provider", "roomUrl", "assignedAt"}
    assert video["roomUrl"] == f"https://meet.clinic.test/{video['roomName']}"


def test_with_the_events_update_time_the_room_is_one_conditional_write() -> None:
    db = MockFirestore()
    pending = appointment(status="pending", video=None)
    confirmed = {**pending, "status": "confirmed"}
    db.collection("appointments").document("a1").set(confirmed)
    outcome, _failures = run(db, pending, confirmed, written_at="t1")
    assert (outcome.write.action, outcome.write.via) == (Action.ASSIGN, "precondition")


def test_the_room_maker_makes_a_fresh_room_with_the_providers_url() -> None:
    first, second = lifecycle.room_maker(lambda: CONFIG)(), lifecycle.room_maker(lambda: CONFIG)()
    assert set(first) == {"roomName", "provider", "roomUrl"}
    assert first["provider"] == "jitsi"
    assert first["roomUrl"] == f"https://meet.clinic.test/{first['roomName']}"
    assert len(first["roomName"]) == ROOM_NAME_LENGTH
    assert set(first["roomName"]) <= ROOM_NAME_ALPHABET
    assert first["roomName"] != second["roomName"]


def test_a_failed_room_write_is_named_and_raised_and_nothing_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    down = ServiceUnavailable("down")

    def failing(*_args: Any) -> Any:
        raise down

    monkeypatch.setattr(lifecycle.appointments, "apply_room_lifecycle", failing)
    ended: list[str] = []
    monkeypatch.setattr(lifecycle, "end_meeting", lambda *_a: ended.append("ended") or True)
    failures: list[tuple[str, Exception]] = []
    with pytest.raises(ServiceUnavailable):
        lifecycle.on_appointment_written(
            MockFirestore(),
            "a1",
            appointment(),
            appointment(status="cancelled"),
            None,
            params=JITSI_ENDING,
            config=lambda: CONFIG,
            deployment=deployment(),
            now=0,
            on_failure=lambda what, error: failures.append((what, error)),
        )
    assert failures == [("room lifecycle failed; no room assigned or withdrawn", down)]
    assert ended == []


def test_a_withdrawn_rooms_meeting_is_ended_where_the_params_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    db = MockFirestore()
    confirmed = appointment()
    cancelled = {**confirmed, "status": "cancelled"}
    db.collection("appointments").document("a1").set(cancelled)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        lifecycle,
        "end_meeting",
        lambda client, room, _d, now, **where: calls.append((client, room, now, where)) or True,
    )

    quiet, _ = run(db, confirmed, cancelled)  # a jitsi deployment without end-meeting
    assert (quiet.meeting_ended, calls) == (False, [])

    db.collection("appointments").document("a1").set(cancelled)
    outcome, failures = run(db, confirmed, cancelled, params=JITSI_ENDING)
    assert (outcome.meeting_ended, failures) == (True, [])
    where = {"appointment_id": "a1", "provider_room": None}  # the visit, and its provider room (none on jitsi)
    assert calls == [(db, confirmed["video"]["roomName"], 1_800_000_000, where)]
    assert "video" not in stored(db)


def test_a_failed_meeting_end_is_named_and_raised_after_the_withdrawal(monkeypatch: pytest.MonkeyPatch) -> None:
    db = MockFirestore()
    confirmed = appointment()
    cancelled = {**confirmed, "status": "cancelled"}
    db.collection("appointments").document("a1").set(cancelled)
    refused = ProviderCallFailed(503)

    def failing(*_args: Any, **_where: Any) -> bool:
        raise refused

    monkeypatch.setattr(lifecycle, "end_meeting", failing)
    failures: list[tuple[str, Exception]] = []
    with pytest.raises(ProviderCallFailed):
        lifecycle.on_appointment_written(
            db,
            "a1",
            confirmed,
            cancelled,
            None,
            params=JITSI_ENDING,
            config=lambda: CONFIG,
            deployment=deployment(),
            now=0,
            on_failure=lambda what, error: failures.append((what, error)),
        )
    assert failures == [("ending the meeting failed", refused)]
    assert "video" not in stored(db)  # the withdrawal was written first
