"""The repair sweep's choices and bounds, with the store's queries and write replaced."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import NOW, jitsi_config

from telehealth import repair
from telehealth.rooms import Action
from telehealth.store.appointments import RoomWrite

HOUR = dt.timedelta(hours=1)


class Snap:
    def __init__(self, doc_id: str, data: dict[str, Any]) -> None:
        self.id, self._data, self.update_time = doc_id, data, f"t-{doc_id}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)


def visit(
    status: str = "confirmed", room: bool = False, end_in: dt.timedelta = HOUR, kind: str = "video"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": kind,
        "status": status,
        "startTime": NOW + end_in - HOUR / 2,
        "endTime": NOW + end_in,
    }
    if room:
        data["video"] = {"roomName": "r" * 32}
    return data


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"confirmed": [], "holding": [], "applied": [], "windows": [], "limits": [], "fail": set()}

    def confirmed(_db: Any, start_from: Any, start_until: Any, cap: int) -> list[Snap]:
        state["windows"].append((start_from, start_until, cap))
        return list(state["confirmed"])

    def holding(_db: Any, limit: int) -> list[Snap]:
        state["limits"].append(limit)
        return list(state["holding"])

    def apply(_db: Any, doc_id: str, before: Any, after: Any, new_room: Any, update_time: Any) -> RoomWrite:
        assert before == after  # handled as an event that changed the document into itself
        assert new_room()["provider"] == "jitsi"  # made from the sweep's own config source
        assert update_time == f"t-{doc_id}"
        if doc_id in state["fail"]:
            raise RuntimeError("boom")
        state["applied"].append(doc_id)
        room = (after.get("video") or {}).get("roomName")
        if after["status"] == "confirmed" and after["type"] == "video":
            return RoomWrite(Action.NOTHING if room else Action.ASSIGN, "precondition")
        return RoomWrite(Action.WITHDRAW if room else Action.NOTHING, "precondition")

    monkeypatch.setattr(repair.appointments, "confirmed_video_between", confirmed)
    monkeypatch.setattr(repair.appointments, "holding_a_room_without_keeping_it", holding)
    monkeypatch.setattr(repair.appointments, "apply_room_lifecycle", apply)
    return state


def test_the_sweep_asks_for_the_right_window_and_skips_healthy_and_finished_visits(world: dict[str, Any]) -> None:
    world["confirmed"] = [
        Snap("healthy", visit(room=True)),
        Snap("over", visit(end_in=-HOUR)),
        Snap("ends-now", visit(end_in=dt.timedelta())),
        Snap("broken", visit()),
    ]
    world["holding"] = [
        Snap("cancelled", visit("cancelled", room=True)),
        Snap("in-person", visit(kind="in_person", room=True)),
    ]
    failures: list[str] = []

    report = repair.sweep(None, now=NOW, config=jitsi_config, limit=7, on_failure=lambda i, _e: failures.append(i))

    assert world["windows"] == [(NOW - dt.timedelta(hours=24), NOW + dt.timedelta(hours=48), repair.READ_CAP)]
    assert world["limits"] == [7]
    assert world["applied"] == ["broken", "cancelled", "in-person"]
    assert (report.examined, report.assigned, report.withdrawn, report.failed) == (3, 1, 2, 0)
    assert failures == []


def test_the_sweep_stops_at_its_limits_and_carries_on_past_a_failure(world: dict[str, Any]) -> None:
    world["confirmed"] = [Snap(f"b{n}", visit(end_in=HOUR + n * HOUR)) for n in range(5)]
    world["holding"] = [Snap(f"s{n}", visit("cancelled", room=True)) for n in range(5)]
    world["fail"] = {"b0", "s1"}
    failures: list[str] = []

    report = repair.sweep(None, now=NOW, config=jitsi_config, limit=2, on_failure=lambda i, _e: failures.append(i))

    assert (report.assigned, report.withdrawn, report.failed) == (2, 2, 2)
    assert world["applied"] == ["b1", "b2", "s0", "s2"]
    assert failures == ["b0", "s1"]
    assert report.examined == 6


def test_the_sweep_hands_its_own_client_to_every_store_call(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = object()
    seen: list[Any] = []
    for name in ("confirmed_video_between", "holding_a_room_without_keeping_it", "apply_room_lifecycle"):
        inner = getattr(repair.appointments, name)
        monkeypatch.setattr(repair.appointments, name, lambda db, *a, _inner=inner: seen.append(db) or _inner(db, *a))
    world["confirmed"] = [Snap("broken", visit())]
    world["holding"] = [Snap("cancelled", visit("cancelled", room=True))]
    world["fail"] = {"cancelled"}
    errors: list[Exception] = []
    repair.sweep(client, now=NOW, config=jitsi_config, on_failure=lambda _i, error: errors.append(error))
    assert seen == [client] * 4
    assert [type(e) for e in errors] == [RuntimeError]
