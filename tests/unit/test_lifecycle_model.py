"""Model-based test of the room lifecycle: random server moves, events delivered late, out of order, again,
or failing transiently (and so retried), against a fake Firestore that honours update-time preconditions.

Every write (a server move or the trigger's own) produces an event, as Firestore does. After each
random run the queue is drained, and then:
- no room name was ever assigned twice;
- a visit that needs a room has one, and it is none of the rooms ever seen on a room-less state;
- a visit in a room-less state holds no room;
- delivering every event of the run once more writes nothing (idempotent).
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import appointment, jitsi_config, serial_transactional
from google.api_core.exceptions import ServiceUnavailable
from support.fakes import FakeDB

from telehealth.lifecycle import room_maker
from telehealth.rooms import may_keep_room, needs_room, room_of
from telehealth.store import appointments

CONFIG = jitsi_config()
SEQUENCES = int(os.environ.get("MODEL_SEQUENCES", "3000"))  # make mutate runs fewer
PATH = "appointments/a1"


@dataclass(frozen=True)
class Event:
    before: dict[str, Any] | None
    after: dict[str, Any]
    update_time: int


class World:
    """One appointment in the faithful fake (tests/support/fakes.FakeDB), the events its writes produce,
    and the random server moves and transient failures of one run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.db = FakeDB()
        self.db.rng = rng
        self.db.on_write.append(self.saw_write)
        self.queue: list[Event] = []
        self.history: list[Event] = []
        self.assigned: list[str] = []
        self.retired: set[str] = set()
        self.writes = 0

    @property
    def doc(self) -> dict[str, Any] | None:
        return self.db.docs.get(PATH)

    def saw_write(
        self, _path: str, before: dict[str, Any] | None, after: dict[str, Any], at: int, changes: dict[str, Any]
    ) -> None:
        """Every write is an event, as Firestore makes one; the model also keeps what each write assigned."""
        self.writes += 1
        video = changes.get("video")
        if isinstance(video, dict):  # a room written whole (a withdrawal writes DELETE_FIELD)
            self.assigned.append(video["roomName"])
        if not may_keep_room(after) and room_of(after):
            self.retired.add(str(room_of(after)))
        event = Event(before, after, at)
        self.queue.append(event)
        self.history.append(event)

    def server_move(self) -> None:
        """A change a server may make at any time (the rules bind clients, not the Admin SDK)."""
        kind = self.rng.random()
        if kind < 0.7:
            changes: dict[str, Any] = {"status": self.rng.choice(["pending", "confirmed", "cancelled", "completed"])}
        elif kind < 0.9:
            changes = {"type": self.rng.choice(["video", "in_person"])}
        else:
            changes = {"notes": f"note {self.writes}"}
        self.db.collection("appointments").document("a1").update(changes, checked=False)

    def deliver(self, event: Event) -> None:
        appointments.apply_room_lifecycle(
            self.db, "a1", event.before, event.after, room_maker(lambda: CONFIG), event.update_time
        )


@pytest.fixture(autouse=True)
def serial_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)


def run_sequence(seed: int) -> World:
    rng = random.Random(seed)  # noqa: S311 - reproducible test sequences, not secrets
    world = World(rng)
    world.db.collection("appointments").document("a1").create(
        appointment(status=rng.choice(["pending", "confirmed"]), video=None), checked=False
    )
    world.db.failure_rate = 0.15
    for _ in range(rng.randint(5, 25)):
        if world.queue and rng.random() < 0.55:
            event = world.queue.pop(rng.randrange(len(world.queue)))  # any order
            try:
                world.deliver(event)
            except ServiceUnavailable:
                world.queue.append(event)  # retried later
                continue
            if rng.random() < 0.2:
                world.queue.append(event)  # delivered again
        else:
            world.server_move()
    # Drain: retries until every event (including those the trigger's writes make) succeeds once.
    for _ in range(2000):
        if not world.queue:
            break
        event = world.queue.pop(rng.randrange(len(world.queue)))
        try:
            world.deliver(event)
        except ServiceUnavailable:
            world.queue.append(event)
    assert not world.queue, "the lifecycle did not converge"
    return world


@pytest.mark.parametrize("block", range(-(-SEQUENCES // 500)))
def test_random_event_orders_and_redeliveries_converge_without_reviving_a_room(block: int) -> None:
    for seed in range(block * 500, min((block + 1) * 500, SEQUENCES)):
        world = run_sequence(seed)
        doc = world.doc
        assert doc is not None
        assert len(world.assigned) == len(set(world.assigned)), f"seed {seed}: a room name was reused"
        if needs_room(doc):
            assert room_of(doc) is not None, f"seed {seed}: a confirmed video visit has no room"
            assert room_of(doc) not in world.retired, f"seed {seed}: a retired room came back"
        elif not may_keep_room(doc):
            assert "video" not in doc, f"seed {seed}: a room-less state holds a room"
        # Every event once more, in any order: nothing is written.
        world.db.failure_rate = 0.0
        settled, writes = copy.deepcopy(doc), world.writes
        for event in world.history:
            world.deliver(event)
        assert (world.doc, world.writes) == (settled, writes), f"seed {seed}: a replay wrote"


def test_the_model_produces_the_completed_then_in_person_then_confirmed_race() -> None:
    """A check on the model itself: its random runs do reach the race where a retired room could come back."""
    found = 0
    for seed in range(SEQUENCES):
        world = run_sequence(seed)
        kinds = [(e.after.get("status"), e.after.get("type")) for e in world.history]
        if ("completed", "in_person") in kinds and world.retired:
            found += 1
    assert found > SEQUENCES // 60  # about 1 in 40 sequences has it
