"""The repair sweep: bring rooms in line for appointments whose trigger events were lost or gave up.

Same decision code as the trigger: each candidate is handed to ``apply_room_lifecycle`` as an
event that changed the stored document into itself, so the sweep assigns exactly where the trigger
would assign and withdraws exactly where it would withdraw. Running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import VideoConfig
from .lifecycle import room_maker
from .rooms import Action, room_of
from .store import appointments

# Confirmed video visits that start within this long are given a missing room.
AHEAD = dt.timedelta(hours=48)
# Visits under way started at most this long ago (client bookings last at most 4 hours; servers may
# write longer ones).
UNDER_WAY_SINCE = dt.timedelta(hours=24)
DEFAULT_LIMIT = 500
# Documents one query may read in a run: far above any clinic's 48 hours of visits, a guard only.
READ_CAP = 20_000


@dataclass
class SweepReport:
    """What one run looked at and changed (counts only: no ids, so it can be logged as is)."""

    examined: int = 0
    assigned: int = 0
    withdrawn: int = 0
    failed: int = 0


def sweep(
    db: Any,
    *,
    now: dt.datetime,
    config: Callable[[], VideoConfig],
    limit: int = DEFAULT_LIMIT,
    on_failure: Callable[[str, Exception], None] = lambda _id, _error: None,
) -> SweepReport:
    """One bounded pass: at most ``limit`` assignments (soonest visits first) and ``limit`` withdrawals.

    Finding visits without a room means reading every confirmed video visit in the window (a room
    cannot be queried for absence); healthy ones cost a read and nothing else. A failure on one
    appointment is counted and handed to ``on_failure`` (the adapter logs it), and the sweep goes on.
    """
    report = SweepReport()
    new_room = room_maker(config)

    def repair(snapshot: Any) -> Action:
        report.examined += 1
        stored = snapshot.to_dict() or {}
        try:
            write = appointments.apply_room_lifecycle(db, snapshot.id, stored, stored, new_room, snapshot.update_time)
            return write.action
        except Exception as error:  # noqa: BLE001 - one bad document must not stop the sweep
            report.failed += 1
            on_failure(snapshot.id, error)
            return Action.NOTHING

    for snapshot in appointments.confirmed_video_between(db, now - UNDER_WAY_SINCE, now + AHEAD, READ_CAP):
        if report.assigned >= limit:
            break
        stored = snapshot.to_dict() or {}
        end = stored.get("endTime")
        if room_of(stored) is not None or (isinstance(end, dt.datetime) and end <= now):
            continue  # has its room, or is over (a room would serve nobody): no write, no transaction
        if repair(snapshot) in (Action.ASSIGN, Action.REPLACE):
            report.assigned += 1
    for snapshot in appointments.holding_a_room_without_keeping_it(db, limit):
        if report.withdrawn >= limit:
            break
        if repair(snapshot) is Action.WITHDRAW:
            report.withdrawn += 1
    return report
