"""get_join_token's use case on an in-memory Firestore, with a frozen clock: who is who, every refusal, the audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
import pytest
from conftest import (
    DOCTOR,
    DOCTOR_CLAIMS,
    HMAC_SECRET,
    NOW,
    NOW_S,
    PATIENT,
    STRANGER,
    appointment,
    jitsi_config,
    snapshot,
)
from mockfirestore import MockFirestore
from support.callables import audit_records
from support.callables import policy as open_policy
from support.configs import video_config

from telehealth import gate, join
from telehealth.config import VideoConfig
from telehealth.errors import Misconfigured, VideoError, error_code
from telehealth.providers import build_settings
from telehealth.ratelimit import RateLimiter
from telehealth.store import appointments

START_S = NOW_S + 5 * 60  # the seeded appointment starts 5 minutes after NOW
END_S = NOW_S + 35 * 60
OPENS_S = START_S - 15 * 60
CLOSES_S = END_S + 30 * 60
SIX_YEARS = dt.timedelta(days=2190)


@dataclass(frozen=True)
class Case:
    """One request: who asks (uid and ID-token claims), with what payload, at what time, against what."""

    uid: str | None = PATIENT
    claims: dict[str, Any] | None = None  # None: the doctor's claim for DOCTOR, nothing for others
    data: Any = field(default_factory=lambda: {"appointmentId": "a1"})
    now: int = NOW_S
    stored: dict[str, Any] | None = field(default_factory=appointment)
    directory: dict[str, Any] | None = None  # replaces DOCTOR's directory entry; {} removes it
    secret: str = HMAC_SECRET
    session_live: bool = True
    app_check: bool = True
    config: VideoConfig = field(default_factory=jitsi_config)


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str
    details: dict[str, Any] | None = None
    audited: bool = True
    role: str | None = None


def policy_for(case: Case, limiter: RateLimiter | None = None, retention_days: int = 2190) -> gate.Policy:
    return open_policy(
        case.config,
        limiter=limiter,
        session_live=case.session_live,
        app_check=case.app_check,
        secret=case.secret,
        retention_days=retention_days,
    )


def caller_for(case: Case) -> gate.Caller | None:
    if case.uid is None:
        return None
    claims = case.claims if case.claims is not None else (DOCTOR_CLAIMS if case.uid == DOCTOR else {})
    return gate.Caller(case.uid, claims)


def seed(db: MockFirestore, case: Case) -> None:
    if case.stored is not None:
        db.collection("appointments").document("a1").set(case.stored)
    if case.directory == {}:
        db.collection("doctors").document(DOCTOR).delete()
    elif case.directory is not None:
        db.collection("doctors").document(DOCTOR).set(case.directory)


def run(db: MockFirestore, case: Case, **policy: Any) -> dict[str, Any]:
    seed(db, case)
    return join.get_join_token(
        db, caller=caller_for(case), data=case.data, policy=policy_for(case, **policy), now=case.now
    )


def invalid(data: Any, name: str) -> Any:
    return pytest.param(Case(data=data), Refusal("invalid-argument", "", audited=False), id=name)


REFUSALS: list[Any] = [
    pytest.param(
        Case(uid=None), Refusal("unauthenticated", "unauthenticated", audited=False), id="signed out writes nothing"
    ),
    pytest.param(
        Case(uid=None, data={"appointmentId": "a/b"}),
        Refusal("unauthenticated", "unauthenticated", audited=False),
        id="signed out with a malformed id writes nothing",
    ),
    invalid(["a1"], "payload is a list"),
    invalid(None, "payload is null"),
    invalid({}, "appointmentId missing"),
    invalid({"appointmentId": 42}, "appointmentId a number"),
    invalid({"appointmentId": ""}, "appointmentId empty"),
    invalid({"appointmentId": "x" * 129}, "129 characters"),
    invalid({"appointmentId": "appointments/a1"}, "a slash"),
    invalid({"appointmentId": "."}, "a dot"),
    invalid({"appointmentId": ".."}, "two dots"),
    invalid({"appointmentId": "__name__"}, "reserved __x__ id"),
    invalid({"appointmentId": "a\x001"}, "a NUL"),
    invalid({"appointmentId": "a1\n"}, "a trailing newline"),
    invalid({"appointmentId": "a 1"}, "a space"),
    invalid({"appointmentId": "a\u00a01"}, "a no-break space"),
    invalid({"appointmentId": "a\u200b1"}, "a zero-width space"),
    invalid({"appointmentId": "a\u202e1"}, "a right-to-left override"),
    invalid({"appointmentId": "\u00e9"}, "a non-ASCII letter"),
    invalid({"appointmentId": "\u0430pt"}, "a Cyrillic look-alike"),
    invalid({"appointmentId": "a\uff11"}, "a fullwidth digit"),
    invalid({"appointmentId": "a.b"}, "a dot inside"),
    pytest.param(Case(stored=None), Refusal("not-found", "not_found"), id="no such appointment"),
    pytest.param(Case(uid=STRANGER), Refusal("not-found", "not_found"), id="a stranger gets the same not-found"),
    pytest.param(
        Case(uid=STRANGER, claims=DOCTOR_CLAIMS, stored=appointment()),
        Refusal("not-found", "not_found"),
        id="a claimed doctor who is not on the appointment",
    ),
    pytest.param(
        Case(uid=DOCTOR, claims={}),
        Refusal("not-found", "not_found"),
        id="doctorId without the doctor claim is a stranger",
    ),
    pytest.param(
        Case(uid=DOCTOR, claims={"role": "Doctor"}),
        Refusal("not-found", "not_found"),
        id="a claim that only looks like the doctor claim",
    ),
    pytest.param(
        Case(uid=DOCTOR, directory={}), Refusal("not-found", "not_found"), id="doctorId with the claim but no entry"
    ),
    pytest.param(
        Case(uid=DOCTOR, directory={"displayName": "Dr. Ada", "active": False}),
        Refusal("not-found", "not_found"),
        id="a removed (inactive) doctor",
    ),
    pytest.param(
        Case(uid=DOCTOR, directory={"displayName": "Dr. Ada", "active": "true"}),
        Refusal("not-found", "not_found"),
        id="active must be the boolean true",
    ),
    pytest.param(
        Case(session_live=False),
        Refusal("unauthenticated", "session_revoked"),
        id="revoked or disabled account",
    ),
    pytest.param(
        Case(uid=DOCTOR, session_live=False),
        Refusal("unauthenticated", "session_revoked"),
        id="a removed doctor's revoked session",
    ),
    pytest.param(Case(app_check=False), Refusal("unauthenticated", "app_check"), id="App Check required and missing"),
    pytest.param(
        Case(stored=appointment(type="in_person")),
        Refusal("failed-precondition", "not_video", {"reason": "not_video"}, role="guest"),
        id="in-person visit",
    ),
    pytest.param(
        Case(stored=appointment(status="pending", video=None)),
        Refusal("failed-precondition", "not_confirmed", {"reason": "not_confirmed"}, role="guest"),
        id="pending visit",
    ),
    pytest.param(
        Case(uid=DOCTOR, stored=appointment(status="cancelled", video=None)),
        Refusal("failed-precondition", "not_confirmed", {"reason": "not_confirmed"}, role="moderator"),
        id="cancelled visit",
    ),
    pytest.param(
        Case(stored=appointment(status="completed")),
        Refusal("failed-precondition", "not_confirmed", {"reason": "not_confirmed"}, role="guest"),
        id="completed visit",
    ),
    pytest.param(
        Case(stored=appointment(video=None)),
        Refusal("failed-precondition", "room_not_ready", {"reason": "room_not_ready"}, role="guest"),
        id="confirmed but the room is not assigned yet",
    ),
    pytest.param(
        Case(stored=appointment(video={"roomName": ""})),
        Refusal("failed-precondition", "room_not_ready", {"reason": "room_not_ready"}, role="guest"),
        id="an empty room name is no room",
    ),
    pytest.param(
        Case(stored=appointment(video={"roomName": 7})),
        Refusal("failed-precondition", "room_not_ready", {"reason": "room_not_ready"}, role="guest"),
        id="a non-string room name is no room",
    ),
    pytest.param(
        Case(now=OPENS_S - 1),
        Refusal("failed-precondition", "too_early", {"reason": "too_early", "opensAt": OPENS_S}, role="guest"),
        id="one second before the window opens",
    ),
    pytest.param(
        Case(now=CLOSES_S - 59),
        Refusal("failed-precondition", "too_late", {"reason": "too_late", "closesAt": CLOSES_S}, role="guest"),
        id="59 seconds of window left is too late",
    ),
    pytest.param(
        Case(now=CLOSES_S),
        Refusal("failed-precondition", "too_late", {"reason": "too_late", "closesAt": CLOSES_S}, role="guest"),
        id="the second the window closes",
    ),
    pytest.param(
        Case(uid=DOCTOR, now=CLOSES_S + 86400),
        Refusal("failed-precondition", "too_late", {"reason": "too_late", "closesAt": CLOSES_S}, role="moderator"),
        id="the doctor a day late",
    ),
    pytest.param(
        Case(stored=appointment(endTime=NOW)),
        Refusal("failed-precondition", "bad_schedule", {"reason": "bad_schedule"}, role="guest"),
        id="end before start",
    ),
    pytest.param(
        Case(stored=appointment(endTime=NOW + dt.timedelta(minutes=5))),
        Refusal("failed-precondition", "bad_schedule", {"reason": "bad_schedule"}, role="guest"),
        id="end equal to start",
    ),
    pytest.param(
        Case(stored=appointment(startTime="tomorrow")),
        Refusal("failed-precondition", "bad_schedule", {"reason": "bad_schedule"}, role="guest"),
        id="startTime not a timestamp",
    ),
    pytest.param(Case(secret="short-secret"), Refusal("internal", "misconfigured"), id="a weak signing key"),
    pytest.param(Case(secret=""), Refusal("internal", "misconfigured"), id="no signing key"),
]


@pytest.mark.parametrize(("case", "refusal"), REFUSALS)
def test_refusals_carry_the_exact_code_and_leave_only_their_audit_record(
    db: MockFirestore, case: Case, refusal: Refusal
) -> None:
    seed(db, case)
    before = snapshot(db)

    with pytest.raises(VideoError) as caught:
        run(db, replace(case, stored=None, directory=None))

    assert error_code(caught.value) == refusal.code
    assert caught.value.details() == refusal.details
    records = audit_records(db)
    after = snapshot(db)
    after.pop("videoAccessLog", None)
    assert after == before, "a refusal wrote something besides its audit record"
    if not refusal.audited:
        assert records == []
        return
    assert records == [
        {
            "appointmentId": case.data["appointmentId"],
            "uid": case.uid,
            "role": refusal.role,
            "outcome": "denied",
            "reason": refusal.reason,
            "at": records[0]["at"],
            "expireAt": dt.datetime.fromtimestamp(case.now, dt.UTC) + SIX_YEARS,
        }
    ]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case(uid=None), id="signed out"),
        pytest.param(Case(data={"appointmentId": "a\u200b1"}), id="malformed id"),
        pytest.param(Case(secret="short"), id="server cannot sign"),
        pytest.param(Case(app_check=False), id="no App Check"),
    ],
)
def test_refusals_before_the_policy_checks_read_nothing(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    def no_reads(*_: Any, **__: Any) -> Any:
        raise AssertionError("read Firestore")

    monkeypatch.setattr(appointments, "read_join_context", no_reads)
    with pytest.raises(VideoError):
        run(db, case)


def test_a_refusal_message_never_echoes_the_key(db: MockFirestore) -> None:
    weak = "weak-but-secret-value"
    with pytest.raises(Misconfigured) as caught:
        run(db, Case(secret=weak))
    assert weak not in str(caught.value)
    assert weak not in caught.value.message
    assert weak not in repr(audit_records(db))


GRANTS: list[Any] = [
    pytest.param(DOCTOR, OPENS_S, "moderator", OPENS_S + 3600, id="the doctor the second the window opens"),
    pytest.param(PATIENT, OPENS_S, "guest", OPENS_S + 3600, id="the patient the second the window opens"),
    pytest.param(PATIENT, START_S, "guest", START_S + 3600, id="the patient at the start: exp is now plus the TTL"),
    pytest.param(DOCTOR, CLOSES_S - 60, "moderator", CLOSES_S, id="the doctor with a minute left: exp is the close"),
    pytest.param(PATIENT, END_S, "guest", CLOSES_S, id="the patient at the end: exp capped at the close"),
]


@pytest.mark.parametrize(("uid", "now", "role", "expires_at"), GRANTS)
def test_grants_give_the_role_and_the_capped_expiry_and_are_audited(
    db: MockFirestore, uid: str, now: int, role: str, expires_at: int
) -> None:
    result = run(db, Case(uid=uid, now=now))

    assert result == {
        "token": result["token"],
        "roomName": "a" * 32,
        "roomUrl": "https://meet.clinic.test/" + "a" * 32,
        "provider": "jitsi",
        "role": role,
        "expiresAt": expires_at,
    }
    claims = jwt.decode(
        result["token"], HMAC_SECRET, algorithms=["HS256"], audience="jitsi", options={"verify_exp": False}
    )
    assert claims["exp"] == expires_at
    assert claims["nbf"] == now - 10
    assert claims["context"]["user"]["moderator"] == ("true" if role == "moderator" else "false")
    [record] = audit_records(db)
    assert record == {
        "appointmentId": "a1",
        "uid": uid,
        "role": role,
        "outcome": "granted",
        "reason": "ok",
        "expiresAt": expires_at,
        "at": record["at"],
        "expireAt": dt.datetime.fromtimestamp(now, dt.UTC) + SIX_YEARS,
    }
    assert result["token"] not in repr(record)


def test_the_audit_retention_follows_its_setting(db: MockFirestore) -> None:
    run(db, Case(now=START_S), retention_days=30)
    [record] = audit_records(db)
    assert record["expireAt"] == dt.datetime.fromtimestamp(START_S, dt.UTC) + dt.timedelta(days=30)


def decoded(result: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(result["token"], options={"verify_signature": False})
    return claims


NAMES: list[Any] = [
    pytest.param(DOCTOR, {"name": "Mallory"}, {"displayName": "Dr. Ada", "active": True}, "Dr. Ada", id="doctor"),
    pytest.param(
        DOCTOR,
        {},
        {"displayName": "Dr.\u202e Ada\u0007", "active": True},
        "Dr. Ada",
        id="the doctor's directory name, cleaned",
    ),
    pytest.param(DOCTOR, {}, {"displayName": "\u200b", "active": True}, "Doctor", id="an empty directory name"),
    pytest.param(DOCTOR, {}, {"active": True}, "Doctor", id="no directory name"),
    pytest.param(PATIENT, {"name": "Pat Smith"}, None, "Pat Smith · patient", id="the patient's name, labelled"),
    pytest.param(
        PATIENT,
        {"name": "Dr. Ada (your doctor)"},
        None,
        "Dr. Ada (your doctor) · patient",
        id="no passing as the doctor",
    ),
    pytest.param(
        PATIENT,
        {"name": "Pat\u202e\u200f\u0000 Smith\n"},
        None,
        "Pat Smith · patient",
        id="RTL override, RLM, NUL removed",
    ),
    pytest.param(PATIENT, {"name": "\u202e\u200b"}, None, "Patient", id="nothing left but format characters"),
    pytest.param(PATIENT, {"name": 42}, None, "Patient", id="a name that is not a string"),
    pytest.param(PATIENT, {"name": "x" * 81}, None, "x" * 70 + " · patient", id="cut so the label fits in 80"),
    pytest.param(PATIENT, {"name": "y" * 70}, None, "y" * 70 + " · patient", id="70 characters and the label kept"),
]


@pytest.mark.parametrize(("uid", "claims", "entry", "shown"), NAMES)
def test_display_names_come_from_the_directory_or_the_id_token_cleaned(
    db: MockFirestore, uid: str, claims: dict[str, Any], entry: dict[str, Any] | None, shown: str
) -> None:
    if uid == DOCTOR:
        claims = {**claims, **DOCTOR_CLAIMS}
    result = run(db, Case(uid=uid, claims=claims, directory=entry, now=START_S))
    assert decoded(result)["context"]["user"]["name"] == shown


EMAILS: list[Any] = [
    pytest.param(True, True, "pat@example.test", id="param on and verified: included"),
    pytest.param(True, False, "", id="unverified: left out"),
    pytest.param(True, None, "", id="verification unknown: left out"),
    pytest.param(False, True, "", id="param off: left out"),
]


@pytest.mark.parametrize(("param", "verified", "shown"), EMAILS)
def test_the_email_goes_in_only_when_allowed_and_verified(
    db: MockFirestore, param: bool, verified: bool | None, shown: str
) -> None:
    claims: dict[str, Any] = {"email": "pat@example.test"}
    if verified is not None:
        claims["email_verified"] = verified
    result = run(db, Case(claims=claims, now=START_S, config=jitsi_config(include_email=param)))
    assert decoded(result)["context"]["user"]["email"] == shown


def test_a_grant_is_not_returned_when_its_audit_record_cannot_be_written(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("firestore unavailable")

    monkeypatch.setattr("telehealth.store.audit.record_access", broken)
    with pytest.raises(RuntimeError):
        run(db, Case(now=START_S))


def test_the_window_follows_the_configured_minutes(db: MockFirestore) -> None:
    config = jitsi_config(opens_minutes_before=0, closes_minutes_after=0, token_ttl_minutes=5)
    with pytest.raises(VideoError) as caught:
        run(db, Case(now=START_S - 1, config=config))
    assert caught.value.details() == {"reason": "too_early", "opensAt": START_S}

    result = run(db, Case(now=END_S - 60, config=config))
    assert result["expiresAt"] == END_S


def test_only_a_doctor_caller_reads_the_directory(db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    real = appointments.read_join_context

    def spy(db: Any, appointment_id: str, doctor_uid: str | None) -> Any:
        seen.append(doctor_uid)
        return real(db, appointment_id, doctor_uid)

    monkeypatch.setattr(appointments, "read_join_context", spy)
    run(db, Case(uid=PATIENT, now=START_S))
    run(db, Case(uid=DOCTOR, now=START_S))
    assert seen == [None, DOCTOR]


class TestRateLimit:
    """The per-account limit: refused calls read nothing and leave one audit record per account and minute."""

    @staticmethod
    def calls(db: MockFirestore, limiter: RateLimiter, uid: str, times: list[int]) -> list[str]:
        outcomes = []
        for now in times:
            try:
                run(db, Case(uid=uid, now=now, stored=None), limiter=limiter)
                outcomes.append("ok")
            except VideoError as error:
                outcomes.append(error_code(error))
        return outcomes

    def test_the_limit_passes_exactly_n_calls_a_minute_then_refuses_with_retry_after(self, db: MockFirestore) -> None:
        db.collection("appointments").document("a1").set(appointment())
        limiter = RateLimiter(3)
        start = START_S
        assert self.calls(db, limiter, PATIENT, [start, start + 1, start + 2]) == ["ok"] * 3
        with pytest.raises(VideoError) as caught:
            run(db, Case(now=start + 10, stored=None), limiter=limiter)
        assert error_code(caught.value) == "resource-exhausted"
        assert caught.value.details() == {"retryAfter": 50}
        # The first slot frees 60 s after the first call, not earlier.
        assert self.calls(db, limiter, PATIENT, [start + 59, start + 60]) == ["resource-exhausted", "ok"]

    def test_refused_calls_read_nothing(self, db: MockFirestore, monkeypatch: pytest.MonkeyPatch) -> None:
        limiter = RateLimiter(1)
        run(db, Case(now=START_S), limiter=limiter)

        def no_reads(*_: Any, **__: Any) -> Any:
            raise AssertionError("read Firestore")

        monkeypatch.setattr(appointments, "read_join_context", no_reads)
        assert self.calls(db, limiter, PATIENT, [START_S + 1] * 5) == ["resource-exhausted"] * 5

    def test_one_audit_record_per_account_per_limited_minute(self, db: MockFirestore) -> None:
        db.collection("appointments").document("a1").set(appointment())
        limiter = RateLimiter(2)
        minute = (START_S // 60) * 60
        outcomes = self.calls(db, limiter, PATIENT, [minute + s for s in range(0, 50, 2)])
        assert outcomes == ["ok", "ok"] + ["resource-exhausted"] * 23
        limited = [r for r in audit_records(db) if r["reason"] == "rate_limited"]
        assert [(r["uid"], r["outcome"], r["role"], r["appointmentId"]) for r in limited] == [
            (PATIENT, "denied", None, "a1")
        ]
        # A second limited minute: one more record; another account is limited on its own.
        self.calls(db, limiter, PATIENT, [minute + 61, minute + 62, minute + 63, minute + 64])
        self.calls(db, limiter, STRANGER, [minute + 70] * 4)
        limited = [r for r in audit_records(db) if r["reason"] == "rate_limited"]
        assert sorted(r["uid"] for r in limited) == sorted([PATIENT, PATIENT, STRANGER])

    def test_another_instance_refusing_the_same_minute_writes_no_second_record(self, db: MockFirestore) -> None:
        first, second = RateLimiter(1), RateLimiter(1)
        for limiter in (first, second):
            self.calls(db, limiter, PATIENT, [START_S, START_S + 1, START_S + 2])
        assert [r["reason"] for r in audit_records(db)].count("rate_limited") == 1

    def test_a_limited_call_with_a_malformed_id_is_recorded_without_the_id(self, db: MockFirestore) -> None:
        limiter = RateLimiter(1)
        run(db, Case(now=START_S), limiter=limiter)
        with pytest.raises(VideoError):
            run(db, Case(now=START_S, data={"appointmentId": "\u202e"}), limiter=limiter)
        limited = [r for r in audit_records(db) if r["reason"] == "rate_limited"]
        assert [r["appointmentId"] for r in limited] == [None]


def test_each_policy_seam_is_called_once_per_join(db: MockFirestore) -> None:
    """The session check is an Auth API call and settings may parse a key: neither may run twice for one join."""
    counts: dict[str, int] = {"settings": 0, "session": 0, "app_check": 0}

    def counted(name: str, value: Any) -> Callable[[], Any]:
        def call() -> Any:
            counts[name] += 1
            return value

        return call

    db.collection("appointments").document("a1").set(appointment())
    policy = gate.Policy(
        settings=counted("settings", build_settings(jitsi_config(), HMAC_SECRET)),
        session_check=counted("session", lambda: True),
        app_check_passes=counted("app_check", True),
        limiter=RateLimiter(5),
    )
    join.get_join_token(db, caller=gate.Caller(PATIENT, {}), data={"appointmentId": "a1"}, policy=policy, now=START_S)
    assert counts == {"settings": 1, "session": 1, "app_check": 1}


@pytest.mark.parametrize(
    ("config", "server_url"),
    [
        pytest.param(
            video_config(provider="livekit", domain="lk.clinic.test", app_id="K"), "wss://lk.clinic.test", id="livekit"
        ),
        pytest.param(jitsi_config(), None, id="jitsi has none"),
    ],
)
def test_the_answer_carries_server_url_for_livekit_only(
    db: MockFirestore, config: VideoConfig, server_url: str | None
) -> None:
    db.collection("appointments").document("a1").set(appointment())
    answer = join.get_join_token(
        db,
        caller=gate.Caller(PATIENT, {}),
        data={"appointmentId": "a1"},
        policy=open_policy(config),
        now=NOW_S + 5 * 60,
    )
    assert answer.get("serverUrl") == server_url
    assert ("serverUrl" in answer) == (server_url is not None)
