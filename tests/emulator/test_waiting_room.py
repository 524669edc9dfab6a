"""The waiting room through the emulators: host mode over HTTP (the suite's mode), and admission races on the
emulator's Firestore (real preconditions). Admit and off modes over HTTP run in the matrix (tests/matrix)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import emulator_api as emu
import pytest
from conftest import all_documents
from google.cloud import firestore
from support.configs import video_config

from telehealth import gate, join, lobby
from telehealth.errors import VideoError, error_code
from telehealth.providers import build_settings
from telehealth.ratelimit import RateLimiter


def book(db: firestore.Client, people: dict[str, emu.User], doc_id: str = "visit") -> firestore.DocumentReference:
    """A confirmed video visit whose room the trigger assigned (so its events are the real ones)."""
    ref = db.collection("appointments").document(doc_id)
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid))
    emu.wait_for(lambda: (ref.get().to_dict() or {}).get("video"), timeout=30)
    return ref


def call(name: str, user: emu.User, **data: Any) -> emu.CallResult:
    return emu.call(name, {"appointmentId": "visit", **data}, user.id_token)


def test_host_mode_the_patient_waits_for_the_doctors_first_token(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = book(db, people)
    emu.wait_for_quiet_triggers()  # the room's own write event has been handled: the counts below are ours
    before = ref.get().to_dict()

    waiting = call("get_join_token", people["patient"])
    assert (waiting.status, waiting.details) == ("FAILED_PRECONDITION", {"reason": "waiting_for_doctor"})
    assert ref.get().to_dict() == before

    runs = emu.finished_runs("assign_video_room")
    doctor = call("get_join_token", people["doctor"])
    assert doctor.result["role"] == "moderator"
    joined = ref.get()
    assert isinstance(joined.to_dict()["video"]["doctorJoinedAt"], dt.datetime)
    assert {k: v for k, v in joined.to_dict().items() if k != "video"} == {
        k: v for k, v in before.items() if k != "video"
    }
    # The doctor's stamp fires the trigger once; it decides from the event alone and writes nothing.
    emu.wait_for_runs("assign_video_room", runs + 1)
    emu.wait_for_quiet_triggers()
    assert emu.finished_runs("assign_video_room") == runs + 1
    assert ref.get().update_time == joined.update_time

    assert call("get_join_token", people["patient"]).result["role"] == "guest"
    # A second doctor token writes nothing more.
    assert call("get_join_token", people["doctor"]).ok
    assert ref.get().update_time == joined.update_time
    reasons = sorted(snap.to_dict()["reason"] for snap in db.collection("videoAccessLog").stream())
    assert reasons == ["ok", "ok", "ok", "waiting_for_doctor"]


def test_admission_is_refused_in_host_mode_and_changes_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = book(db, people)
    before = ref.get().to_dict()
    answer = call("admit_patient", people["doctor"], admit=True)
    assert (answer.status, answer.details) == ("FAILED_PRECONDITION", {"reason": "admission_off"})
    assert ref.get().to_dict() == before


@pytest.mark.parametrize(
    ("who", "data", "status"),
    [
        pytest.param("patient", {"admit": True}, "NOT_FOUND", id="admission: the patient"),
        pytest.param("stranger", {"admit": True}, "NOT_FOUND", id="admission: a stranger"),
        pytest.param("doctor", {"admit": "yes"}, "INVALID_ARGUMENT", id="admission: not a bool"),
        pytest.param("doctor", {"consent": True}, "NOT_FOUND", id="consent: the doctor"),
        pytest.param("stranger", {"consent": True}, "NOT_FOUND", id="consent: a stranger"),
        pytest.param("patient", {"consent": None}, "INVALID_ARGUMENT", id="consent: null"),
    ],
)
def test_refusals_over_http_change_nothing(
    db: firestore.Client, people: dict[str, emu.User], who: str, data: dict[str, Any], status: str
) -> None:
    book(db, people)
    before = {path: doc for path, doc in all_documents(db).items() if path.startswith("appointments/")}
    name = "admit_patient" if "admit" in data else "set_recording_consent"
    answer = call(name, people[who], **data)
    assert (answer.status, answer.details) == (status, None)
    assert {path: doc for path, doc in all_documents(db).items() if path.startswith("appointments/")} == before


def test_consent_over_http_is_stored_and_audited(db: firestore.Client, people: dict[str, emu.User]) -> None:
    ref = book(db, people)
    assert call("set_recording_consent", people["patient"], consent=True).result == {"consent": True}
    consent = ref.get().to_dict()["video"]["recordingConsent"]
    assert consent["consent"] is True
    assert isinstance(consent["at"], dt.datetime)
    assert call("set_recording_consent", people["patient"], consent=False).result == {"consent": False}
    assert ref.get().to_dict()["video"]["recordingConsent"]["consent"] is False
    reasons = sorted(snap.to_dict()["reason"] for snap in db.collection("videoAccessLog").stream())
    assert reasons == ["consent_given", "consent_withdrawn"]


def admit_policy() -> gate.Policy:
    config = video_config(provider="jitsi", domain="meet.example.test", app_id="telehealth-demo", waiting_room="admit")
    settings = build_settings(config, emu.local_signing_key())
    return gate.Policy(
        settings=lambda: settings,
        session_check=lambda: lambda: True,
        app_check_passes=lambda: True,
        limiter=RateLimiter(10**6),
    )


@pytest.mark.parametrize("round_", range(4))
def test_the_patients_call_and_the_doctors_admission_at_once_end_consistent(
    db: firestore.Client, people: dict[str, emu.User], round_: int
) -> None:
    """Both run in threads on the emulator's Firestore with its real preconditions, started together."""
    ref = book(db, people)
    policy = admit_policy()
    patient = gate.Caller(people["patient"].uid, {})
    doctor = gate.Caller(people["doctor"].uid, {"role": "doctor"})
    start = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def patient_joins() -> None:
        start.wait()
        try:
            outcomes["patient"] = join.get_join_token(
                emu.admin_db(), caller=patient, data={"appointmentId": "visit"}, policy=policy, now=int(time.time())
            )["role"]
        except VideoError as refusal:
            outcomes["patient"] = (error_code(refusal), refusal.reason)

    def doctor_admits() -> None:
        start.wait()
        outcomes["doctor"] = lobby.admit_patient(
            emu.admin_db(),
            caller=doctor,
            data={"appointmentId": "visit", "admit": True},
            policy=policy,
            now=int(time.time()),
        )

    threads = [threading.Thread(target=patient_joins), threading.Thread(target=doctor_admits)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes["doctor"] == {"admitted": True}
    assert outcomes["patient"] in ("guest", ("failed-precondition", "waiting_for_admission"))
    video = ref.get().to_dict()["video"]
    assert isinstance(video["admittedAt"], dt.datetime), "the admission was lost"
    assert "deniedAt" not in video
    # Whatever the order, the patient's next call gets in.
    again = join.get_join_token(
        emu.admin_db(), caller=patient, data={"appointmentId": "visit"}, policy=policy, now=int(time.time())
    )
    assert again["role"] == "guest"
