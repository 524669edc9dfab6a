"""Rooms created at the provider through the deploy entry: ``unavailable`` through the SDK's callable wrapper,
the trigger creating the room and saying so, the sweep handed the deployment only where rooms are created."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from mockfirestore import MockFirestore
from standins import EnableX, serve
from test_main import call, db, error_of, open_now

import main
from telehealth import repair

__all__ = ["db"]  # the deploy entry's fixture, reused

APP_ID = "enx-app-0001"
APP_KEY = "enablex-app-key-0123456789abcdefXYZ"
ROOM_ID = "5f0c1e2d3b4a596877665544"


@pytest.fixture
def enablex(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockFirestore]:
    """The deploy entry on an EnableX deployment whose server API is the stand-in; a1 holds its room."""
    EnableX.reset(APP_ID, APP_KEY)
    EnableX.rooms[ROOM_ID] = {"name": "a" * 32}
    with serve(EnableX) as url:
        for name, value in {
            "VIDEO_PROVIDER": "enablex",
            "VIDEO_DOMAIN": "",
            "VIDEO_APP_ID": APP_ID,
            "VIDEO_SERVER_API_URL": url,
            "VIDEO_SIGNING_KEY": APP_KEY,
        }.items():
            monkeypatch.setenv(name, value)
        stored = open_now()
        stored["video"] = {**stored["video"], "provider": "enablex", "providerRoomId": ROOM_ID}
        db.collection("appointments").document("a1").set(stored)
        yield db


def test_a_join_on_enablex_answers_its_token_and_room(enablex: MockFirestore) -> None:
    answer = call({"appointmentId": "a1"}, "uid-patient-1")["result"]
    assert answer["roomId"] == ROOM_ID
    assert answer["token"].startswith("enx-")
    assert [token["role"] for token in EnableX.tokens] == ["participant"]


def test_enablex_failing_the_token_call_is_unavailable_with_a_reason_never_internal(
    enablex: MockFirestore, capsys: pytest.CaptureFixture[str]
) -> None:
    EnableX.fail_tokens_with = 503

    answer = call({"appointmentId": "a1"}, "uid-patient-1")

    assert error_of(answer) == ("UNAVAILABLE", {"reason": "provider_unavailable"})
    assert answer["error"]["message"] == "The video service did not answer in time; try again shortly."
    [record] = [doc.to_dict() for doc in enablex.collection("videoAccessLog").stream()]
    assert (record["outcome"], record["reason"]) == ("denied", "provider_unavailable")
    logs = capsys.readouterr()
    assert "join refused" in logs.out + logs.err
    assert APP_KEY not in logs.out + logs.err


class Snapshot:
    def __init__(self, data: dict[str, Any] | None) -> None:
        self._data, self.update_time = data, None

    def to_dict(self) -> dict[str, Any] | None:
        return self._data


def test_the_trigger_creates_the_room_at_enablex_and_says_so(
    enablex: MockFirestore, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = open_now(status="pending", video=None)
    enablex.collection("appointments").document("a2").set(pending)
    enablex.collection("appointments").document("a2").update({"status": "confirmed"})
    confirmed = enablex.collection("appointments").document("a2").get().to_dict()

    class Event:
        params: ClassVar[dict[str, str]] = {"appointmentId": "a2"}

        class data:
            before = Snapshot(pending)
            after = Snapshot(confirmed)

    inspect.unwrap(main.assign_video_room)(Event())

    video = enablex.collection("appointments").document("a2").get().to_dict()["video"]
    assert EnableX.rooms[video["providerRoomId"]]["name"] == video["roomName"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {"severity": "INFO", "message": "room created at the provider", "appointmentId": "a2"} in lines


@pytest.mark.parametrize(("provider", "handed"), [("enablex", True), ("jitsi", False)])
def test_the_sweep_is_handed_the_deployment_only_where_rooms_are_created(
    enablex: MockFirestore, monkeypatch: pytest.MonkeyPatch, provider: str, handed: bool
) -> None:
    monkeypatch.setenv("VIDEO_PROVIDER", provider)
    monkeypatch.setenv("VIDEO_DOMAIN", "meet.clinic.test")
    seen: dict[str, Any] = {}

    def sweep(_db: Any, **kwargs: Any) -> repair.SweepReport:
        seen.update(kwargs)
        return repair.SweepReport(completed=2)

    monkeypatch.setattr(repair, "sweep", sweep)

    class Scheduled:
        schedule_time = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)

    inspect.unwrap(main.repair_video_rooms)(Scheduled())

    assert (seen["deployment"] is main.DEPLOYMENT) is handed
    assert (seen["deployment"] is None) is not handed
