"""The room lifecycle decision and room names, without Firestore."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from telehealth.rooms import (
    ROOM_NAME_ALPHABET,
    ROOM_NAME_LENGTH,
    Action,
    decide,
    new_room_name,
    retired_rooms,
)

STATUSES = ["pending", "confirmed", "cancelled", "completed"]
TYPES = ["video", "in_person"]
ROOM = "r" * 32


def doc(status: str, kind: str = "video", room: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"status": status, "type": kind, "patientId": "p", "doctorId": "d"}
    if room:
        data["video"] = {"roomName": room}
    return data


def apply(stored: dict[str, Any], action: Action) -> dict[str, Any]:
    """What the adapter's write does to a document, in memory."""
    result = dict(stored)
    if action in (Action.ASSIGN, Action.REPLACE):
        result["video"] = {"roomName": new_room_name()}
    elif action is Action.WITHDRAW:
        result.pop("video", None)
    return result


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(doc("pending"), doc("confirmed"), Action.ASSIGN, id="confirming a video visit assigns a room"),
        pytest.param(None, doc("confirmed"), Action.ASSIGN, id="a visit created confirmed gets a room"),
        pytest.param(doc("confirmed"), doc("confirmed", room=ROOM), Action.NOTHING, id="the trigger's own write"),
        pytest.param(doc("pending"), doc("confirmed", room=ROOM), Action.NOTHING, id="a replayed confirmation"),
        pytest.param(
            doc("confirmed", room=ROOM), doc("cancelled", room=ROOM), Action.WITHDRAW, id="cancelling withdraws"
        ),
        pytest.param(doc("cancelled", room=ROOM), doc("cancelled"), Action.NOTHING, id="the withdrawal's own write"),
        pytest.param(doc("cancelled"), doc("confirmed"), Action.ASSIGN, id="re-confirming assigns a new room"),
        pytest.param(
            doc("confirmed", room=ROOM), doc("completed", room=ROOM), Action.NOTHING, id="completing keeps the room"
        ),
        pytest.param(doc("pending"), doc("confirmed", "in_person"), Action.NOTHING, id="in-person visits get no room"),
        pytest.param(
            doc("confirmed", room=ROOM),
            doc("confirmed", "in_person", room=ROOM),
            Action.WITHDRAW,
            id="turning a video visit in-person withdraws",
        ),
        pytest.param(doc("pending"), doc("pending"), Action.NOTHING, id="an irrelevant pending update"),
        pytest.param(doc("confirmed", room=ROOM), None, Action.NOTHING, id="a deleted appointment"),
    ],
)
def test_decision_for_an_event_on_the_stored_state(
    before: dict[str, Any] | None, after: dict[str, Any] | None, expected: Action
) -> None:
    assert decide(before, after, after) is expected


def test_a_cancellation_that_lost_the_race_to_a_reconfirmation_still_retires_the_old_room() -> None:
    # Stored: confirmed again, but still holding the room of the cancelled confirmation.
    stored = doc("confirmed", room=ROOM)
    assert decide(doc("confirmed", room=ROOM), doc("cancelled", room=ROOM), stored) is Action.REPLACE


def test_a_replayed_cancellation_leaves_the_new_room_alone() -> None:
    stored = doc("confirmed", room="n" * 32)
    assert decide(doc("confirmed", room=ROOM), doc("cancelled", room=ROOM), stored) is Action.NOTHING


def test_a_confirmation_that_arrives_after_a_cancellation_gives_no_room() -> None:
    assert decide(doc("pending"), doc("confirmed"), doc("cancelled")) is Action.NOTHING


def test_nothing_happens_to_a_document_that_is_gone() -> None:
    assert decide(doc("pending"), doc("confirmed"), None) is Action.NOTHING


CASES = [
    (before_status, after_status, kind, has_room)
    for before_status, after_status, kind, has_room in itertools.product(
        [None, *STATUSES], STATUSES, TYPES, [False, True]
    )
]


@pytest.mark.parametrize(
    ("before_status", "after_status", "kind", "has_room"),
    CASES,
    ids=[f"{b or 'created'}->{a} {k} {'with' if r else 'without'} room" for b, a, k, r in CASES],
)
def test_every_transition_ends_with_a_room_exactly_when_the_visit_should_have_one(
    before_status: str | None, after_status: str, kind: str, has_room: bool
) -> None:
    before = doc(before_status, kind, ROOM if has_room else None) if before_status else None
    after = doc(after_status, kind, ROOM if has_room else None)
    action = decide(before, after, after)
    result = apply(after, action)
    # The room was seen on a room-less state (pending, cancelled, in person) on either side: retired.
    retired = has_room and any(
        d is not None and (d["type"] != "video" or d["status"] in ("pending", "cancelled")) for d in (before, after)
    )

    if kind == "video" and after_status == "confirmed":
        assert "video" in result
        assert (result["video"]["roomName"] == ROOM) == (has_room and not retired)
    elif kind == "video" and after_status == "completed":
        assert ("video" in result) == (has_room and not retired)
    else:
        assert "video" not in result
    # A second look changes nothing.
    assert decide(after, result, result) is Action.NOTHING


def test_room_names_are_32_lowercase_base32_characters() -> None:
    for _ in range(1000):
        name = new_room_name()
        assert len(name) == ROOM_NAME_LENGTH
        assert set(name) <= ROOM_NAME_ALPHABET
        assert name == name.lower()


def test_room_names_carry_at_least_128_bits() -> None:
    # 32 symbols of a 32-letter alphabet: 5 bits each.
    assert ROOM_NAME_LENGTH * 5 >= 128
    assert len(ROOM_NAME_ALPHABET) == 32


def test_100k_room_names_are_all_distinct() -> None:
    names = {new_room_name() for _ in range(100_000)}
    assert len(names) == 100_000


def test_room_names_come_from_the_secrets_module_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def fixed_bytes(count: int) -> bytes:
        asked.append(count)
        return bytes(range(count))

    monkeypatch.setattr("telehealth.rooms.secrets.token_bytes", fixed_bytes)

    assert new_room_name() == "aaaqeayeaudaocajbifqydiob4ibceqt"
    assert asked == [20]


RETIREMENTS: list[Any] = [
    pytest.param(doc("confirmed", room=ROOM), doc("cancelled", room=ROOM), {ROOM}, id="a cancellation"),
    pytest.param(doc("completed", room=ROOM), doc("completed", "in_person", room=ROOM), {ROOM}, id="made in person"),
    pytest.param(doc("confirmed", room=ROOM), doc("pending", room=ROOM), {ROOM}, id="set back to pending"),
    pytest.param(doc("cancelled"), doc("cancelled", room=ROOM), {ROOM}, id="a room written onto a cancelled one"),
    pytest.param(doc("confirmed", room=ROOM), doc("completed", room=ROOM), set(), id="completion keeps the room"),
    pytest.param(doc("pending"), doc("confirmed", room=ROOM), set(), id="a confirmation retires nothing"),
    pytest.param(doc("confirmed", room=ROOM), None, set(), id="a deletion"),
]


@pytest.mark.parametrize(("before", "after", "retired"), RETIREMENTS)
def test_rooms_seen_on_a_roomless_state_are_retired(before: Any, after: Any, retired: set[str]) -> None:
    assert retired_rooms(before, after) == retired


def test_completed_then_in_person_then_confirmed_video_never_brings_the_old_room_back() -> None:
    """The review's sequence: server-side moves that raced ahead of the in-person event's delivery."""
    completed, in_person = doc("completed", room=ROOM), doc("completed", "in_person", room=ROOM)
    reconfirmed = doc("confirmed", room=ROOM)  # the stored state when the in-person event is handled
    assert decide(completed, in_person, reconfirmed) is Action.REPLACE
    # Handled in the other order, the withdrawal comes first and the confirmation assigns a new room.
    assert decide(completed, in_person, in_person) is Action.WITHDRAW
    assert decide(in_person, doc("confirmed"), doc("confirmed")) is Action.ASSIGN


def test_a_roomless_state_without_video_needs_no_write() -> None:
    """Deleting a field that is not there is still a write: never plan one."""
    assert decide(doc("pending"), doc("cancelled"), doc("cancelled")) is Action.NOTHING
    assert decide(doc("confirmed", room=ROOM), doc("cancelled"), doc("cancelled")) is Action.NOTHING


def test_a_room_removed_in_the_same_write_that_left_confirmed_is_retired() -> None:
    """A server cancelling and deleting video at once: the room in `before` is retired all the same."""
    assert retired_rooms(doc("confirmed", room=ROOM), doc("cancelled")) == {ROOM}
    assert decide(doc("confirmed", room=ROOM), doc("cancelled"), doc("confirmed", room=ROOM)) is Action.REPLACE


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({"type": "video", "status": "cancelled", "video": {"roomName": "s" * 32}}, id="a room"),
        pytest.param({"type": "video", "status": "pending", "video": {}}, id="an empty video map"),
        pytest.param({"type": "in_person", "status": "confirmed", "video": "junk"}, id="a malformed video field"),
    ],
)
def test_a_room_less_state_found_with_any_video_field_is_cleaned_even_on_an_unrelated_event(
    stored: dict[str, Any],
) -> None:
    """The event (an old one: confirmed, unchanged) retires nothing; what is stored decides."""
    event_side = {"type": "video", "status": "confirmed", "video": {"roomName": "e" * 32}}
    assert decide(event_side, event_side, stored) is Action.WITHDRAW


def test_a_visit_completed_with_other_times_keeps_its_room_as_a_record() -> None:
    """Only a confirmed visit that stays confirmed is moved to a new meeting; completing it is no move."""
    confirmed = {"type": "video", "status": "confirmed", "startTime": 1, "endTime": 2, "video": {"roomName": "r" * 32}}
    completed = {**confirmed, "status": "completed", "endTime": 3}
    assert decide(confirmed, completed, completed) is Action.NOTHING
    assert retired_rooms(confirmed, completed) == frozenset()
