"""Per-account rate limit for joins: a sliding 60-second window held in this instance's memory.

It costs no Firestore operation, so a normal join keeps its 1 read + 1 write and a refused one
costs nothing. Each instance keeps its own windows: an account whose calls are spread over N
instances gets at most N times the limit (``max_instances`` bounds N). Memory is bounded: the
least recently seen accounts are forgotten beyond ``max_accounts``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import lru_cache

WINDOW_SECONDS = 60
DEFAULT_MAX_ACCOUNTS = 10_000
# Invitation codes an account may try a minute (``redeem_invite``): a guest opening their link again is
# well inside it; the codes' 192 bits, not this limit, are what makes guessing hopeless.
REDEMPTIONS_PER_MINUTE = 10


@dataclass(frozen=True)
class Verdict:
    """A refusal's facts: when to try again, and whether it is the account's first refusal this minute."""

    retry_after: int
    minute: int
    first_refusal_this_minute: bool


class RateLimiter:
    """At most ``per_minute`` allowed calls per account in any 60 seconds; refused calls do not count."""

    def __init__(self, per_minute: int, max_accounts: int = DEFAULT_MAX_ACCOUNTS) -> None:
        if per_minute < 1 or max_accounts < 1:
            raise ValueError("per_minute and max_accounts must be positive")
        self.per_minute = per_minute
        self._max_accounts = max_accounts
        self._calls: OrderedDict[str, deque[int]] = OrderedDict()
        self._refused_minute: dict[str, int] = {}
        self._lock = threading.Lock()

    def _window(self, uid: str, now: int) -> deque[int]:
        calls = self._calls.get(uid)
        if calls is None:
            calls = self._calls[uid] = deque()
            while len(self._calls) > self._max_accounts:
                forgotten, _ = self._calls.popitem(last=False)
                self._refused_minute.pop(forgotten, None)
        else:
            self._calls.move_to_end(uid)
        while calls and calls[0] <= now - WINDOW_SECONDS:
            calls.popleft()
        return calls

    def allow(self, uid: str, now: int) -> bool:
        """Count the call and say yes, or say no (and count nothing) when the window is full."""
        with self._lock:
            calls = self._window(uid, now)
            if len(calls) >= self.per_minute:
                return False
            calls.append(now)
            return True

    def verdict(self, uid: str, now: int) -> Verdict:
        """For a refused call: seconds until a slot frees up, and whether to audit this refusal."""
        with self._lock:
            calls = self._window(uid, now)
            retry_after = max(1, calls[0] + WINDOW_SECONDS - now) if calls else 1
            minute = now // WINDOW_SECONDS
            first = self._refused_minute.get(uid) != minute
            self._refused_minute[uid] = minute
            return Verdict(retry_after=retry_after, minute=minute, first_refusal_this_minute=first)


@lru_cache(maxsize=2)
def shared_limiter(per_minute: int) -> RateLimiter:
    """This instance's limiter for a limit: its windows live in this instance's memory."""
    return RateLimiter(per_minute)


@lru_cache(maxsize=1)
def redemption_limiter() -> RateLimiter:
    """This instance's limiter for invitation codes, apart from the joins' (one account's tries do not
    use up its joins)."""
    return RateLimiter(REDEMPTIONS_PER_MINUTE)
