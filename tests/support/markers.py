"""The ended-meeting markers as end_meeting sees them, in memory, for tests of ending meetings."""

from __future__ import annotations

from typing import Any

import pytest

from telehealth import lifecycle

# The Firestore client end_meeting is handed, passed on to the store unchanged.
CLIENT = object()


class MarkerStore:
    """The two store calls end_meeting makes; ``ended`` maps each ended room to its provider."""

    def __init__(self) -> None:
        self.ended: dict[str, str] = {}


def install(monkeypatch: pytest.MonkeyPatch) -> MarkerStore:
    """Replace the store's marker calls with an in-memory MarkerStore that insists on CLIENT."""
    here = MarkerStore()

    def already(db: Any, room: str) -> bool:
        assert db is CLIENT
        return room in here.ended

    def mark(db: Any, room: str, provider: str) -> None:
        assert db is CLIENT
        here.ended[room] = provider

    monkeypatch.setattr(lifecycle.attendance, "meeting_already_ended", already)
    monkeypatch.setattr(lifecycle.attendance, "mark_meeting_ended", mark)
    return here
