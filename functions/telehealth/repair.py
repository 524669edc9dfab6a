"""The repair sweep: bring rooms in line for appointments whose trigger events were lost or gave up.

Same decision code as the trigger: each candidate is handed to ``apply_room_lifecycle`` as an
event that changed the stored document into itself, so the sweep assigns exactly where the trigger
would assign and withdraws exactly where it would withdraw. Running it again changes nothing.
Where the provider creates rooms (``deployment`` given), it also completes what a failure left: a
confirmed visit whose room is named but not created at the provider gets it, and a room that goes
is deleted at the provider first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import VideoConfig
from .lifecycle import create_provider_room, delete_provider_room, room_maker
from .providers.base import Deployment
from .rooms import Action, provider_room_of, room_awaiting_provider, room_of
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
    # Rooms created at the provider for visits that had only a name (a failure left them so).
    completed: int = 0


def sweep(
    db: Any,
    *,
    now: dt.datetime,
    config: Callable[[], VideoConfig],
    limit: int = DEFAULT_LIMIT,
    on_failure: Callable[[str, Exception], None] = lambda _id, _error: None,
    deployment: Deployment | None = None,
) -> SweepReport:
    """One bounded pass: at most ``limit`` assignments (soonest visits first) and ``limit`` withdrawals.

    Finding visits without a room means reading every confirmed video visit in the window (a room
    cannot be queried for absence); healthy ones cost a read and nothing else. A failure on one
    appointment is counted and handed to ``on_failure`` (the adapter logs it), and the sweep goes on.
    """
    report = SweepReport()
    new_room = room_maker(config)
    now_s = int(now.timestamp())

    def repair(snapshot: Any, withdrawing: bool) -> Action:
        report.examined += 1
        stored = snapshot.to_dict() or {}
        try:
            if withdrawing and deployment is not None:  # a room that goes: first at the provider
                delete_provider_room(provider_room_of(stored), deployment)
            write = appointments.apply_room_lifecycle(db, snapshot.id, stored, stored, new_room, snapshot.update_time)
            return write.action
        except Exception as error:  # noqa: BLE001 - one bad document must not stop the sweep
            report.failed += 1
            on_failure(snapshot.id, error)
            return Action.NOTHING

    def complete(appointment_id: str, provider: Deployment) -> None:
        try:
            if create_provider_room(db, appointment_id, provider, now_s):
                report.completed += 1
        except Exception as error:  # noqa: BLE001 - as above: counted, logged, retried next run
            report.failed += 1
            on_failure(appointment_id, error)

    for snapshot in appointments.confirmed_video_between(db, now - UNDER_WAY_SINCE, now + AHEAD, READ_CAP):
        if report.assigned + report.completed >= limit:
            break
        stored = snapshot.to_dict() or {}
        end = stored.get("endTime")
        if isinstance(end, dt.datetime) and end <= now:
            continue  # over: a room would serve nobody, no write, no transaction
        if room_of(stored) is None:
            if repair(snapshot, withdrawing=False) not in (Action.ASSIGN, Action.REPLACE):
                continue
            report.assigned += 1
        elif deployment is None or room_awaiting_provider(stored) is None:
            continue  # has its room (and its provider room, where there is one)
        else:
            report.examined += 1
        if deployment is not None:
            complete(snapshot.id, deployment)
    for snapshot in appointments.holding_a_room_without_keeping_it(db, limit):
        if report.withdrawn >= limit:
            break
        if repair(snapshot, withdrawing=True) is Action.WITHDRAW:
            report.withdrawn += 1
    return report
