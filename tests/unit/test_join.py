"""get_join_token's use case on an in-memory Firestore, with a frozen clock: every refusal, both roles, the audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from conftest import DOCTOR, HMAC_SECRET, NOW, NOW_S, PATIENT, STRANGER, appointment, jitsi_config, snapshot
from mockfirestore import MockFirestore

from telehealth import join
from telehealth.config import Settings, build_settings
from telehealth.errors import Misconfigured, VideoError, error_code

START_S = NOW_S + 5 * 60  # the seeded appointment starts 5 minutes after NOW
END_S = NOW_S + 35 * 60
OPENS_S = START_S - 15 * 60
CLOSES_S = END_S + 30 * 60


@dataclass(frozen=True)
class Case:
    """One request: who asks, with what payload, at what time, against which stored appointment."""

    uid: str | None = PATIENT
    data: Any = field(default_factory=lambda: {"appointmentId": "a1"})
    now: int = NOW_S
    stored: dict[str, Any] | None = field(default_factory=appointment)
    secret: str = HMAC_SECRET


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str
    details: dict[str, Any] | None = None
    audited: bool = True
    role: str | None = None


def run(db: MockFirestore, case: Case) -> dict[str, Any]:
    if case.stored is not None:
        db.collection("appointments").document("a1").set(case.stored)
    return join.get_join_token(
        db,
        uid=case.uid,
        claims={"name": "Dr. Ada"} if case.uid == DOCTOR else {},
        data=case.data,
        settings=lambda: build_settings(jitsi_config(), case.secret),
        now=case.now,
    )


def audit_records(db: MockFirestore) -> list[dict[str, Any]]:
    return [doc.to_dict() for doc in db.collection("videoAccessLog").stream()]


REFUSALS: list[Any] = [
    pytest.param(Case(uid=None), Refusal("unauthenticated", "unauthenticated"), id="signed out with a valid id"),
    pytest.param(
        Case(uid=None, data={"appointmentId": "a/b"}),
        Refusal("unauthenticated", "unauthenticated", audited=False),
        id="signed out with a malformed id leaves no record",
    ),
    pytest.param(Case(data=["a1"]), Refusal("invalid-argument", "", audited=False), id="payload is a list"),
    pytest.param(Case(data=None), Refusal("invalid-argument", "", audited=False), id="payload is null"),
    pytest.param(Case(data={}), Refusal("invalid-argument", "", audited=False), id="appointmentId missing"),
    pytest.param(
        Case(data={"appointmentId": 42}), Refusal("invalid-argument", "", audited=False), id="appointmentId a number"
    ),
    pytest.param(
        Case(data={"appointmentId": ""}), Refusal("invalid-argument", "", audited=False), id="appointmentId empty"
    ),
    pytest.param(
        Case(data={"appointmentId": "x" * 129}), Refusal("invalid-argument", "", audited=False), id="id too long"
    ),
    pytest.param(
        Case(data={"appointmentId": "appointments/a1"}),
        Refusal("invalid-argument", "", audited=False),
        id="id with a slash",
    ),
    pytest.param(Case(data={"appointmentId": ".."}), Refusal("invalid-argument", "", audited=False), id="id is .."),
    pytest.param(
        Case(data={"appointmentId": "__name__"}), Refusal("invalid-argument", "", audited=False), id="reserved id"
    ),
    pytest.param(
        Case(data={"appointmentId": "a\x001"}), Refusal("invalid-argument", "", audited=False), id="control character"
    ),
    pytest.param(Case(stored=None), Refusal("not-found", "not_found"), id="no such appointment"),
    pytest.param(Case(uid=STRANGER), Refusal("not-found", "not_found"), id="a stranger gets the same not-found"),
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
        Case(now=OPENS_S - 1),
        Refusal("failed-precondition", "too_early", {"reason": "too_early", "opensAt": OPENS_S}, role="guest"),
        id="one second before the window opens",
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
    if case.stored is not None:
        db.collection("appointments").document("a1").set(case.stored)
    before = snapshot(db)

    with pytest.raises(VideoError) as caught:
        run(db, Case(**{**case.__dict__, "stored": None}))

    assert error_code(caught.value) == refusal.code
    assert caught.value.details() == refusal.details
    records = audit_records(db)
    after = snapshot(db)
    after.pop("videoAccessLog", None)
    assert after == before, "a refusal wrote something besides its audit record"
    if not refusal.audited:
        assert records == []
        return
    assert len(records) == 1
    record = records[0]
    assert record["appointmentId"] == case.data["appointmentId"]
    assert record["uid"] == case.uid
    assert record["role"] == refusal.role
    assert record["outcome"] == "denied"
    assert record["reason"] == refusal.reason
    assert "expiresAt" not in record
    assert "at" in record


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
    pytest.param(DOCTOR, CLOSES_S - 1, "moderator", CLOSES_S, id="the doctor at the last second: exp is the close"),
    pytest.param(PATIENT, END_S, "guest", CLOSES_S, id="the patient at the end: exp capped at the close"),
]


@pytest.mark.parametrize(("uid", "now", "role", "expires_at"), GRANTS)
def test_grants_give_the_role_and_the_capped_expiry_and_are_audited(
    db: MockFirestore, settings: Settings, uid: str, now: int, role: str, expires_at: int
) -> None:
    result = run(db, Case(uid=uid, now=now))

    assert result["role"] == role
    assert result["expiresAt"] == expires_at
    assert result["provider"] == "jitsi"
    assert result["roomName"] == "a" * 32
    assert result["roomUrl"] == "https://meet.clinic.test/" + "a" * 32
    assert "jwt" not in result["roomUrl"]
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
    }
    assert result["token"] not in repr(record)


def test_a_grant_is_not_returned_when_its_audit_record_cannot_be_written(
    db: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("firestore unavailable")

    monkeypatch.setattr("telehealth.store.record_access", broken)
    with pytest.raises(RuntimeError):
        run(db, Case(now=START_S))


def test_the_window_follows_the_configured_minutes(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment())
    config = jitsi_config(opens_minutes_before=0, closes_minutes_after=0, token_ttl_minutes=5)

    with pytest.raises(VideoError) as caught:
        join.get_join_token(
            db,
            uid=PATIENT,
            claims={},
            data={"appointmentId": "a1"},
            settings=lambda: build_settings(config, HMAC_SECRET),
            now=START_S - 1,
        )
    assert caught.value.details() == {"reason": "too_early", "opensAt": START_S}

    result = join.get_join_token(
        db,
        uid=PATIENT,
        claims={},
        data={"appointmentId": "a1"},
        settings=lambda: build_settings(config, HMAC_SECRET),
        now=END_S - 60,
    )
    assert result["expiresAt"] == END_S
