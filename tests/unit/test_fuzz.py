"""Property-based fuzzing of get_join_token's payload through the handler: only the two expected answers."""

from __future__ import annotations

from typing import Any

from conftest import HMAC_SECRET, NOW_S, STRANGER, appointment, jitsi_config
from fuzzing import payloads
from hypothesis import HealthCheck, given, settings
from mockfirestore import MockFirestore

from telehealth import gate, join
from telehealth.access import is_appointment_id
from telehealth.errors import VideoError, error_code
from telehealth.providers import build_settings
from telehealth.ratelimit import RateLimiter


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
def test_any_payload_is_invalid_argument_or_not_found_and_writes_only_its_audit(payload: Any) -> None:
    db = MockFirestore()
    db.collection("appointments").document("a1").set(appointment())
    try:
        join.get_join_token(
            db,
            caller=gate.Caller(STRANGER, {"role": "doctor"}),
            data=payload,
            policy=gate.Policy(
                settings=lambda: build_settings(jitsi_config(), HMAC_SECRET),
                session_check=lambda: lambda: True,
                app_check_passes=lambda: True,
                limiter=RateLimiter(1000),
            ),
            now=NOW_S,
        )
    except VideoError as refusal:
        code = error_code(refusal)
    else:
        raise AssertionError("a stranger was granted a token")

    well_formed = (
        isinstance(payload, dict)
        and isinstance(payload.get("appointmentId"), str)
        and is_appointment_id(payload["appointmentId"])
    )
    assert code == ("not-found" if well_formed else "invalid-argument")
    records = [doc.to_dict() for doc in db.collection("videoAccessLog").stream()]
    assert len(records) == (1 if well_formed else 0)
    assert db.collection("appointments").document("a1").get().to_dict() == appointment()
    assert [doc.id for doc in db.collection("appointments").stream() if doc.to_dict()] == ["a1"]
