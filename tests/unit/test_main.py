"""The deploy entry's adapters: params to settings, domain errors to HttpsError, nothing leaking into logs."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from conftest import DOCTOR, HMAC_SECRET, STRANGER, appointment
from firebase_functions import https_fn
from mockfirestore import MockFirestore

import main
from telehealth.errors import Misconfigured

DEMO_PARAMS = {
    "VIDEO_PROVIDER": "jitsi",
    "VIDEO_DOMAIN": "meet.clinic.test",
    "VIDEO_APP_ID": "clinic-app",
}


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> MockFirestore:
    for name, value in DEMO_PARAMS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VIDEO_SIGNING_KEY", HMAC_SECRET)
    fake = MockFirestore()
    monkeypatch.setitem(main._clients, "db", fake)
    return fake


def call(data: Any, uid: str | None) -> Any:
    auth = https_fn.AuthData(uid, {"uid": uid}) if uid else None
    request: https_fn.CallableRequest[Any] = https_fn.CallableRequest(data=data, raw_request=None, auth=auth)  # type: ignore[arg-type]
    # Past the SDK's HTTP and CORS wrappers to our handler, as the SDK calls it after parsing the request.
    return inspect.unwrap(main.get_join_token)(request)


def test_the_handler_grants_with_the_contracts_fields(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(main.time, "time", lambda: appointment()["startTime"].timestamp())
    db.collection("appointments").document("a1").set(appointment())

    result = call({"appointmentId": "a1"}, DOCTOR)

    assert set(result) == {"token", "roomName", "roomUrl", "provider", "role", "expiresAt"}
    assert result["role"] == "moderator"


def test_a_refusal_becomes_an_https_error_with_its_code_and_details(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment(status="pending", video=None))

    with pytest.raises(https_fn.HttpsError) as caught:
        call({"appointmentId": "a1"}, DOCTOR)

    assert caught.value.code is https_fn.FunctionsErrorCode.FAILED_PRECONDITION
    assert caught.value.details == {"reason": "not_confirmed"}


def test_not_found_carries_no_details(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment())
    with pytest.raises(https_fn.HttpsError) as caught:
        call({"appointmentId": "a1"}, STRANGER)
    assert (caught.value.code, caught.value.details) == (https_fn.FunctionsErrorCode.NOT_FOUND, None)


def test_a_weak_key_is_internal_and_the_log_names_the_problem_not_the_key(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_SIGNING_KEY", "short-but-secret")
    db.collection("appointments").document("a1").set(appointment())

    with pytest.raises(https_fn.HttpsError) as caught:
        call({"appointmentId": "a1"}, DOCTOR)

    assert caught.value.code is https_fn.FunctionsErrorCode.INTERNAL
    assert caught.value.details is None
    assert "short-but-secret" not in caught.value.message
    logs = capsys.readouterr()
    assert "too short for HS256" in logs.out + logs.err
    assert "short-but-secret" not in logs.out + logs.err


def test_an_unexpected_failure_is_internal_with_no_text_for_the_client_or_the_log(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("backend said: patient Jane Doe, token eyJabc")

    monkeypatch.setattr("telehealth.store.read_appointment", broken)

    with pytest.raises(https_fn.HttpsError) as caught:
        call({"appointmentId": "a1"}, DOCTOR)

    assert (caught.value.code, caught.value.message) == (https_fn.FunctionsErrorCode.INTERNAL, "INTERNAL")
    logs = capsys.readouterr()
    assert "RuntimeError" in logs.out + logs.err
    assert "Jane Doe" not in logs.out + logs.err


def test_the_config_is_built_once_per_distinct_set_of_params(db: MockFirestore) -> None:
    first, second = main.current_config(), main.current_config()
    assert first is second
    assert first.domain == "meet.clinic.test"


def test_a_non_numeric_time_param_fails_closed(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEO_JOIN_OPENS_MIN", "fifteen")
    with pytest.raises(Misconfigured) as caught:
        main.current_config()
    assert "fifteen" not in caught.value.problem
