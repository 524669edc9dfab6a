"""get_join_token over real HTTP in the Functions emulator, as real Auth-emulator users."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import emulator_api as emu
import jwt
import pytest
from conftest import all_documents
from google.cloud import firestore


def seed(db: firestore.Client, people: dict[str, emu.User], doc_id: str, **changes: Any) -> dict[str, Any]:
    """An appointment written as admin with its room already in place (no trigger write follows)."""
    room = {
        "roomName": "k" * 32,
        "provider": "jitsi",
        "roomUrl": "https://meet.example.test/" + "k" * 32,
        "doctorJoinedAt": emu.utc(),
    }  # the doctor is in: the waiting room lets the patient in
    fields = emu.video_appointment(people["doctor"].uid, people["patient"].uid, video=room) | changes
    fields = {key: value for key, value in fields.items() if value is not None}
    db.collection("appointments").document(doc_id).set(fields)
    return fields


def audit(db: firestore.Client) -> list[dict[str, Any]]:
    return [snap.to_dict() or {} for snap in db.collection("videoAccessLog").stream()]


@pytest.mark.parametrize(("who", "role", "name"), [("doctor", "moderator", "Dr. Who"), ("patient", "guest", "Patient")])
def test_each_participant_gets_a_signed_token_for_the_room_with_their_role(
    db: firestore.Client, people: dict[str, emu.User], who: str, role: str, name: str
) -> None:
    seed(db, people, "visit")
    before = int(time.time())

    answer = emu.call("get_join_token", {"appointmentId": "visit"}, people[who].id_token)

    assert answer.ok, answer
    result = answer.result
    assert set(result) == {"token", "roomName", "roomUrl", "provider", "role", "expiresAt"}
    assert (result["role"], result["provider"], result["roomName"]) == (role, "jitsi", "k" * 32)
    assert result["roomUrl"] == "https://meet.example.test/" + "k" * 32
    claims = jwt.decode(result["token"], emu.local_signing_key(), algorithms=["HS256"], audience="jitsi")
    assert claims["room"] == "k" * 32
    assert claims["sub"] == "meet.example.test"
    assert claims["iss"] == "telehealth-demo"
    assert claims["exp"] == result["expiresAt"]
    assert before - 15 <= claims["nbf"] <= before
    assert claims["exp"] <= before + 3600 + 5
    assert claims["context"]["user"]["moderator"] == ("true" if role == "moderator" else "false")
    assert claims["context"]["user"]["name"] == name
    [record] = audit(db)
    assert record["uid"] == people[who].uid
    assert (record["outcome"], record["role"], record["reason"]) == ("granted", role, "ok")
    assert record["expiresAt"] == result["expiresAt"]
    assert isinstance(record["at"], dt.datetime)
    assert result["token"] not in repr(record)


REFUSALS: list[Any] = [
    pytest.param("stranger", "visit", {}, "NOT_FOUND", None, None, id="a stranger"),
    pytest.param("patient", "missing", {}, "NOT_FOUND", None, None, id="an id that does not exist"),
    pytest.param(
        "patient",
        "visit",
        {"type": "in_person", "video": None},
        "FAILED_PRECONDITION",
        "not_video",
        "guest",
        id="in person",
    ),
    pytest.param(
        "doctor",
        "visit",
        {"status": "pending", "video": None},
        "FAILED_PRECONDITION",
        "not_confirmed",
        "moderator",
        id="pending",
    ),
    pytest.param(
        "patient",
        "visit",
        {"status": "cancelled", "video": None},
        "FAILED_PRECONDITION",
        "not_confirmed",
        "guest",
        id="cancelled",
    ),
    pytest.param(
        "patient",
        "visit",
        {"startTime": emu.utc(dt.timedelta(days=2)), "endTime": emu.utc(dt.timedelta(days=2, minutes=30))},
        "FAILED_PRECONDITION",
        "too_early",
        "guest",
        id="two days early",
    ),
    pytest.param(
        "doctor",
        "visit",
        {"startTime": emu.utc(dt.timedelta(hours=-3)), "endTime": emu.utc(dt.timedelta(hours=-2))},
        "FAILED_PRECONDITION",
        "too_late",
        "moderator",
        id="two hours late",
    ),
]


@pytest.mark.parametrize(("who", "doc_id", "changes", "status", "reason", "role"), REFUSALS)
def test_refusals_over_http_have_the_exact_code_and_leave_one_audit_record(
    db: firestore.Client,
    people: dict[str, emu.User],
    who: str,
    doc_id: str,
    changes: dict[str, Any],
    status: str,
    reason: str | None,
    role: str | None,
) -> None:
    stored = seed(db, people, "visit", **changes)
    before = all_documents(db)
    answer = emu.call("get_join_token", {"appointmentId": doc_id}, people[who].id_token)

    assert answer.status == status
    assert answer.result is None
    if reason is None:
        assert answer.details is None
    else:
        assert answer.details["reason"] == reason
    if reason == "too_early":
        assert answer.details["opensAt"] == int(stored["startTime"].timestamp()) - 15 * 60
    if reason == "too_late":
        assert answer.details["closesAt"] == int(stored["endTime"].timestamp()) + 30 * 60
    after = all_documents(db)
    logs = {path: data for path, data in after.items() if path.startswith("videoAccessLog/")}
    assert {path: data for path, data in after.items() if path not in logs} == before
    [record] = logs.values()
    assert record["appointmentId"] == doc_id
    assert record["uid"] == people[who].uid
    assert record["outcome"] == "denied"
    assert record["role"] == role
    assert record["reason"] == (reason or "not_found")
    assert "expiresAt" not in record
    expire_at = record["expireAt"] - record["at"]
    assert dt.timedelta(days=2190, seconds=-5) < expire_at < dt.timedelta(days=2190, seconds=5)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="no appointmentId"),
        pytest.param({"appointmentId": 7}, id="a number"),
        pytest.param({"appointmentId": ""}, id="empty"),
        pytest.param({"appointmentId": "a/b"}, id="a path"),
        pytest.param({"appointmentId": "z" * 200}, id="too long"),
        pytest.param({"appointmentId": "visit\u200b"}, id="a zero-width space"),
        pytest.param({"appointmentId": "vis\u00edt"}, id="a non-ASCII letter"),
        pytest.param("visit", id="a bare string payload"),
    ],
)
def test_malformed_ids_are_invalid_argument_and_write_nothing(
    db: firestore.Client, people: dict[str, emu.User], data: Any
) -> None:
    seed(db, people, "visit")
    before = all_documents(db)

    answer = emu.call("get_join_token", data, people["patient"].id_token)

    assert answer.status == "INVALID_ARGUMENT"
    assert all_documents(db) == before


def test_a_garbled_id_token_is_unauthenticated_and_writes_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    seed(db, people, "visit")
    before = all_documents(db)
    header, payload, _ = people["patient"].id_token.split(".")

    answer = emu.call("get_join_token", {"appointmentId": "visit"}, f"{header}.{payload[:-6]}garble.sig")

    assert answer.status == "UNAUTHENTICATED"
    assert all_documents(db) == before


def test_confirmed_without_a_room_yet_is_room_not_ready(db: firestore.Client, people: dict[str, emu.User]) -> None:
    # With triggers paused the room cannot arrive while we look, so the refusal is deterministic.
    emu.set_background_triggers(enabled=False)
    try:
        seed(db, people, "visit", video=None)
        before = {path: data for path, data in all_documents(db).items() if path.startswith("appointments/")}
        answer = emu.call("get_join_token", {"appointmentId": "visit"}, people["patient"].id_token)
    finally:
        emu.set_background_triggers(enabled=True)

    assert (answer.status, answer.details) == ("FAILED_PRECONDITION", {"reason": "room_not_ready"})
    [record] = audit(db)
    assert (record["outcome"], record["reason"], record["role"]) == ("denied", "room_not_ready", "guest")
    assert {path: data for path, data in all_documents(db).items() if path.startswith("appointments/")} == before
