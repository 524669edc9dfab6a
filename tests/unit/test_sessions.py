"""Session checks: a "live" answer reused for less than VIDEO_SESSION_CHECK_S per uid, never a "not live" one."""

from __future__ import annotations

import pytest

from telehealth.sessions import MAX_REUSE_SECONDS, SessionChecks


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Auth:
    """The Auth API's answers by token, and every token it was asked about."""

    def __init__(self) -> None:
        self.live: dict[str, bool] = {}
        self.asked: list[str] = []

    def __call__(self, id_token: str) -> bool:
        self.asked.append(id_token)
        return self.live.get(id_token, True)


@pytest.fixture
def world() -> tuple[SessionChecks, Auth, Clock]:
    api, clock = Auth(), Clock()
    return SessionChecks(60, verify=api, clock=clock), api, clock


def test_a_live_answer_is_reused_inside_the_bound_and_asked_again_at_it(
    world: tuple[SessionChecks, Auth, Clock],
) -> None:
    checks, api, clock = world
    assert checks.start("u1", "t1")() is True
    clock.now += 59.9
    assert checks.start("u1", "t2")() is True
    assert api.asked == ["t1"]  # inside the bound: no Auth call
    clock.now += 0.1  # exactly 60 s after the first check
    assert checks.start("u1", "t3")() is True
    assert api.asked == ["t1", "t3"]


def test_a_revocation_is_seen_at_most_one_bound_after_the_last_live_answer(
    world: tuple[SessionChecks, Auth, Clock],
) -> None:
    checks, api, clock = world
    assert checks.start("u1", "t1")() is True
    api.live["t1"] = False  # revoked right after
    clock.now += 30
    assert checks.start("u1", "t1")() is True  # within the documented bound
    clock.now += 30
    assert checks.start("u1", "t1")() is False
    assert checks.start("u1", "t1")() is False  # and a "not live" answer is never reused
    assert api.asked == ["t1", "t1", "t1"]


def test_answers_are_kept_per_uid(world: tuple[SessionChecks, Auth, Clock]) -> None:
    checks, api, _clock = world
    api.live["bad"] = False
    assert checks.start("u1", "good")() is True
    assert checks.start("u2", "bad")() is False
    assert checks.start("u2", "bad")() is False
    assert api.asked == ["good", "bad", "bad"]


def test_a_bound_of_zero_asks_every_time() -> None:
    api, clock = Auth(), Clock()
    checks = SessionChecks(0, verify=api, clock=clock)
    for _ in range(3):
        assert checks.start("u1", "t")() is True
    assert api.asked == ["t", "t", "t"]


def test_the_answer_is_dated_from_when_the_check_started() -> None:
    api, clock = Auth(), Clock()
    checks = SessionChecks(60, verify=api, clock=clock)
    wait = checks.start("u1", "t1")
    clock.now += 50  # the Auth call took a long time to answer
    assert wait() is True
    clock.now += 10
    assert checks.start("u1", "t2")() is True
    assert api.asked == ["t1", "t2"]  # 60 s after the first check started: asked again


def test_the_least_recently_checked_uids_are_forgotten_beyond_the_bound() -> None:
    api, clock = Auth(), Clock()
    checks = SessionChecks(60, verify=api, clock=clock, max_uids=2)
    for uid in ("a", "b", "c"):
        checks.start(uid, uid)()
    checks.start("a", "a2")()  # forgotten: asked again
    checks.start("c", "c2")()  # still known
    assert api.asked == ["a", "b", "c", "a2"]


@pytest.mark.parametrize(("seconds", "uids"), [(-1, 1), (MAX_REUSE_SECONDS + 1, 1), (60, 0)])
def test_nonsense_bounds_are_refused(seconds: int, uids: int) -> None:
    with pytest.raises(ValueError, match=r"^reuse_seconds must be 0 to 300, max_uids at least 1$"):
        SessionChecks(seconds, max_uids=uids)


def test_the_longest_bound_is_accepted() -> None:
    assert SessionChecks(MAX_REUSE_SECONDS).reuse_seconds == MAX_REUSE_SECONDS


def test_one_uid_is_enough_memory() -> None:
    api, clock = Auth(), Clock()
    checks = SessionChecks(60, verify=api, clock=clock, max_uids=1)
    assert checks.start("a", "a")() is True
    assert checks.start("a", "a2")() is True
    assert api.asked == ["a"]
