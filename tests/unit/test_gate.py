"""The gate every callable passes, edge by edge: the rate limit and its one record a minute, App Check and
the session before anything is read, the audit record each decision leaves (appointment, role, retention),
which read and which precondition each request uses, and what a request does when it keeps losing races."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
from conftest import NOW_S, appointment, jitsi_config
from mockfirestore import MockFirestore
from support.callables import CALLERS, DOCTOR, DOCTOR_CLAIMS, PATIENT, audit_by_id, audit_records, policy

from telehealth import gate, join, lobby
from telehealth.errors import (
    AppointmentNotFound,
    ConcurrentUpdate,
    Misconfigured,
    RateLimited,
    Unauthenticated,
    VideoError,
    error_code,
)
from telehealth.ratelimit import RateLimiter
from telehealth.store import appointments

START_S = NOW_S + 5 * 60
ROOM = {"roomName": "w" * 32, "provider": "jitsi", "roomUrl": "https://meet.clinic.test/" + "w" * 32}
ADMIT = {"appointmentId": "a1", "admit": True}
ADMIT_MODE = jitsi_config(waiting_room="admit")


def seed(db: MockFirestore, **video: Any) -> None:
    db.collection("appointments").document("a1").set(appointment(video={**ROOM, **video}))


def test_a_join_that_loses_its_waiting_room_write_reads_again_and_decides_again(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.collection("appointments").document("a1").set(appointment(video={"roomName": "r" * 32}))
    reads: list[str] = []
    real_read = appointments.read_join_context
    monkeypatch.setattr(appointments, "read_join_context", lambda *a: reads.append("read") or real_read(*a))
    answers = iter([False, True])  # the first conditional write finds the document changed
    monkeypatch.setattr(appointments, "mark_doctor_joined", lambda *_a: next(answers))

    result = join.get_join_token(
        db, caller=gate.Caller(DOCTOR, DOCTOR_CLAIMS), data={"appointmentId": "a1"}, policy=policy(), now=START_S
    )
    assert result["role"] == "moderator"
    assert reads == ["read", "read"]


def test_a_lobby_refusal_leaves_an_exact_audit_record(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment(status="pending", video=None))
    with pytest.raises(VideoError):
        lobby.set_recording_consent(
            db,
            caller=gate.Caller(PATIENT, {}),
            data={"appointmentId": "a1", "consent": True},
            policy=policy(),
            now=START_S,
        )
    [record] = audit_records(db)
    assert {k: v for k, v in record.items() if k not in ("at", "expireAt")} == {
        "appointmentId": "a1",
        "uid": PATIENT,
        "role": "guest",
        "outcome": "denied",
        "reason": "not_confirmed",
    }


def test_the_lobby_callables_share_the_rate_limit_and_read_nothing_beyond_it(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.collection("appointments").document("a1").set(appointment())
    limited = policy(limit=1)
    data = {"appointmentId": "a1", "consent": True}
    lobby.set_recording_consent(db, caller=gate.Caller(PATIENT, {}), data=data, policy=limited, now=START_S)
    monkeypatch.setattr(appointments, "read_join_context", lambda *_a: pytest.fail("read Firestore"))
    with pytest.raises(VideoError) as caught:
        lobby.set_recording_consent(db, caller=gate.Caller(PATIENT, {}), data=data, policy=limited, now=START_S)
    assert (error_code(caught.value), caught.value.details()) == ("resource-exhausted", {"retryAfter": 60})
    assert sorted(r["reason"] for r in audit_records(db)) == ["consent_given", "rate_limited"]
    assert [r["uid"] for r in audit_records(db)] == [PATIENT, PATIENT]


def test_a_revoked_session_cannot_admit_or_consent(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment())
    revoked = gate.Policy(
        settings=policy(ADMIT_MODE).settings,
        session_check=lambda: lambda: False,
        app_check_passes=lambda: True,
        limiter=RateLimiter(10),
    )
    with pytest.raises(VideoError) as caught:
        lobby.admit_patient(
            db,
            caller=gate.Caller(DOCTOR, DOCTOR_CLAIMS),
            data={"appointmentId": "a1", "admit": True},
            policy=revoked,
            now=START_S,
        )
    assert (error_code(caught.value), caught.value.reason) == ("unauthenticated", "session_revoked")
    assert "admittedAt" not in db.collection("appointments").document("a1").get().to_dict()["video"]


def test_app_check_gates_the_lobby_too(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment())
    no_app_check = gate.Policy(
        settings=policy().settings,
        session_check=lambda: lambda: True,
        app_check_passes=lambda: False,
        limiter=RateLimiter(10),
    )
    with pytest.raises(VideoError) as caught:
        lobby.set_recording_consent(
            db,
            caller=gate.Caller(PATIENT, {}),
            data={"appointmentId": "a1", "consent": True},
            policy=no_app_check,
            now=START_S,
        )
    assert (error_code(caught.value), caught.value.reason) == ("unauthenticated", "app_check")
    assert "recordingConsent" not in db.collection("appointments").document("a1").get().to_dict()["video"]


def test_a_uid_with_a_slash_still_gets_its_one_rate_limited_record(db: MockFirestore) -> None:
    """Custom-auth uids may hold '/': the record id is hashed, so it stays one document id."""
    limited = policy(limit=1)
    caller = gate.Caller("tenant/user-7", {})
    for _ in range(3):
        with pytest.raises(VideoError):
            join.get_join_token(db, caller=caller, data={"appointmentId": "a1"}, policy=limited, now=START_S)
    records = [r for r in audit_records(db) if r["reason"] == "rate_limited"]
    assert [r["uid"] for r in records] == ["tenant/user-7"]
    [doc_id] = [d.id for d in db.collection("videoAccessLog").stream() if d.to_dict()["reason"] == "rate_limited"]
    assert "/" not in doc_id


def test_a_rate_limited_lobby_call_is_audited_once_under_a_pinned_id_with_its_appointment(db: MockFirestore) -> None:
    seed(db)
    limited = dataclasses.replace(policy(ADMIT_MODE), limiter=RateLimiter(1), audit_retention_days=7)
    lobby.admit_patient(db, caller=CALLERS["doctor"], data=ADMIT, policy=limited, now=START_S)
    for _ in range(2):
        with pytest.raises(RateLimited):
            lobby.admit_patient(db, caller=CALLERS["doctor"], data=ADMIT, policy=limited, now=START_S)

    minute = START_S // 60
    record_id = f"rate_limited-{minute}-{hashlib.sha256(DOCTOR.encode()).hexdigest()[:32]}"
    limited_records = {key: value for key, value in audit_by_id(db).items() if value["reason"] == "rate_limited"}
    assert list(limited_records) == [record_id]
    record = limited_records[record_id]
    assert (record["appointmentId"], record["role"], record["outcome"]) == ("a1", None, "denied")
    assert record["expireAt"] == dt.datetime.fromtimestamp(START_S, dt.UTC) + dt.timedelta(days=7)


@pytest.mark.parametrize("admit", [True, False])
def test_lobby_records_keep_the_configured_retention(db: MockFirestore, admit: bool) -> None:
    seed(db)
    kept = dataclasses.replace(policy(ADMIT_MODE), audit_retention_days=7)
    lobby.admit_patient(
        db, caller=CALLERS["doctor"], data={"appointmentId": "a1", "admit": admit}, policy=kept, now=START_S
    )
    with pytest.raises(AppointmentNotFound):
        lobby.admit_patient(db, caller=CALLERS["patient"], data=ADMIT, policy=kept, now=START_S)
    expiry = dt.datetime.fromtimestamp(START_S, dt.UTC) + dt.timedelta(days=7)
    assert [record["expireAt"] for record in audit_by_id(db).values()] == [expiry, expiry]


def test_a_refusal_before_the_role_is_known_is_audited_without_a_role(db: MockFirestore) -> None:
    seed(db)
    no_app_check = dataclasses.replace(policy(ADMIT_MODE), app_check_passes=lambda: False)
    with pytest.raises(Unauthenticated):
        lobby.admit_patient(db, caller=CALLERS["doctor"], data=ADMIT, policy=no_app_check, now=START_S)
    [record] = audit_by_id(db).values()
    assert (record["role"], record["reason"]) == (None, "app_check")


def test_admitting_for_a_missing_appointment_is_not_found_and_audited(db: MockFirestore) -> None:
    with pytest.raises(AppointmentNotFound):
        lobby.admit_patient(
            db,
            caller=CALLERS["doctor"],
            data={"appointmentId": "gone", "admit": True},
            policy=policy(ADMIT_MODE),
            now=START_S,
        )
    [record] = audit_by_id(db).values()
    assert (record["appointmentId"], record["role"], record["reason"]) == ("gone", None, "not_found")


def test_the_patients_consent_reads_no_directory_entry_and_writes_on_what_it_read(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    seen: dict[str, Any] = {}
    real_read = appointments.read_join_context

    def read(database: Any, appointment_id: str, doctor_uid: str | None) -> appointments.JoinContext:
        seen["doctor_uid"] = doctor_uid
        return dataclasses.replace(real_read(database, appointment_id, doctor_uid), update_time="read-at-7")

    def update(_db: Any, _appointment_id: str, _consent: bool, read_at: Any) -> bool:
        seen["read_at"] = read_at
        return True

    monkeypatch.setattr(appointments, "read_join_context", read)
    monkeypatch.setattr(appointments, "record_consent", update)
    lobby.set_recording_consent(
        db, caller=CALLERS["patient"], data={"appointmentId": "a1", "consent": True}, policy=policy(), now=START_S
    )
    assert seen == {"doctor_uid": None, "read_at": "read-at-7"}


def test_the_doctors_first_join_is_stamped_only_if_the_appointment_is_as_read(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    real_read = appointments.read_join_context
    read_ats: list[Any] = []
    monkeypatch.setattr(
        appointments,
        "read_join_context",
        lambda *args: dataclasses.replace(real_read(*args), update_time="read-at-9"),
    )
    monkeypatch.setattr(appointments, "mark_doctor_joined", lambda _db, _id, read_at: read_ats.append(read_at) or True)
    join.get_join_token(db, caller=CALLERS["doctor"], data={"appointmentId": "a1"}, policy=policy(), now=START_S)
    assert read_ats == ["read-at-9"]


@pytest.mark.parametrize(
    ("use_case", "write", "data"),
    [
        pytest.param(lobby.admit_patient, "record_admission", ADMIT, id="lobby"),
        pytest.param(join.get_join_token, "mark_doctor_joined", {"appointmentId": "a1"}, id="join"),
    ],
)
def test_a_request_that_keeps_losing_its_race_gives_up_as_aborted_after_three_reads(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, use_case: Any, write: str, data: Any
) -> None:
    seed(db)
    reads: list[str] = []
    real_read = appointments.read_join_context
    monkeypatch.setattr(appointments, "read_join_context", lambda *a: reads.append("read") or real_read(*a))
    monkeypatch.setattr(appointments, write, lambda *_a: False)
    with pytest.raises(ConcurrentUpdate) as caught:
        use_case(db, caller=CALLERS["doctor"], data=data, policy=policy(ADMIT_MODE), now=START_S)
    assert error_code(caught.value) == "aborted"
    assert caught.value.details() == {"reason": "concurrent_update"}
    assert reads == ["read"] * 3


def test_a_patient_whose_lobby_entry_loses_its_race_reads_again_on_what_it_read(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    read_ats: list[Any] = []
    answers = iter([False, True])  # the first entry finds the document changed (an admission, say)
    real_read = appointments.read_join_context
    monkeypatch.setattr(
        appointments, "read_join_context", lambda *a: dataclasses.replace(real_read(*a), update_time="read-at-3")
    )
    monkeypatch.setattr(
        appointments, "enter_lobby", lambda _db, _id, read_at: read_ats.append(read_at) or next(answers)
    )
    with pytest.raises(VideoError) as refused:
        join.get_join_token(
            db, caller=CALLERS["patient"], data={"appointmentId": "a1"}, policy=policy(ADMIT_MODE), now=START_S
        )
    assert refused.value.reason == "waiting_for_admission"
    assert read_ats == ["read-at-3", "read-at-3"]


@pytest.mark.parametrize(
    ("use_case", "data", "message"),
    [
        pytest.param(
            lobby.set_recording_consent,
            {"appointmentId": "a1", "consent": "yes"},
            "consent must be true or false.",
            id="consent",
        ),
        pytest.param(lobby.admit_patient, {"appointmentId": "a1"}, "admit must be true or false.", id="admit"),
    ],
)
def test_a_malformed_answer_is_refused_by_name_before_anything_is_read_or_written(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, use_case: Any, data: Any, message: str
) -> None:
    seed(db)
    monkeypatch.setattr(appointments, "read_join_context", lambda *_a: pytest.fail("read Firestore"))
    who = "patient" if use_case is lobby.set_recording_consent else "doctor"
    with pytest.raises(VideoError) as refused:
        use_case(db, caller=CALLERS[who], data=data, policy=policy(ADMIT_MODE), now=START_S)
    assert (error_code(refused.value), refused.value.message) == ("invalid-argument", message)
    assert audit_records(db) == []


@pytest.mark.parametrize("reuse", [0, 300])
def test_the_session_reuse_bound_takes_0_to_300_seconds(reuse: int) -> None:
    values = {"VIDEO_JOIN_RATE_PER_MIN": 20, "VIDEO_AUDIT_RETENTION_DAYS": 1, "VIDEO_ENFORCE_APP_CHECK": False}
    assert gate.policy_limits({**values, "VIDEO_SESSION_CHECK_S": reuse}) == (20, 1, reuse)


@pytest.mark.parametrize("reuse", [-1, 301])
def test_a_session_reuse_bound_outside_0_to_300_is_refused_by_name(reuse: int) -> None:
    values = {"VIDEO_JOIN_RATE_PER_MIN": 20, "VIDEO_AUDIT_RETENTION_DAYS": 1, "VIDEO_ENFORCE_APP_CHECK": False}
    with pytest.raises(Misconfigured) as caught:
        gate.policy_limits({**values, "VIDEO_SESSION_CHECK_S": reuse})
    assert caught.value.problem == "VIDEO_SESSION_CHECK_S must be between 0 and 300 seconds"
