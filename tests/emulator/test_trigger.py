"""assign_video_room in the Functions emulator, fired by real Firestore writes."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import emulator_api as emu
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

TRIGGER = "assign_video_room"


def pending(users: dict[str, emu.User], **changes: Any) -> dict[str, Any]:
    notes = {"notes": "unicode stays intact: Ünïcødé ✓"}
    return emu.video_appointment(users["doctor"].uid, users["patient"].uid, status="pending", **notes) | changes


def video_of(ref: firestore.DocumentReference) -> dict[str, Any] | None:
    video = (ref.get().to_dict() or {}).get("video")
    return video if isinstance(video, dict) else None


def without_video(ref: firestore.DocumentReference) -> dict[str, Any]:
    data = ref.get().to_dict() or {}
    data.pop("video", None)
    return data


def test_confirm_cancel_reconfirm_assigns_withdraws_and_assigns_a_new_room(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = db.collection("appointments").document("life")
    ref.set(pending(people))
    original = without_video(ref)

    ref.update({"status": "confirmed"})
    first = emu.wait_for(lambda: video_of(ref))
    assert first["provider"] == "jitsi"
    assert first["roomUrl"] == f"https://meet.example.test/{first['roomName']}"
    assert isinstance(first["assignedAt"], dt.datetime)
    assert without_video(ref) == original | {"status": "confirmed"}

    ref.update({"status": "cancelled"})
    emu.wait_for(lambda: True if video_of(ref) is None else None)
    assert without_video(ref) == original | {"status": "cancelled"}

    # Only a server may re-confirm a cancelled visit (the rules forbid clients); it gets a new room.
    ref.update({"status": "confirmed"})
    second = emu.wait_for(lambda: video_of(ref))
    assert second["roomName"] != first["roomName"]


def room_writes_logged() -> list[dict[str, Any]]:
    """The trigger's structured "video room updated" lines in the emulator log, parsed."""
    found = []
    with open(os.environ["EMULATOR_LOG"], encoding="utf-8", errors="replace") as log:
        for line in log:
            if '"message": "video room updated"' in line:
                found.append(json.loads(line[line.index("{") :]))
    return found


def test_a_current_confirmation_is_one_conditional_write_without_a_transaction(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = db.collection("appointments").document("one-write")
    ref.set(pending(people))
    logged = len(room_writes_logged())

    ref.update({"status": "confirmed"})
    emu.wait_for(lambda: video_of(ref))
    emu.wait_for(lambda: True if len(room_writes_logged()) > logged else None)

    assert room_writes_logged()[logged:] == [
        {"severity": "INFO", "action": "assign", "via": "precondition", "message": "video room updated"}
    ]


def test_a_visit_created_confirmed_by_a_server_gets_a_room(db: firestore.Client, people: dict[str, emu.User]) -> None:
    ref = db.collection("appointments").document("born-confirmed")
    ref.set(pending(people, status="confirmed"))
    assert len(emu.wait_for(lambda: video_of(ref))["roomName"]) == 32


def test_replaying_the_same_update_five_times_changes_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = db.collection("appointments").document("replay")
    runs = emu.finished_runs(TRIGGER)
    ref.set(pending(people))
    ref.update({"status": "confirmed"})
    video = emu.wait_for(lambda: video_of(ref))
    # Three events so far: the create, the confirmation, and the trigger's own write.
    emu.wait_for_runs(TRIGGER, runs + 3)
    settled = ref.get()

    for _ in range(5):
        ref.update({"status": "confirmed"})
    emu.wait_for_runs(TRIGGER, runs + 8)

    assert video_of(ref) == video
    assert ref.get().to_dict() == settled.to_dict()


def test_an_irrelevant_update_causes_no_trigger_write(db: firestore.Client, people: dict[str, emu.User]) -> None:
    ref = db.collection("appointments").document("irrelevant")
    runs = emu.finished_runs(TRIGGER)
    ref.set(pending(people, status="confirmed"))
    emu.wait_for(lambda: video_of(ref))
    emu.wait_for_runs(TRIGGER, runs + 2)  # the create and the trigger's own write

    result = ref.update({"notes": "moved to room 4"})
    emu.wait_for_runs(TRIGGER, runs + 3)

    assert ref.get().update_time == result.update_time


def test_a_burst_of_300_confirmations_gives_300_distinct_rooms_and_changes_nothing_else(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ids = [f"burst-{n:03d}" for n in range(300)]
    runs = emu.finished_runs(TRIGGER)
    batch = db.batch()
    for doc_id in ids:
        batch.set(db.collection("appointments").document(doc_id), pending(people, notes=f"visit {doc_id}"))
    batch.commit()
    originals = {doc_id: without_video(db.collection("appointments").document(doc_id)) for doc_id in ids}

    batch = db.batch()
    for doc_id in ids:
        batch.update(db.collection("appointments").document(doc_id), {"status": "confirmed"})
    batch.commit()

    def all_rooms() -> dict[str, str] | None:
        rooms = {}
        for snap in db.collection("appointments").where(filter=FieldFilter("status", "==", "confirmed")).stream():
            video = (snap.to_dict() or {}).get("video")
            if isinstance(video, dict):
                rooms[snap.id] = video["roomName"]
        return rooms if len(rooms) == len(ids) else None

    rooms = emu.wait_for(all_rooms, timeout=120, interval=0.5)
    assert len(set(rooms.values())) == 300
    for doc_id in ids:
        assert without_video(db.collection("appointments").document(doc_id)) == originals[doc_id] | {
            "status": "confirmed"
        }
    # Every document fires three runs (its create, its confirm, the trigger's own room write). The rooms are
    # there before the room writes' runs are done: without this barrier those 300 runs (over 20 s here) ran
    # into the next tests, whose own trigger events queued behind them against a 30 s deadline.
    emu.wait_for_runs(TRIGGER, runs + 3 * len(ids), timeout=180)


def test_confirm_and_cancel_racing_end_consistent_with_the_final_status(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    refs = [db.collection("appointments").document(f"race-{n}") for n in range(20)]
    runs = emu.finished_runs(TRIGGER)
    for ref in refs:
        ref.set(pending(people))
    for ref in refs:
        ref.update({"status": "confirmed"})
        ref.update({"status": "cancelled"})
    # Every write fires once: 3 per appointment (create, confirm, cancel), plus the trigger's own writes (a room
    # assigned for a confirmation it saw, then withdrawn). Only once all of them are done does "no room" mean the
    # race settled: before the confirmations' runs, every visit has no room anyway. Waiting for them also keeps
    # them out of the next test, whose trigger event would queue behind them (seen: its 30 s wait for a room ran
    # out while this test's runs went on).
    emu.wait_for_runs(TRIGGER, runs + 3 * len(refs))
    emu.wait_for_quiet_triggers()
    assert [video_of(ref) for ref in refs] == [None] * len(refs)
    assert all((ref.get().to_dict() or {})["status"] == "cancelled" for ref in refs)
