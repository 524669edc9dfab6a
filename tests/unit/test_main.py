"""The deploy entry through the functions SDK's own HTTP wrapper: params, identity, App Check, errors, logs.

Requests are real Flask requests handed to the decorated function, as the functions framework does.
Two outside services are replaced offline: the Auth API's ID-token check (a table of fake tokens, so
revocation and disabled accounts can be said) and App Check's key set (a locally generated RSA key,
as ``shared/second-round-facts.md`` describes), plus App Check's consume endpoint for replays.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import google.auth.credentials
import jwt
import pytest
from conftest import DOCTOR, DOCTOR_CLAIMS, HMAC_SECRET, PATIENT, STRANGER, appointment, snapshot
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import app_check, auth, credentials, get_app
from firebase_functions import firestore_fn
from mockfirestore import MockFirestore
from support.fakes import FakeDB, serial_transactional

import main
from telehealth.errors import Misconfigured, NotJoinable
from telehealth.ratelimit import redemption_limiter, shared_limiter
from telehealth.sessions import SessionChecks, shared_checks
from telehealth.store import guests as guest_store

PROJECT = "demo-telehealth"
DEMO_PARAMS = {
    "VIDEO_PROVIDER": "jitsi",
    "VIDEO_DOMAIN": "meet.clinic.test",
    "VIDEO_APP_ID": "clinic-app",
    "GOOGLE_CLOUD_PROJECT": PROJECT,
}
# Fake ID tokens: "<uid>" or "<uid>:revoked" / "<uid>:disabled" / "<uid>:deleted".
ACCOUNTS = {DOCTOR: DOCTOR_CLAIMS, PATIENT: {"name": "Pat"}, STRANGER: {}}


def fake_verify_id_token(token: str, app: Any = None, check_revoked: bool = False, **_: Any) -> dict[str, Any]:
    uid, _, state = token.partition(":")
    if uid not in ACCOUNTS:
        raise auth.InvalidIdTokenError("not a token of this test", cause=None, http_response=None)
    if check_revoked and state == "revoked":
        raise auth.RevokedIdTokenError("revoked")
    if check_revoked and state == "disabled":
        raise auth.UserDisabledError("disabled")
    if check_revoked and state == "deleted":
        raise auth.UserNotFoundError("deleted")
    return {"uid": uid, "sub": uid, **ACCOUNTS[uid]}


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> MockFirestore:
    for name, value in DEMO_PARAMS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VIDEO_SIGNING_KEY", HMAC_SECRET)
    monkeypatch.setattr(auth, "verify_id_token", fake_verify_id_token)
    shared_limiter.cache_clear()
    shared_checks.cache_clear()  # each test's instance starts with no session answer to reuse
    fake = MockFirestore()
    fake.collection("doctors").document(DOCTOR).set({"displayName": "Dr. Ada", "active": True})
    fake.collection("appointments").document("a1").set(open_now())
    monkeypatch.setitem(main._clients, "db", fake)
    return fake


def open_now(**fields: Any) -> dict[str, Any]:
    """The conftest appointment, moved so that its join window is open at the real clock's now."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)
    return appointment(startTime=start, endTime=start + dt.timedelta(minutes=30), **fields)


def call(data: Any, id_token: str | None, app_check_token: str | None = None, body: Any = None) -> dict[str, Any]:
    """POST a callable request through the SDK's wrapper; the JSON answer (``result`` or ``error``)."""
    headers = {"Content-Type": "application/json"}
    if id_token:
        headers["Authorization"] = f"Bearer {id_token}"
    if app_check_token:
        headers["X-Firebase-AppCheck"] = app_check_token
    with flask.Flask("test").test_request_context(
        "/", method="POST", json=body if body is not None else {"data": data}, headers=headers
    ):
        response = main.get_join_token(flask.request)
        answer: dict[str, Any] = response.get_json()
    return answer


def error_of(answer: dict[str, Any]) -> tuple[str, Any]:
    return answer["error"]["status"], answer["error"].get("details")


def audit(db: MockFirestore) -> list[dict[str, Any]]:
    return [doc.to_dict() for doc in db.collection("videoAccessLog").stream()]


def test_the_doctor_and_the_patient_get_their_roles(db: MockFirestore) -> None:
    doctor, patient = call({"appointmentId": "a1"}, DOCTOR)["result"], call({"appointmentId": "a1"}, PATIENT)["result"]
    assert set(doctor) == {"token", "roomName", "roomUrl", "provider", "role", "expiresAt"}
    assert (doctor["role"], patient["role"]) == ("moderator", "guest")
    names = [
        jwt.decode(r["token"], options={"verify_signature": False})["context"]["user"]["name"]
        for r in (doctor, patient)
    ]
    assert names == ["Dr. Ada", "Pat · patient"]


def test_a_refusal_becomes_an_https_error_with_its_code_and_details(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(open_now(status="pending", video=None))
    assert error_of(call({"appointmentId": "a1"}, DOCTOR)) == ("FAILED_PRECONDITION", {"reason": "not_confirmed"})


def test_not_found_carries_no_details(db: MockFirestore) -> None:
    assert error_of(call({"appointmentId": "a1"}, STRANGER)) == ("NOT_FOUND", None)


@pytest.mark.parametrize("body", [{"data": {"appointmentId": "a1"}}, {"data": "a1"}, {"data": None}])
def test_signed_out_is_unauthenticated_and_touches_nothing(db: MockFirestore, body: Any) -> None:
    before = snapshot(db)
    answer = call(None, None, body=body)
    assert error_of(answer) == ("UNAUTHENTICATED", None)
    assert snapshot(db) == before


@pytest.mark.parametrize("state", ["revoked", "disabled", "deleted"])
def test_a_revoked_disabled_or_deleted_account_is_unauthenticated_at_once(db: MockFirestore, state: str) -> None:
    answer = call({"appointmentId": "a1"}, f"{DOCTOR}:{state}")
    assert error_of(answer) == ("UNAUTHENTICATED", None)
    assert [(r["uid"], r["reason"]) for r in audit(db)] == [(DOCTOR, "session_revoked")]


def test_a_live_session_answer_is_reused_only_for_its_own_account(db: MockFirestore) -> None:
    """The doctor's fresh "live" answer must not let the patient's revoked session in."""
    assert call({"appointmentId": "a1"}, DOCTOR)["result"]["role"] == "moderator"
    answer = call({"appointmentId": "a1"}, f"{PATIENT}:revoked")
    assert error_of(answer) == ("UNAUTHENTICATED", None)
    assert sorted((r["uid"], r["reason"]) for r in audit(db)) == [(DOCTOR, "ok"), (PATIENT, "session_revoked")]


class Revocations:
    """The Auth API's revocation check on a frozen clock: who is revoked now, and every token it was asked about."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now, self.revoked, self.asked = 1_000.0, set[str](), list[str]()
        checks = SessionChecks(60, clock=lambda: self.now)  # VIDEO_SESSION_CHECK_S's default
        monkeypatch.setattr(main.sessions, "shared_checks", lambda seconds: checks)

        def verify(token: str, app: Any = None, check_revoked: bool = False, **_: Any) -> dict[str, Any]:
            if check_revoked:
                self.asked.append(token)
                if token in self.revoked:
                    raise auth.RevokedIdTokenError("revoked")
            return fake_verify_id_token(token, app)

        monkeypatch.setattr(auth, "verify_id_token", verify)


def test_a_revoked_patient_is_refused_once_the_bound_since_their_last_live_check_has_passed(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Revocations(monkeypatch)
    assert call({"appointmentId": "a1"}, PATIENT)["result"]["role"] == "guest"
    clock.revoked.add(PATIENT)  # e.g. disabled in the console right after a live check
    clock.now += 59.9
    assert call({"appointmentId": "a1"}, PATIENT)["result"]["role"] == "guest"  # inside the bound: not asked
    clock.now += 0.1
    assert error_of(call({"appointmentId": "a1"}, PATIENT)) == ("UNAUTHENTICATED", None)  # at the bound: asked
    assert clock.asked == [PATIENT, PATIENT]
    assert [r["reason"] for r in audit(db)].count("session_revoked") == 1


def test_a_removed_doctor_is_refused_at_once_even_while_their_live_check_is_reused(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Revocations(monkeypatch)
    assert call({"appointmentId": "a1"}, DOCTOR)["result"]["role"] == "moderator"
    # scripts/clinic remove-doctor: the entry goes inactive first, then the claim goes and the sessions are revoked.
    db.collection("doctors").document(DOCTOR).set({"displayName": "Dr. Ada", "active": False})
    clock.revoked.add(DOCTOR)
    clock.now += 1
    assert error_of(call({"appointmentId": "a1"}, DOCTOR)) == ("NOT_FOUND", None)
    assert clock.asked == [DOCTOR]  # refused through the directory read, not the Auth API
    assert sorted(r["reason"] for r in audit(db)) == ["not_found", "ok"]


def test_an_invalid_id_token_is_refused_by_the_sdk_before_our_code(db: MockFirestore) -> None:
    before = snapshot(db)
    assert error_of(call({"appointmentId": "a1"}, "someone-made-this-up")) == ("UNAUTHENTICATED", None)
    assert snapshot(db) == before


def test_the_rate_limit_answers_resource_exhausted_with_retry_after(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_JOIN_RATE_PER_MIN", "2")
    # One instant for all four calls: on the real clock a second can pass between them (retryAfter 59).
    instant = float(int(time.time()))
    monkeypatch.setattr(main.time, "time", lambda: instant)
    answers = [call({"appointmentId": "a1"}, PATIENT) for _ in range(4)]
    assert ["result" in a for a in answers] == [True, True, False, False]
    status, details = error_of(answers[2])
    assert status == "RESOURCE_EXHAUSTED"
    assert details == {"retryAfter": 60}
    assert sorted(r["reason"] for r in audit(db)) == ["ok", "ok", "rate_limited"]


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_an_unusable_rate_param_fails_closed(db: MockFirestore, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("VIDEO_JOIN_RATE_PER_MIN", value)
    assert error_of(call({"appointmentId": "a1"}, PATIENT)) == ("INTERNAL", None)


def test_a_weak_key_is_internal_and_the_log_names_the_problem_not_the_key(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_SIGNING_KEY", "short-but-secret")
    answer = call({"appointmentId": "a1"}, DOCTOR)
    assert error_of(answer) == ("INTERNAL", None)
    assert "short-but-secret" not in repr(answer)
    logs = capsys.readouterr()
    assert "too short for HS256" in logs.out + logs.err
    assert "short-but-secret" not in logs.out + logs.err


def test_an_unexpected_failure_is_internal_and_logs_its_class_and_stack_not_its_text(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        # Built at run time, so that the stack's source lines (code, never data) cannot hold it.
        raise RuntimeError("backend said: patient " + "Jane" + " Doe, token " + "eyJ" + "abc")

    monkeypatch.setattr("telehealth.store.appointments.read_join_context", broken)
    answer = call({"appointmentId": "a1"}, DOCTOR)
    assert answer["error"] == {"status": "INTERNAL", "message": "INTERNAL"}
    logs = capsys.readouterr()
    assert "RuntimeError" in logs.out + logs.err
    assert "in broken" in logs.out + logs.err  # the stack, down to the failing function
    assert "Jane Doe" not in logs.out + logs.err
    assert "eyJabc" not in logs.out + logs.err


def test_the_config_is_built_once_per_distinct_set_of_params(db: MockFirestore) -> None:
    first, second = main.current_config(), main.current_config()
    assert first is second
    assert first.domain == "meet.clinic.test"


def test_a_non_numeric_time_param_fails_closed(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEO_JOIN_OPENS_MIN", "fifteen")
    with pytest.raises(Misconfigured) as caught:
        main.current_config()
    assert "fifteen" not in caught.value.problem


def test_params_and_settings_are_parsed_once_per_distinct_set_of_raw_values(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[bool] = []
    real_read = main.read_values
    monkeypatch.setattr(main, "read_values", lambda params, strict: parsed.append(strict) or real_read(params, strict))
    main._parsed_params.cache_clear()
    main._settings_for.cache_clear()

    settings = main.current_settings()
    assert main.current_settings() is settings
    assert main.param_values(strict=False) == main.param_values(strict=False)
    assert sorted(parsed) == [False, True]  # once each, strict and not
    values = main.param_values(strict=False)
    values["VIDEO_DOMAIN"] = "changed.by.a.caller"  # each caller gets its own copy
    assert main.param_values(strict=False)["VIDEO_DOMAIN"] == "meet.clinic.test"

    monkeypatch.setenv("VIDEO_DOMAIN", "meet.other.test")  # any raw value changed: parsed again
    assert main.current_settings().config.domain == "meet.other.test"
    monkeypatch.setenv("VIDEO_SIGNING_KEY", HMAC_SECRET + "-rotated")  # a new key: new settings
    assert main.current_settings().signing_key != settings.signing_key


def test_a_join_reads_the_params_environment_once(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[tuple[str | None, ...]] = []
    real_raw = main._raw_params
    monkeypatch.setattr(main, "_raw_params", lambda: reads.append(real_raw()) or reads[-1])
    assert call({"appointmentId": "a1"}, PATIENT)["result"]["role"] == "guest"
    assert len(reads) == 1  # the policy and the settings both come from this one read


def test_a_param_that_does_not_parse_fails_closed_on_every_request(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_TOKEN_TTL_MIN", "sixty")
    for _ in range(2):  # a failure is never cached as an answer
        with pytest.raises(Misconfigured):
            main.current_settings()
    assert "VIDEO_TOKEN_TTL_MIN" not in main.param_values(strict=False)
    monkeypatch.setenv("VIDEO_TOKEN_TTL_MIN", "60")
    assert main.current_settings().config.domain == "meet.clinic.test"


def test_every_function_declares_max_instances_from_its_param_and_the_trigger_retries() -> None:
    for function in (main.get_join_token, main.admit_patient, main.set_recording_consent, main.assign_video_room):
        assert function.__firebase_endpoint__.maxInstances == "{{ params.VIDEO_MAX_INSTANCES }}"
    assert main.assign_video_room.__firebase_endpoint__.eventTrigger["retry"] is True


def test_the_callables_serve_as_the_load_bench_chose_and_threads_match() -> None:
    for function in (main.get_join_token, main.admit_patient, main.set_recording_consent):
        endpoint = function.__firebase_endpoint__
        assert (endpoint.concurrency, endpoint.cpu, endpoint.availableMemoryMb) == (8, 1, 256)
    demo_env = (Path(__file__).resolve().parents[2] / "scripts" / "demo.env").read_text().splitlines()
    assert f"THREADS={main.SERVING['concurrency']}" in demo_env


class _AnonymousCredential(credentials.Base):  # type: ignore[misc]
    """Stands in for Application Default Credentials, which a machine without a Google account lacks."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()


class AppCheckWorld:
    """A local App Check: our RSA key stands in for its key set, and a set of seen tokens for its consume API."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.consumed: set[str] = set()
        self.consume_calls = 0

    def token(self, key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://firebaseappcheck.googleapis.com/123456",
            "aud": ["projects/123456", f"projects/{PROJECT}"],
            "sub": "1:123456:web:clinicapp",
            "iat": now,
            "exp": now + 3600,
        } | overrides
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "local-key"})

    def consume(self, method: str, url: str, json: dict[str, Any]) -> dict[str, Any]:
        assert (method, url) == (
            "post",
            f"https://firebaseappcheck.googleapis.com/v1beta/projects/{PROJECT}:verifyAppCheckToken",
        )
        self.consume_calls += 1
        token = json["app_check_token"]
        already = token in self.consumed
        self.consumed.add(token)
        return {"alreadyConsumed": already}


@pytest.fixture
def world(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppCheckWorld]:
    here = AppCheckWorld()
    app = get_app()
    monkeypatch.setattr(app, "_credential", _AnonymousCredential())
    app._services.pop("_app_check", None)  # a fresh service on the stand-in credential
    service = app_check._get_app_check_service(app)

    class Found:
        key = here.key.public_key()

    monkeypatch.setattr(service._jwks_client, "get_signing_key_from_jwt", lambda _token: Found())
    monkeypatch.setattr(service._http_client, "body", here.consume)
    yield here
    app._services.pop("_app_check", None)


def test_app_check_off_lets_a_request_without_a_token_through(world: AppCheckWorld) -> None:
    assert call({"appointmentId": "a1"}, PATIENT)["result"]["role"] == "guest"


APP_CHECK_REFUSALS = [
    pytest.param(lambda w: None, id="no token"),
    pytest.param(lambda w: w.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), id="forged"),
    pytest.param(lambda w: w.token(exp=int(time.time()) - 10), id="expired"),
    pytest.param(lambda w: w.token(aud=["projects/999", "projects/another-project"]), id="another project's app"),
    pytest.param(lambda w: w.token(iss="https://attacker.example/123456"), id="wrong issuer"),
]


@pytest.mark.parametrize("make", APP_CHECK_REFUSALS)
def test_app_check_enforced_refuses_bad_tokens_as_unauthenticated(
    db: MockFirestore, world: AppCheckWorld, monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    monkeypatch.setenv("VIDEO_ENFORCE_APP_CHECK", "true")
    answer = call({"appointmentId": "a1"}, PATIENT, make(world))
    assert error_of(answer) == ("UNAUTHENTICATED", None)
    assert [(r["uid"], r["reason"]) for r in audit(db)] == [(PATIENT, "app_check")]


def test_app_check_enforced_lets_a_valid_token_through_without_consuming_it(
    world: AppCheckWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_ENFORCE_APP_CHECK", "true")
    token = world.token()
    assert call({"appointmentId": "a1"}, PATIENT, token)["result"]["role"] == "guest"
    assert call({"appointmentId": "a1"}, PATIENT, token)["result"]["role"] == "guest"
    assert world.consume_calls == 0


def test_replay_protection_consumes_a_token_and_refuses_its_replay(
    db: MockFirestore, world: AppCheckWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_ENFORCE_APP_CHECK", "true")
    monkeypatch.setenv("VIDEO_APP_CHECK_REPLAY", "true")
    token = world.token()
    first = call({"appointmentId": "a1"}, PATIENT, token)
    replay = call({"appointmentId": "a1"}, PATIENT, token)
    fresh = call({"appointmentId": "a1"}, PATIENT, world.token(jti="another"))

    assert first["result"]["role"] == "guest"
    assert error_of(replay) == ("UNAUTHENTICATED", None)
    assert fresh["result"]["role"] == "guest"
    assert world.consume_calls == 3
    assert sorted(r["reason"] for r in audit(db)) == ["app_check", "ok", "ok"]


@pytest.mark.parametrize(
    ("rate", "days", "ok"),
    [
        pytest.param("1", "1", True, id="the smallest usable values"),
        pytest.param("0", "1", False, id="no joins at all"),
        pytest.param("1", "0", False, id="no retention"),
        pytest.param("20", "-5", False, id="negative retention"),
    ],
)
def test_the_abuse_params_edges(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, rate: str, days: str, ok: bool
) -> None:
    monkeypatch.setenv("VIDEO_JOIN_RATE_PER_MIN", rate)
    monkeypatch.setenv("VIDEO_AUDIT_RETENTION_DAYS", days)
    answer = call({"appointmentId": "a1"}, PATIENT)
    assert ("result" in answer) is ok
    if not ok:
        assert error_of(answer) == ("INTERNAL", None)


# What an on-call engineer reads: every log line of the callables' outcomes, exactly -----------------------


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The structured log lines written so far (the SDK's logger prints one JSON object per line)."""
    logs = capsys.readouterr()
    return [json.loads(line) for line in (logs.out + logs.err).splitlines() if line.startswith("{")]


def test_a_refusal_logs_its_reason_and_answers_the_refusals_own_message(
    db: MockFirestore, capsys: pytest.CaptureFixture[str]
) -> None:
    db.collection("appointments").document("a1").set(open_now(status="pending", video=None))
    answer = call({"appointmentId": "a1"}, DOCTOR)
    assert answer["error"]["message"] == NotJoinable("not_confirmed").message
    assert {"severity": "INFO", "message": "join refused", "reason": "not_confirmed"} in records(capsys)


def test_unusable_settings_log_the_function_and_the_problem(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_SIGNING_KEY", "short-but-secret")
    answer = call({"appointmentId": "a1"}, DOCTOR)
    assert answer["error"] == {"status": "INTERNAL", "message": "The video service is not available."}
    [line] = [r for r in records(capsys) if r["severity"] == "ERROR"]
    assert line == {
        "severity": "ERROR",
        "message": "join refused: video settings unusable",
        "function": "join",
        "problem": "VIDEO_SIGNING_KEY is too short for HS256: 16 bytes, at least 32 needed",
    }


def test_an_unexpected_failure_logs_the_class_and_a_stack_of_frames_only(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("no")

    monkeypatch.setattr("telehealth.store.appointments.read_join_context", broken)
    call({"appointmentId": "a1"}, DOCTOR)
    [line] = [r for r in records(capsys) if r["severity"] == "ERROR"]
    assert set(line) == {"severity", "message", "error", "traceback"}
    assert (line["message"], line["error"]) == ("join failed", "KeyError")
    frames = line["traceback"].splitlines()
    assert frames[0].startswith('  File "')
    assert all(f.startswith('  File "') or f.startswith("    ") for f in frames)  # frames and code, nothing else
    assert "in broken" in frames[-2]


def test_our_code_answers_every_failure_itself_so_the_sdk_never_logs_an_unhandled_error(
    db: MockFirestore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The SDK logs an exception that reaches it with its text ("Unhandled error: <message>"), which could
    hold data; ours is caught, logged by class and stack, and answered as a ready-made INTERNAL."""

    def broken(*_: Any, **__: Any) -> None:
        raise ValueError("patient " + "Jane" + " Doe")

    monkeypatch.setattr("telehealth.store.appointments.read_join_context", broken)
    assert call({"appointmentId": "a1"}, DOCTOR)["error"] == {"status": "INTERNAL", "message": "INTERNAL"}
    logs = capsys.readouterr()
    # The SDK logs through the standard logging module (which pytest captures in caplog), ours to stdout/stderr.
    everything = logs.out + logs.err + caplog.text
    assert "Unhandled error" not in everything
    assert "Jane Doe" not in everything


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        pytest.param(
            "VIDEO_JOIN_RATE_PER_MIN",
            "0",
            "VIDEO_JOIN_RATE_PER_MIN and VIDEO_AUDIT_RETENTION_DAYS must be at least 1",
            id="rate 0",
        ),
        pytest.param(
            "VIDEO_AUDIT_RETENTION_DAYS",
            "0",
            "VIDEO_JOIN_RATE_PER_MIN and VIDEO_AUDIT_RETENTION_DAYS must be at least 1",
            id="retention 0",
        ),
        pytest.param(
            "VIDEO_AUDIT_RETENTION_DAYS",
            "forever",
            "VIDEO_AUDIT_RETENTION_DAYS does not parse",
            id="retention not a number",
        ),
        pytest.param("VIDEO_JOIN_OPENS_MIN", "fifteen", "VIDEO_JOIN_OPENS_MIN does not parse", id="opens"),
    ],
)
def test_each_unusable_param_is_named_in_the_log(
    db: MockFirestore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert error_of(call({"appointmentId": "a1"}, PATIENT)) == ("INTERNAL", None)
    assert [r["problem"] for r in records(capsys) if r["severity"] == "ERROR"] == [problem]
    # The audit record needs the policy's own params: with those broken there is none; otherwise it says why.
    expected = [] if name in ("VIDEO_JOIN_RATE_PER_MIN", "VIDEO_AUDIT_RETENTION_DAYS") else ["misconfigured"]
    assert [record["reason"] for record in audit(db)] == expected


def test_the_audit_retention_param_sets_expire_at(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEO_AUDIT_RETENTION_DAYS", "7")
    started = dt.datetime.now(dt.UTC)
    call({"appointmentId": "a1"}, PATIENT)
    [record] = audit(db)
    assert started + dt.timedelta(days=7, seconds=-2) <= record["expireAt"] <= started + dt.timedelta(days=7, seconds=2)


def test_retried_turns_on_redelivery_of_any_firestore_trigger() -> None:
    @firestore_fn.on_document_written(document="anything/{id}")
    def trigger(_event: Any) -> None:
        pass

    assert trigger.__firebase_endpoint__.eventTrigger["retry"] is False  # the SDK's own default
    assert main._retried(trigger) is trigger
    assert trigger.__firebase_endpoint__.eventTrigger["retry"] is True


def test_a_failure_log_line_carries_its_context_with_the_class_and_stack(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "secret-looking " + "text"  # a value at run time: the stack shows code lines, never values
    try:
        raise KeyError(secret)
    except KeyError as error:
        main._log_failure("repair failed for one appointment", error, appointmentId="a1")
    [line] = records(capsys)
    assert (line["message"], line["appointmentId"], line["error"]) == (
        "repair failed for one appointment",
        "a1",
        "KeyError",
    )
    assert "secret-looking text" not in json.dumps(line)


# Guests through the deploy entry ----------------------------------------------------------------------------

GUEST = "uid-anonymous-guest"


@pytest.fixture
def guest_world(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> FakeDB:
    """The faithful fake as the functions' Firestore (invitations need its transactions), and an anonymous account."""
    monkeypatch.setattr(guest_store, "transactional", serial_transactional)
    monkeypatch.setitem(ACCOUNTS, GUEST, {"firebase": {"sign_in_provider": "anonymous"}})
    redemption_limiter.cache_clear()
    fake = FakeDB()
    fake.put(f"doctors/{DOCTOR}", {"displayName": "Dr. Ada", "active": True})
    fake.put("appointments/a1", open_now())
    monkeypatch.setitem(main._clients, "db", fake)
    return fake


def call_function(function: Any, data: Any, id_token: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {id_token}"}
    with flask.Flask("test").test_request_context("/", method="POST", json={"data": data}, headers=headers):
        answer: dict[str, Any] = function(flask.request).get_json()
    return answer


def test_the_three_guest_callables_serve_as_the_others_do() -> None:
    for function in (main.invite_guest, main.redeem_invite, main.remove_guest):
        endpoint = function.__firebase_endpoint__
        assert endpoint.maxInstances == "{{ params.VIDEO_MAX_INSTANCES }}"
        assert (endpoint.concurrency, endpoint.cpu, endpoint.availableMemoryMb) == (8, 1, 256)
        assert endpoint.callableTrigger == {}


def test_a_guest_is_invited_redeems_joins_and_is_removed_and_no_log_line_holds_the_code_or_name(
    guest_world: FakeDB, capsys: pytest.CaptureFixture[str]
) -> None:
    invited = call_function(main.invite_guest, {"appointmentId": "a1", "kind": "caregiver", "name": "Sam Doe"}, DOCTOR)
    code = invited["result"]["inviteCode"]
    redeemed = call_function(main.redeem_invite, {"inviteCode": code}, GUEST)
    assert redeemed["result"]["appointmentId"] == "a1"
    joined = call_function(main.get_join_token, {"appointmentId": "a1"}, GUEST)
    assert joined["result"]["role"] == "guest"
    removal = {"appointmentId": "a1", "guestId": invited["result"]["guestId"]}
    assert call_function(main.remove_guest, removal, PATIENT)["result"]["removed"] is True
    refused = call_function(main.get_join_token, {"appointmentId": "a1"}, GUEST)
    assert (refused["error"]["status"], refused["error"].get("details")) == ("NOT_FOUND", None)

    lines = records(capsys)
    assert [line["message"] for line in lines] == [
        "guest invited",
        "invitation redeemed",
        "join granted",
        "guest removed",
        "join refused",
    ]
    logged = json.dumps(lines)
    assert code not in logged
    assert "Sam" not in logged


@pytest.mark.parametrize(
    ("function", "data", "token", "status"),
    [
        pytest.param(main.redeem_invite, {"inviteCode": "W" * 32}, GUEST, "NOT_FOUND", id="a wrong code"),
        pytest.param(main.redeem_invite, {"inviteCode": "?"}, GUEST, "INVALID_ARGUMENT", id="a malformed code"),
        pytest.param(
            main.invite_guest,
            {"appointmentId": "a1", "kind": "x", "name": "A"},
            DOCTOR,
            "INVALID_ARGUMENT",
            id="a bad kind",
        ),
        pytest.param(
            main.invite_guest,
            {"appointmentId": "a1", "kind": "caregiver", "name": "A"},
            PATIENT,
            "NOT_FOUND",
            id="the patient",
        ),
        pytest.param(
            main.remove_guest, {"appointmentId": "a1", "guestId": "g1"}, STRANGER, "NOT_FOUND", id="a stranger"
        ),
    ],
)
def test_the_guest_callables_refusals_become_https_errors(
    guest_world: FakeDB, function: Any, data: dict[str, Any], token: str, status: str
) -> None:
    answer = call_function(function, data, token)
    assert (answer["error"]["status"], answer["error"].get("details")) == (status, None)
    assert not any("/guests/" in path or path.startswith("guestInvites/") for path in guest_world.docs)


def test_a_cold_start_does_not_import_the_calendar_writer() -> None:
    # Every function instance imports main.py when it starts; icalendar (a sixth of that import) is for the
    # reminder task's calendar files only, so it is imported where an entry is written.
    import subprocess
    import sys

    functions = Path(main.__file__).resolve().parent
    probe = "import sys, main; print(sorted(m for m in sys.modules if m.split('.')[0] == 'icalendar'))"
    out = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-c", probe], cwd=functions, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
