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
from google.api_core.exceptions import FailedPrecondition, NotFound, ServiceUnavailable
from google.cloud.firestore import DELETE_FIELD

from telehealth.lifecycle import room_maker
from telehealth.rooms import may_keep_room, needs_room, room_of
from telehealth.store import appointments

CONFIG = jitsi_config()
SEQUENCES = int(os.environ.get("MODEL_SEQUENCES", "3000"))  # make mutate runs fewer


@dataclass(frozen=True)
class Event:
    before: dict[str, Any] | None
    after: dict[str, Any]
    update_time: int


@dataclass(frozen=True)
class Precondition:
    last_update_time: int


class Snapshot:
    def __init__(self, data: dict[str, Any] | None) -> None:
        self._data = data
        self.exists = data is not None

    def to_dict(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._data)


class World:
    """One appointment document with an update time, the events its writes produce, and failure injection."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.new_room = room_maker(lambda: CONFIG)
        self.doc: dict[str, Any] | None = None
        self.update_time = 0
        self.queue: list[Event] = []
        self.history: list[Event] = []
        self.assigned: list[str] = []
        self.retired: set[str] = set()
        self.fail_rate = 0.0
        self.writes = 0

    # What the store calls ------------------------------------------------------------------
    def collection(self, _name: str) -> World:
        return self

    def document(self, _doc_id: str) -> Ref:
        return Ref(self)

    def write_option(self, last_update_time: int) -> Precondition:
        return Precondition(last_update_time)

    def transaction(self) -> Transaction:
        self.maybe_fail()
        return Transaction(self)

    # The world's own moves -------------------------------------------------------------------
    def maybe_fail(self) -> None:
        if self.rng.random() < self.fail_rate:
            raise ServiceUnavailable("injected")

    def write(self, changes: dict[str, Any]) -> None:
        if self.doc is None:
            raise NotFound("no document")
        before = copy.deepcopy(self.doc)
        for key, value in changes.items():
            if value is DELETE_FIELD:
                self.doc.pop(key, None)
            else:
                self.doc[key] = copy.deepcopy(value)
                if key == "video":
                    self.assigned.append(value["roomName"])
        self.commit(before)

    def commit(self, before: dict[str, Any] | None) -> None:
        self.update_time += 1
        self.writes += 1
        assert self.doc is not None
        if not may_keep_room(self.doc) and room_of(self.doc):
            self.retired.add(str(room_of(self.doc)))
        event = Event(before, copy.deepcopy(self.doc), self.update_time)
        self.queue.append(event)
        self.history.append(event)

    def server_move(self) -> None:
        """A change a server may make at any time (the rules bind clients, not the Admin SDK)."""
        assert self.doc is not None
        before = copy.deepcopy(self.doc)
        kind = self.rng.random()
        if kind < 0.7:
            self.doc["status"] = self.rng.choice(["pending", "confirmed", "cancelled", "completed"])
        elif kind < 0.9:
            self.doc["type"] = self.rng.choice(["video", "in_person"])
        else:
            self.doc["notes"] = f"note {self.update_time}"
        self.commit(before)

    def deliver(self, event: Event) -> None:
        appointments.apply_room_lifecycle(
            self, "a1", event.before, event.after, room_maker(lambda: CONFIG), event.update_time
        )


class Ref:
    def __init__(self, world: World) -> None:
        self.world = world
        self.path = "appointments/a1"

    def update(self, changes: dict[str, Any], option: Precondition | None = None) -> None:
        self.world.maybe_fail()
        if option is not None and option.last_update_time != self.world.update_time:
            raise FailedPrecondition("the document changed since")
        self.world.write(changes)


class Transaction:
    """Serial delivery makes every transaction isolated; its writes land at commit, or not at all."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.pending: list[dict[str, Any]] = []

    def get(self, _ref: Ref) -> list[Snapshot]:
        return [Snapshot(copy.deepcopy(self.world.doc))]

    def update(self, _ref: Ref, changes: dict[str, Any]) -> None:
        self.pending.append(changes)

    def commit(self) -> None:
        self.world.maybe_fail()
        for changes in self.pending:
            self.world.write(changes)


@pytest.fixture(autouse=True)
def serial_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(appointments, "transactional", serial_transactional)


def run_sequence(seed: int) -> World:
    rng = random.Random(seed)  # noqa: S311 - reproducible test sequences, not secrets
    world = World(rng)
    world.doc = appointment(status=rng.choice(["pending", "confirmed"]), video=None)
    world.commit(None)
    world.fail_rate = 0.15
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
        world.fail_rate = 0.0
        settled, writes = copy.deepcopy(doc), world.writes
        for event in world.history:
            world.deliver(event)
        assert (world.doc, world.writes) == (settled, writes), f"seed {seed}: a replay wrote"


def test_the_model_sees_the_review_sequence() -> None:
    """A check on the model itself: it does produce the completed -> in person -> confirmed race."""
    found = 0
    for seed in range(SEQUENCES):
        world = run_sequence(seed)
        kinds = [(e.after.get("status"), e.after.get("type")) for e in world.history]
        if ("completed", "in_person") in kinds and world.retired:
            found += 1
    assert found > SEQUENCES // 60  # about 1 in 40 sequences has it
