"""The waiting-room modes other than the default, over HTTP: admit (with recording configured) and off."""

from __future__ import annotations

import os
from typing import Any

import emulator_api as emu
import jwt
import node_tests
import pytest

MODE = os.environ["MATRIX_WAITING_ROOM"]
ROOM = {"roomName": "modes234567modes234567modes23456", "provider": "jitsi"}


@pytest.fixture
def people() -> dict[str, Any]:
    emu.reset()
    doctor = emu.make_doctor("modes-doctor@test.example", "modes-pass-1", "Dr. Modes")
    patient = emu.sign_up("modes-patient@test.example", "modes-pass-1")
    emu.admin_db().collection("appointments").document("visit").set(
        emu.video_appointment(doctor.uid, patient.uid, video=ROOM)
    )
    return {"doctor": doctor, "patient": patient}


def call(name: str, user: emu.User, **data: Any) -> emu.CallResult:
    return emu.call(name, {"appointmentId": "visit", **data}, user.id_token)


def video() -> dict[str, Any]:
    data: dict[str, Any] = emu.admin_db().collection("appointments").document("visit").get().to_dict()["video"]
    return data


def recording(answer: emu.CallResult) -> str:
    value: str = jwt.decode(answer.result["token"], options={"verify_signature": False})["context"]["features"][
        "recording"
    ]
    return value


@pytest.mark.skipif(MODE != "off", reason="off mode only")
def test_off_the_patient_joins_before_the_doctor_and_nothing_is_stamped(people: dict[str, Any]) -> None:
    assert call("get_join_token", people["patient"]).result["role"] == "guest"
    assert call("get_join_token", people["doctor"]).result["role"] == "moderator"
    assert video() == ROOM
    answer = call("admit_patient", people["doctor"], admit=True)
    assert (answer.status, answer.details) == ("FAILED_PRECONDITION", {"reason": "admission_off"})


@pytest.mark.skipif(MODE != "admit", reason="admit mode only")
def test_admit_lobby_admission_denial_and_readmission(people: dict[str, Any]) -> None:
    waiting = call("get_join_token", people["patient"])
    assert (waiting.status, waiting.details) == ("FAILED_PRECONDITION", {"reason": "waiting_for_admission"})
    assert "waitingSince" in video()["lobby"]
    # The doctor's own token does not let the patient in; only an admission does.
    assert call("get_join_token", people["doctor"]).result["role"] == "moderator"
    assert call("get_join_token", people["patient"]).details == {"reason": "waiting_for_admission"}

    assert call("admit_patient", people["doctor"], admit=True).result == {"admitted": True}
    assert call("get_join_token", people["patient"]).result["role"] == "guest"

    assert call("admit_patient", people["doctor"], admit=False).result == {"admitted": False}
    denied = call("get_join_token", people["patient"])
    assert (denied.status, denied.details) == ("FAILED_PRECONDITION", {"reason": "admission_denied"})
    assert "admittedAt" not in video()

    assert call("admit_patient", people["doctor"], admit=True).result == {"admitted": True}
    assert call("get_join_token", people["patient"]).ok
    assert call("admit_patient", people["patient"], admit=True).status == "NOT_FOUND"


def capture(answer: emu.CallResult) -> dict[str, str]:
    features: dict[str, str] = jwt.decode(answer.result["token"], options={"verify_signature": False})["context"][
        "features"
    ]
    return features


@pytest.mark.skipif(MODE != "admit", reason="admit mode (every capture feature configured) only")
def test_every_capture_feature_needs_the_patients_consent_and_dial_out_is_never_on(people: dict[str, Any]) -> None:
    """The red-team finding: consent used to gate only recording; livestreaming and transcription were on."""
    off = {
        name: "false" for name in ("recording", "livestreaming", "transcription", "outbound-call", "sip-outbound-call")
    }
    assert capture(call("get_join_token", people["doctor"])) == off
    assert call("set_recording_consent", people["patient"], consent=True).ok
    on = off | {"recording": "true", "livestreaming": "true", "transcription": "true"}
    assert capture(call("get_join_token", people["doctor"])) == on
    assert call("set_recording_consent", people["patient"], consent=False).ok
    assert capture(call("get_join_token", people["doctor"])) == off


@pytest.mark.skipif(MODE != "admit", reason="admit mode (recording configured) only")
def test_recording_is_on_for_the_doctor_only_while_the_patient_consents(people: dict[str, Any]) -> None:
    assert recording(call("get_join_token", people["doctor"])) == "false"
    assert call("set_recording_consent", people["patient"], consent=True).ok
    assert recording(call("get_join_token", people["doctor"])) == "true"
    assert call("admit_patient", people["doctor"], admit=True).ok
    assert recording(call("get_join_token", people["patient"])) == "false"
    assert call("set_recording_consent", people["patient"], consent=False).ok
    assert recording(call("get_join_token", people["doctor"])) == "false"


@pytest.mark.skipif(MODE != "admit", reason="admit mode only")
def test_the_demo_page_admits_a_waiting_patient_in_a_browser() -> None:
    """tests/js/admit-flow.mjs in headless Chromium, and the client kit's admission states (visit-admit.mjs),
    against this run's functions (admit mode)."""
    node_tests.run("admit-flow.mjs", "visit-admit.mjs")
    for shot in ("admit-1-patient-in-lobby", "admit-2-doctor-sees-patient-waiting", "admit-3-patient-admitted"):
        assert node_tests.screenshot(shot) > 10_000
