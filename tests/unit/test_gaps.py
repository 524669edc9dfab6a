"""Behaviour mutation testing showed no test pinned: the LiveKit answer's serverUrl, the join's lost race,
the lobby's rate limit and audit records, and the edges of the abuse params."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DOCTOR, DOCTOR_CLAIMS, HMAC_SECRET, NOW_S, PATIENT, appointment, jitsi_config
from mockfirestore import MockFirestore
from support.configs import video_config

from telehealth import gate, join, lobby
from telehealth.config import VideoConfig
from telehealth.errors import VideoError, error_code
from telehealth.providers import build_settings
from telehealth.ratelimit import RateLimiter
from telehealth.store import appointments

START_S = NOW_S + 5 * 60


def policy(config: VideoConfig | None = None, limit: int = 1000) -> gate.Policy:
    settings = build_settings(config or jitsi_config(), HMAC_SECRET)
    return gate.Policy(
        settings=lambda: settings,
        session_check=lambda: lambda: True,
        app_check_passes=lambda: True,
        limiter=RateLimiter(limit),
    )


def audit(db: MockFirestore) -> list[dict[str, Any]]:
    return [d.to_dict() for d in db.collection("videoAccessLog").stream()]


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
        db, caller=gate.Caller(PATIENT, {}), data={"appointmentId": "a1"}, policy=policy(config), now=START_S
    )
    assert answer.get("serverUrl") == server_url
    assert ("serverUrl" in answer) == (server_url is not None)


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
    [record] = audit(db)
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
    assert sorted(r["reason"] for r in audit(db)) == ["consent_given", "rate_limited"]
    assert [r["uid"] for r in audit(db)] == [PATIENT, PATIENT]


def test_a_revoked_session_cannot_admit_or_consent(db: MockFirestore) -> None:
    db.collection("appointments").document("a1").set(appointment())
    revoked = gate.Policy(
        settings=lambda: build_settings(jitsi_config(waiting_room="admit"), HMAC_SECRET),
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
        settings=lambda: build_settings(jitsi_config(), HMAC_SECRET),
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
    records = [r for r in audit(db) if r["reason"] == "rate_limited"]
    assert [r["uid"] for r in records] == ["tenant/user-7"]
    [doc_id] = [d.id for d in db.collection("videoAccessLog").stream() if d.to_dict()["reason"] == "rate_limited"]
    assert "/" not in doc_id
