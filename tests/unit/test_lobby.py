"""Waiting room (off, host, admit), the doctor's admission and the patient's recording consent, on mock-firestore."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from conftest import (
    NOW,
    NOW_S,
    appointment,
    jitsi_config,
    snapshot,
)
from google.cloud.firestore import SERVER_TIMESTAMP
from mockfirestore import MockFirestore
from support.callables import CALLERS
from support.callables import policy as open_policy
from support.configs import video_config

from telehealth import gate, join, lobby
from telehealth.access import waiting_step
from telehealth.errors import VideoError, error_code
from telehealth.lifecycle import room_maker
from telehealth.rooms import Action
from telehealth.store.appointments import apply_room_lifecycle

START_S = NOW_S + 5 * 60
ROOM = {"roomName": "w" * 32, "provider": "jitsi", "roomUrl": "https://meet.clinic.test/" + "w" * 32}


def policy(mode: str = "host", features: frozenset[str] = frozenset()) -> gate.Policy:
    return open_policy(jitsi_config(waiting_room=mode, doctor_features=features))


def seed(db: MockFirestore, **video: Any) -> None:
    db.collection("appointments").document("a1").set(appointment(video={**ROOM, **video}))


def video(db: MockFirestore) -> dict[str, Any]:
    data: dict[str, Any] = db.collection("appointments").document("a1").get().to_dict()["video"]
    return data


def join_as(db: MockFirestore, who: str, mode: str = "host", features: frozenset[str] = frozenset()) -> Any:
    try:
        return join.get_join_token(
            db, caller=CALLERS[who], data={"appointmentId": "a1"}, policy=policy(mode, features), now=START_S
        )
    except VideoError as refusal:
        return (error_code(refusal), refusal.reason)


def call(db: MockFirestore, use_case: Any, who: str | None, data: Any, mode: str = "admit") -> Any:
    try:
        return use_case(db, caller=CALLERS[who] if who else None, data=data, policy=policy(mode), now=START_S)
    except VideoError as refusal:
        return (error_code(refusal), refusal.reason)


def audit(db: MockFirestore) -> list[tuple[str | None, str, str]]:
    return sorted(
        (r["role"], r["outcome"], r["reason"]) for r in (d.to_dict() for d in db.collection("videoAccessLog").stream())
    )


STEPS: list[Any] = [
    pytest.param({}, "moderator", "off", None, id="off: the doctor joins"),
    pytest.param({}, "guest", "off", None, id="off: the patient joins before the doctor"),
    pytest.param({}, "moderator", "host", "mark_doctor", id="host: the doctor's first join is stamped"),
    pytest.param({"doctorJoinedAt": NOW}, "moderator", "host", None, id="host: the doctor's later joins"),
    pytest.param({}, "guest", "host", "waiting_for_doctor", id="host: the patient waits for the doctor"),
    pytest.param({"doctorJoinedAt": NOW}, "guest", "host", None, id="host: the patient joins after the doctor"),
    pytest.param({}, "moderator", "admit", "mark_doctor", id="admit: the doctor's first join is stamped"),
    pytest.param({}, "guest", "admit", "join_lobby", id="admit: the patient enters the lobby"),
    pytest.param({"lobby": {"waitingSince": NOW}}, "guest", "admit", "waiting_for_admission", id="admit: waiting"),
    pytest.param({"admittedAt": NOW}, "guest", "admit", None, id="admit: admitted"),
    pytest.param({"deniedAt": NOW}, "guest", "admit", "admission_denied", id="admit: denied"),
    pytest.param({"admittedAt": NOW, "deniedAt": NOW}, "guest", "admit", "admission_denied", id="denial wins"),
    pytest.param({"doctorJoinedAt": NOW}, "guest", "admit", "join_lobby", id="admit: the doctor alone is not enough"),
]


@pytest.mark.parametrize(("fields", "role", "mode", "step"), STEPS)
def test_the_waiting_step_for_each_mode_and_state(
    fields: dict[str, Any], role: str, mode: str, step: str | None
) -> None:
    assert waiting_step(appointment(video={**ROOM, **fields}), role, mode) == step  # type: ignore[arg-type]


def test_host_mode_the_patient_waits_until_the_doctors_first_grant(db: MockFirestore) -> None:
    seed(db)
    assert join_as(db, "patient") == ("failed-precondition", "waiting_for_doctor")
    assert "doctorJoinedAt" not in video(db)

    assert join_as(db, "doctor")["role"] == "moderator"
    assert video(db)["doctorJoinedAt"] is SERVER_TIMESTAMP
    assert {k: v for k, v in video(db).items() if k != "doctorJoinedAt"} == ROOM

    assert join_as(db, "patient")["role"] == "guest"
    assert audit(db) == [
        ("guest", "denied", "waiting_for_doctor"),
        ("guest", "granted", "ok"),
        ("moderator", "granted", "ok"),
    ]


def test_host_mode_later_doctor_joins_write_nothing_more(db: MockFirestore) -> None:
    seed(db, doctorJoinedAt=NOW)
    before = snapshot(db)["appointments"]
    join_as(db, "doctor")
    assert snapshot(db)["appointments"] == before


def test_off_mode_lets_the_patient_in_first_and_writes_nothing_to_the_appointment(db: MockFirestore) -> None:
    seed(db)
    before = snapshot(db)["appointments"]
    assert join_as(db, "patient", "off")["role"] == "guest"
    assert join_as(db, "doctor", "off")["role"] == "moderator"
    assert snapshot(db)["appointments"] == before


def test_admit_mode_lobby_then_admission_then_denial_then_readmission(db: MockFirestore) -> None:
    seed(db)
    assert join_as(db, "patient", "admit") == ("failed-precondition", "waiting_for_admission")
    assert video(db)["lobby"] == {"waitingSince": SERVER_TIMESTAMP}
    assert join_as(db, "patient", "admit") == ("failed-precondition", "waiting_for_admission")

    assert call(db, lobby.admit_patient, "doctor", {"appointmentId": "a1", "admit": True}) == {"admitted": True}
    assert video(db)["admittedAt"] is SERVER_TIMESTAMP
    assert join_as(db, "patient", "admit")["role"] == "guest"

    assert call(db, lobby.admit_patient, "doctor", {"appointmentId": "a1", "admit": False}) == {"admitted": False}
    assert "admittedAt" not in video(db)
    assert join_as(db, "patient", "admit") == ("failed-precondition", "admission_denied")

    assert call(db, lobby.admit_patient, "doctor", {"appointmentId": "a1", "admit": True}) == {"admitted": True}
    assert "deniedAt" not in video(db)
    assert join_as(db, "patient", "admit")["role"] == "guest"
    reasons = [reason for _, _, reason in audit(db)]
    assert reasons.count("patient_admitted") == 2
    assert reasons.count("patient_denied") == 1


ADMIT_REFUSALS: list[Any] = [
    pytest.param(
        None, {"appointmentId": "a1", "admit": True}, "admit", ("unauthenticated", "unauthenticated"), id="signed out"
    ),
    pytest.param(
        "patient", {"appointmentId": "a1", "admit": True}, "admit", ("not-found", "not_found"), id="the patient"
    ),
    pytest.param(
        "stranger", {"appointmentId": "a1", "admit": True}, "admit", ("not-found", "not_found"), id="a stranger"
    ),
    pytest.param(
        "claimless doctor", {"appointmentId": "a1", "admit": True}, "admit", ("not-found", "not_found"), id="no claim"
    ),
    pytest.param(
        "doctor",
        {"appointmentId": "a1", "admit": "yes"},
        "admit",
        ("invalid-argument", "invalid_argument"),
        id="admit not a bool",
    ),
    pytest.param(
        "doctor", {"appointmentId": "a1"}, "admit", ("invalid-argument", "invalid_argument"), id="admit missing"
    ),
    pytest.param(
        "doctor",
        {"appointmentId": "a/1", "admit": True},
        "admit",
        ("invalid-argument", "invalid_argument"),
        id="bad id",
    ),
    pytest.param(
        "doctor",
        {"appointmentId": "a1", "admit": True},
        "host",
        ("failed-precondition", "admission_off"),
        id="host mode",
    ),
    pytest.param(
        "doctor", {"appointmentId": "a1", "admit": True}, "off", ("failed-precondition", "admission_off"), id="off mode"
    ),
]


@pytest.mark.parametrize(("who", "data", "mode", "answer"), ADMIT_REFUSALS)
def test_admission_refusals_change_nothing(
    db: MockFirestore, who: str | None, data: Any, mode: str, answer: tuple[str, str]
) -> None:
    seed(db)
    before = snapshot(db)["appointments"]
    assert call(db, lobby.admit_patient, who, data, mode) == answer
    assert snapshot(db)["appointments"] == before
    audited = answer[0] not in ("unauthenticated", "invalid-argument")
    assert len(audit(db)) == (1 if audited else 0)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"status": "pending", "video": None}, "not_confirmed", id="pending"),
        pytest.param({"video": None}, "room_not_ready", id="no room yet"),
        pytest.param({"type": "in_person", "video": None}, "not_video", id="in person"),
    ],
)
@pytest.mark.parametrize(
    ("use_case", "who", "data"),
    [
        pytest.param(lobby.admit_patient, "doctor", {"appointmentId": "a1", "admit": True}, id="admission"),
        pytest.param(lobby.set_recording_consent, "patient", {"appointmentId": "a1", "consent": True}, id="consent"),
    ],
)
def test_admission_and_consent_need_a_confirmed_video_visit_with_its_room(
    db: MockFirestore, fields: dict[str, Any], reason: str, use_case: Any, who: str, data: Any
) -> None:
    db.collection("appointments").document("a1").set(appointment(**fields))
    before = snapshot(db)["appointments"]
    assert call(db, use_case, who, data) == ("failed-precondition", reason)
    assert snapshot(db)["appointments"] == before


def recording(result: dict[str, Any]) -> str:
    value: str = jwt.decode(result["token"], options={"verify_signature": False})["context"]["features"]["recording"]
    return value


def test_recording_follows_the_patients_consent_at_issue_time(db: MockFirestore) -> None:
    seed(db, doctorJoinedAt=NOW)
    with_recording = frozenset({"recording"})
    assert recording(join_as(db, "doctor", features=with_recording)) == "false"

    assert call(db, lobby.set_recording_consent, "patient", {"appointmentId": "a1", "consent": True}) == {
        "consent": True
    }
    assert video(db)["recordingConsent"] == {"consent": True, "at": SERVER_TIMESTAMP}
    assert recording(join_as(db, "doctor", features=with_recording)) == "true"
    assert recording(join_as(db, "patient", features=with_recording)) == "false"
    assert recording(join_as(db, "doctor")) == "false"  # consented, but recording not configured

    assert call(db, lobby.set_recording_consent, "patient", {"appointmentId": "a1", "consent": False}) == {
        "consent": False
    }
    assert recording(join_as(db, "doctor", features=with_recording)) == "false"
    reasons = [reason for _, _, reason in audit(db)]
    assert (reasons.count("consent_given"), reasons.count("consent_withdrawn")) == (1, 1)


@pytest.mark.parametrize(
    ("who", "data", "answer"),
    [
        pytest.param("doctor", {"appointmentId": "a1", "consent": True}, ("not-found", "not_found"), id="the doctor"),
        pytest.param("stranger", {"appointmentId": "a1", "consent": True}, ("not-found", "not_found"), id="a stranger"),
        pytest.param(
            "patient", {"appointmentId": "a1", "consent": 1}, ("invalid-argument", "invalid_argument"), id="1"
        ),
        pytest.param(None, {"appointmentId": "a1", "consent": True}, ("unauthenticated", "unauthenticated"), id="anon"),
    ],
)
def test_only_the_patient_gives_consent(db: MockFirestore, who: str | None, data: Any, answer: Any) -> None:
    seed(db)
    before = snapshot(db)["appointments"]
    assert call(db, lobby.set_recording_consent, who, data) == answer
    assert snapshot(db)["appointments"] == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"doctorJoinedAt": NOW}, id="the doctor's first join"),
        pytest.param({"lobby": {"waitingSince": NOW}}, id="the patient in the lobby"),
        pytest.param({"admittedAt": NOW}, id="an admission"),
        pytest.param({"recordingConsent": {"consent": True, "at": NOW}}, id="a consent"),
    ],
)
def test_the_trigger_ignores_the_waiting_room_writes_without_reading(db: MockFirestore, change: dict[str, Any]) -> None:
    before = appointment(video=ROOM)
    after = appointment(video={**ROOM, **change})

    class NoIO:
        def collection(self, _name: str) -> Any:
            raise AssertionError("the trigger touched Firestore")

    outcome = apply_room_lifecycle(
        NoIO(), "a1", before, after, room_maker(lambda: video_config(domain="m.test", app_id="a")), "t"
    )
    assert (outcome.action, outcome.via) == (Action.NOTHING, "event")


def test_an_error_no_table_names_is_internal() -> None:
    class Unmapped(VideoError):
        """A refusal someone added without mapping it."""

    assert error_code(Unmapped()) == "internal"
    assert str(Unmapped("why")) == "why"
