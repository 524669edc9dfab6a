"""The rate limiter: a sliding sixty-second window per account, bounded memory, one refusal record a minute."""

from __future__ import annotations

import pytest

from telehealth.ratelimit import RateLimiter


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
    with pytest.raises(ValueError, match=r"^per_minute and max_accounts must be positive$"):
        RateLimiter(per_minute, max_accounts=accounts)


def test_an_account_forgotten_by_the_limiter_loses_its_refusal_minute_too() -> None:
    limiter = RateLimiter(1, max_accounts=1)
    assert limiter.allow("a", 0)
    assert not limiter.allow("a", 1)
    assert limiter.verdict("a", 1).first_refusal_this_minute is True
    assert limiter.allow("b", 2)  # a is forgotten, with its minute
    assert limiter.allow("a", 3)
    assert not limiter.allow("a", 4)
    assert limiter.verdict("a", 4).first_refusal_this_minute is True


def test_a_verdict_for_an_account_with_no_calls_in_its_window_says_one_second() -> None:
    limiter = RateLimiter(1)
    assert limiter.verdict("never-seen", 1_000).retry_after == 1
    assert limiter.allow("old", 0)
    assert limiter.verdict("old", 100).retry_after == 1  # its one call left the window at 60
