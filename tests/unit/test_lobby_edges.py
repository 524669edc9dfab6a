"""The lobby's and the join's audit records and conditional writes, edge by edge: what each record holds
(appointment, role, retention, a pinned id for rate limits), which read and which precondition each
request uses, and what happens when the appointment keeps changing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
from conftest import DOCTOR
from mockfirestore import MockFirestore
from test_lobby import CALLERS, START_S, policy, seed

from telehealth import join, lobby
from telehealth.errors import AppointmentNotFound, ConcurrentUpdate, RateLimited, Unauthenticated, error_code
from telehealth.ratelimit import RateLimiter
from telehealth.store import appointments

ADMIT = {"appointmentId": "a1", "admit": True}


def records(db: MockFirestore) -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() for doc in db.collection("videoAccessLog").stream()}


def test_a_rate_limited_lobby_call_is_audited_once_under_a_pinned_id_with_its_appointment(db: MockFirestore) -> None:
    seed(db)
    limited = dataclasses.replace(policy("admit"), limiter=RateLimiter(1), audit_retention_days=7)
    lobby.admit_patient(db, caller=CALLERS["doctor"], data=ADMIT, policy=limited, now=START_S)
    for _ in range(2):
        with pytest.raises(RateLimited):
            lobby.admit_patient(db, caller=CALLERS["doctor"], data=ADMIT, policy=limited, now=START_S)

    minute = START_S // 60
    record_id = f"rate_limited-{minute}-{hashlib.sha256(DOCTOR.encode()).hexdigest()[:32]}"
    limited_records = {key: value for key, value in records(db).items() if value["reason"] == "rate_limited"}
    assert list(limited_records) == [record_id]
    record = limited_records[record_id]
    assert (record["appointmentId"], record["role"], record["outcome"]) == ("a1", None, "denied")
    assert record["expireAt"] == dt.datetime.fromtimestamp(START_S, dt.UTC) + dt.timedelta(days=7)


@pytest.mark.parametrize("admit", [True, False])
def test_lobby_records_keep_the_configured_retention(db: MockFirestore, admit: bool) -> None:
    seed(db)
    kept = dataclasses.replace(policy("admit"), audit_retention_days=7)
    lobby.admit_patient(
        db, caller=CALLERS["doctor"], data={"appointmentId": "a1", "admit": admit}, policy=kept, now=START_S
    )
    with pytest.raises(AppointmentNotFound):
        lobby.admit_patient(db, caller=CALLERS["patient"], data=ADMIT, policy=kept, now=START_S)
    expiry = dt.datetime.fromtimestamp(START_S, dt.UTC) + dt.timedelta(days=7)
    assert [record["expireAt"] for record in records(db).values()] == [expiry, expiry]


def test_a_refusal_before_the_role_is_known_is_audited_without_a_role(db: MockFirestore) -> None:
    seed(db)
    no_app_check = dataclasses.replace(policy("admit"), app_check_passes=lambda: False)
    with pytest.raises(Unauthenticated):
        lobby.admit_patient(db, caller=CALLERS["doctor"], data=ADMIT, policy=no_app_check, now=START_S)
    [record] = records(db).values()
    assert (record["role"], record["reason"]) == (None, "app_check")


def test_admitting_for_a_missing_appointment_is_not_found_and_audited(db: MockFirestore) -> None:
    with pytest.raises(AppointmentNotFound):
        lobby.admit_patient(
            db,
            caller=CALLERS["doctor"],
            data={"appointmentId": "gone", "admit": True},
            policy=policy("admit"),
            now=START_S,
        )
    [record] = records(db).values()
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
    join.get_join_token(db, caller=CALLERS["doctor"], data={"appointmentId": "a1"}, policy=policy("host"), now=START_S)
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
        use_case(db, caller=CALLERS["doctor"], data=data, policy=policy("admit"), now=START_S)
    assert error_code(caught.value) == "aborted"
    assert caught.value.details() == {"reason": "concurrent_update"}
    assert reads == ["read"] * 3
