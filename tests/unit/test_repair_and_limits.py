"""The repair sweep's choices and bounds (store queries replaced), the rate limiter's memory and windows,
and the webhook helpers' edges."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import NOW, jitsi_config

from telehealth import repair
from telehealth.ratelimit import RateLimiter
from telehealth.rooms import Action
from telehealth.store import RoomWrite
from telehealth.webhooks import Rejected, _epoch, _event_id, _safe_id

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

    def apply(_db: Any, doc_id: str, before: Any, after: Any, config: Any, update_time: Any) -> RoomWrite:
        assert before == after  # handled as an event that changed the document into itself
        assert config is jitsi_config  # the sweep's own config source, called only if a room is assigned
        assert update_time == f"t-{doc_id}"
        if doc_id in state["fail"]:
            raise RuntimeError("boom")
        state["applied"].append(doc_id)
        room = (after.get("video") or {}).get("roomName")
        if after["status"] == "confirmed" and after["type"] == "video":
            return RoomWrite(Action.NOTHING if room else Action.ASSIGN, "precondition")
        return RoomWrite(Action.WITHDRAW if room else Action.NOTHING, "precondition")

    monkeypatch.setattr(repair.store, "confirmed_video_between", confirmed)
    monkeypatch.setattr(repair.store, "holding_a_room_without_keeping_it", holding)
    monkeypatch.setattr(repair.store, "apply_room_lifecycle", apply)
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


def test_the_limiter_forgets_the_least_recently_seen_accounts_beyond_its_bound() -> None:
    limiter = RateLimiter(1, max_accounts=2)
    assert limiter.allow("a", 0)
    assert limiter.allow("b", 0)
    assert not limiter.allow("a", 1)  # a is now the most recently seen
    assert limiter.allow("c", 1)  # b is forgotten
    assert limiter.allow("b", 2)  # b starts afresh
    assert not limiter.allow("c", 2)


def test_the_limiters_window_is_sixty_seconds_and_retry_after_counts_down() -> None:
    limiter = RateLimiter(2)
    assert limiter.allow("u", 100)
    assert limiter.allow("u", 130)
    assert not limiter.allow("u", 159)
    assert limiter.verdict("u", 159).retry_after == 1
    assert limiter.verdict("u", 120).retry_after == 40
    assert limiter.allow("u", 160)
    verdict = limiter.verdict("u", 170)  # minute 2 was marked by the verdict at 159
    assert (verdict.minute, verdict.first_refusal_this_minute) == (2, False)
    assert limiter.verdict("u", 175).first_refusal_this_minute is False
    assert limiter.verdict("u", 180).first_refusal_this_minute is True  # minute 3


@pytest.mark.parametrize(("per_minute", "accounts"), [(0, 1), (1, 0), (-1, 5)])
def test_the_limiter_refuses_nonsense_bounds(per_minute: int, accounts: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(per_minute, max_accounts=accounts)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        pytest.param(1_795_000_000, 1_795_000_000, id="seconds"),
        pytest.param(1_795_000_000_123, 1_795_000_000.123, id="milliseconds"),
        pytest.param(100_000_000_001, 100_000_000.001, id="the first value read as milliseconds"),
        pytest.param(100_000_000_000, 100_000_000_000, id="the last value read as seconds"),
    ],
)
def test_epoch_reads_seconds_and_milliseconds(raw: int, seconds: float) -> None:
    assert _epoch(raw) == dt.datetime.fromtimestamp(seconds, dt.UTC)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        pytest.param(None, "timestamp is not a number", id="missing"),
        pytest.param("1795000000", "timestamp is not a number", id="a string"),
        pytest.param(True, "timestamp is not a number", id="a boolean"),
        pytest.param(10**30, "timestamp out of range", id="beyond any date"),
    ],
)
def test_epoch_refuses_what_is_not_a_time(raw: Any, why: str) -> None:
    with pytest.raises(Rejected) as caught:
        _epoch(raw)
    assert (caught.value.status, caught.value.why) == (400, why)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        pytest.param("EV_abc-123", True, id="plain ids are kept"),
        pytest.param("a" * 128, True, id="128 characters kept"),
        pytest.param("a" * 129, False, id="longer ones hashed"),
        pytest.param("a/b", False, id="a slash is hashed"),
        pytest.param("..", False, id="dots are hashed"),
        pytest.param("caf\u00e9", False, id="non-ASCII is hashed"),
        pytest.param("____", False, id="only underscores (Firestore reserves __x__) are hashed"),
        pytest.param("--", False, id="only dashes are hashed"),
        pytest.param("x" * 200, False, id="200 characters, the most allowed, hashed"),
    ],
)
def test_event_ids_become_safe_document_ids(raw: str, kept: bool) -> None:
    safe = _safe_id(raw)
    assert (safe == raw) == kept
    assert safe.replace("-", "").replace("_", "").isalnum()
    assert len(safe) <= 128
    assert _safe_id(raw) == safe  # stable across re-deliveries


@pytest.mark.parametrize("raw", ["", None, 7, "x" * 201])
def test_a_missing_or_huge_event_id_is_refused(raw: Any) -> None:
    with pytest.raises(Rejected) as caught:
        _safe_id(raw)
    assert (caught.value.status, caught.value.why) == (400, "event id missing or too long")


def test_derived_event_ids_never_change_between_releases() -> None:
    """Stored attendance ids: a re-delivery that straddles a deploy must find the same id (pinned values)."""
    assert _safe_id("a/b") == "c14cddc033f64b9dea80ea675cf280a015e67251"
    assert _event_id("jitsi", "joined", "room", "room@conference/x", "1795000000") == (
        "aea1819dcba0463ba925daf24a1c4ca0ab02402a"
    )


def test_the_sweep_hands_its_own_client_to_every_store_call(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = object()
    seen: list[Any] = []
    for name in ("confirmed_video_between", "holding_a_room_without_keeping_it", "apply_room_lifecycle"):
        inner = getattr(repair.store, name)
        monkeypatch.setattr(repair.store, name, lambda db, *a, _inner=inner: seen.append(db) or _inner(db, *a))
    world["confirmed"] = [Snap("broken", visit())]
    world["holding"] = [Snap("cancelled", visit("cancelled", room=True))]
    world["fail"] = {"cancelled"}
    errors: list[Exception] = []
    repair.sweep(client, now=NOW, config=jitsi_config, on_failure=lambda _i, error: errors.append(error))
    assert seen == [client] * 4
    assert [type(e) for e in errors] == [RuntimeError]


def test_an_account_forgotten_by_the_limiter_loses_its_refusal_minute_too() -> None:
    limiter = RateLimiter(1, max_accounts=1)
    assert limiter.allow("a", 0)
    assert not limiter.allow("a", 1)
    assert limiter.verdict("a", 1).first_refusal_this_minute is True
    assert limiter.allow("b", 2)  # a is forgotten, with its minute
    assert limiter.allow("a", 3)
    assert not limiter.allow("a", 4)
    assert limiter.verdict("a", 4).first_refusal_this_minute is True


def test_the_limiters_bounds_must_be_positive() -> None:
    for per_minute, max_accounts in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match=r"^per_minute and max_accounts must be positive$"):
            RateLimiter(per_minute, max_accounts=max_accounts)


def test_a_verdict_for_an_account_with_no_calls_in_its_window_says_one_second() -> None:
    limiter = RateLimiter(1)
    assert limiter.verdict("never-seen", 1_000).retry_after == 1
    assert limiter.allow("old", 0)
    assert limiter.verdict("old", 100).retry_after == 1  # its one call left the window at 60
