"""The doctor's start_recording / stop_recording, the consent withdrawal that discards, and get_recording_url.

On the faithful fake Firestore (transactions, queries), with the deployed provider's recorder replaced by a
recording fake (its real LiveKit calls are tested against the egress stand-in in test_livekit_recordings).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from conftest import DOCTOR, DOCTOR_ENTRY, NOW, NOW_S, PATIENT, appointment, serial_transactional
from support.callables import CALLERS, HMAC_SECRET
from support.callables import policy as open_policy
from support.configs import video_config
from support.fakes import FakeDB
from support.stored_objects import FakeObjects

from telehealth import lobby, recordings
from telehealth.config import VideoConfig
from telehealth.errors import ProviderCallFailed, VideoError, error_code
from telehealth.gate import Policy
from telehealth.providers import REGISTRY, build_settings, livekit
from telehealth.providers.base import Deployment, Recorder
from telehealth.store import recordings as store

BUCKET = "clinic-recordings"
DEPLOYMENTS: list[Deployment] = []  # the deployment each call's policy carried, newest last
ROOM = "r" * 32
CONSENT = {"consent": True, "at": NOW - dt.timedelta(minutes=1)}


class FakeRecorder:
    """The provider's recorder: what it was asked, and failures on demand."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, str]] = []
        self.stopped: list[str] = []
        self.deployments: list[Deployment] = []
        self.fail_start = False
        self.fail_stop: list[bool] = []
        self.during_start: Callable[[], None] = lambda: None

    def start(self, room: str, bucket: str, path: str, deployment: Deployment) -> str:
        self.deployments.append(deployment)
        if self.fail_start:
            raise ProviderCallFailed(503, "unavailable")
        self.started.append((room, bucket, path))
        self.during_start()
        return f"EG_{len(self.started)}"

    def stop(self, provider_id: str, deployment: Deployment) -> None:
        self.deployments.append(deployment)
        if self.fail_stop and self.fail_stop.pop(0):
            raise ProviderCallFailed(503, "unavailable")
        self.stopped.append(provider_id)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> FakeRecorder:
    fake = FakeRecorder()
    replaced = dataclasses.replace(livekit.PROVIDER, recorder=Recorder(start=fake.start, stop=fake.stop))
    monkeypatch.setitem(REGISTRY, "livekit", replaced)
    monkeypatch.setattr(store, "transactional", serial_transactional)
    return fake


def livekit_config(**settings: Any) -> VideoConfig:
    values = {"provider": "livekit", "domain": "lk.clinic.test", "app_id": "APIclinic", "recording_bucket": BUCKET}
    return video_config(**{**values, **settings})


def make_policy(config: VideoConfig, objects: FakeObjects) -> Policy:
    deployment = Deployment(
        config=lambda: config, settings=lambda: build_settings(config, HMAC_SECRET), secret=lambda _name: "none"
    )
    DEPLOYMENTS.append(deployment)

    def open_bucket(name: str) -> FakeObjects:
        assert name == config.recording.bucket  # only the configured bucket exists
        return objects

    return dataclasses.replace(open_policy(config), deployment=deployment, objects=open_bucket)


def seeded(**video: Any) -> FakeDB:
    db = FakeDB()
    db.put(f"doctors/{DOCTOR}", dict(DOCTOR_ENTRY))
    kind = video.pop("type", "video")
    fields = {"roomName": ROOM, "provider": "livekit", "recordingConsent": CONSENT, **video}
    visit = appointment(type=kind, video={key: value for key, value in fields.items() if value is not None})
    db.put("appointments/a1", visit)
    return db


def run(
    db: FakeDB,
    use_case: Any,
    who: str | None,
    config: VideoConfig | None = None,
    objects: FakeObjects | None = None,
    **data: Any,
) -> Any:
    chosen = config or livekit_config()
    try:
        return use_case(
            db,
            caller=CALLERS[who] if who else None,
            data={"appointmentId": "a1", **data},
            policy=make_policy(chosen, objects or FakeObjects()),
            now=NOW_S,
        )
    except VideoError as refusal:
        return (error_code(refusal), refusal.reason)


def recordings_of(db: FakeDB) -> dict[str, dict[str, Any]]:
    prefix = "appointments/a1/recordings/"
    return {path.removeprefix(prefix): data for path, data in db.docs.items() if path.startswith(prefix)}


def audit_rows(db: FakeDB) -> list[tuple[Any, ...]]:
    rows = [data for path, data in db.docs.items() if path.startswith("videoAccessLog/")]
    return sorted((row["role"], row["outcome"], row["reason"], row.get("recordingId", "")) for row in rows)


def test_the_doctor_starts_a_consented_recording_into_the_bucket(recorder: FakeRecorder) -> None:
    db = seeded()
    answer = run(db, recordings.start_recording, "doctor")
    recording_id = answer["recordingId"]
    assert len(recording_id) == 20
    assert recorder.deployments == [DEPLOYMENTS[-1]]
    assert answer == {"recordingId": recording_id, "status": "recording"}
    assert recorder.started == [(ROOM, BUCKET, f"recordings/a1/{recording_id}")]
    assert recordings_of(db) == {
        recording_id: {
            "status": "recording",
            "provider": "livekit",
            "startedAt": store_timestamp(),
            "patientAccess": False,
            "deleteAt": NOW + dt.timedelta(days=90),
            "providerRecordingId": "EG_1",
        }
    }
    assert audit_rows(db) == [("moderator", "granted", "recording_started", recording_id)]


def store_timestamp() -> Any:
    from google.cloud.firestore import SERVER_TIMESTAMP

    return SERVER_TIMESTAMP


REFUSED_STARTS: list[Any] = [
    pytest.param("stranger", {}, {}, ("not-found", "not_found"), id="a stranger"),
    pytest.param("patient", {}, {}, ("not-found", "not_found"), id="the patient"),
    pytest.param("claimless doctor", {}, {}, ("not-found", "not_found"), id="the doctor's uid without the claim"),
    pytest.param("doctor", {"recordingConsent": None}, {}, ("failed-precondition", "no_consent"), id="no answer"),
    pytest.param(
        "doctor",
        {"recordingConsent": {"consent": False, "at": NOW}},
        {},
        ("failed-precondition", "no_consent"),
        id="no",
    ),
    pytest.param("doctor", {"roomName": None}, {}, ("failed-precondition", "room_not_ready"), id="no room yet"),
    pytest.param("doctor", {"type": "in_person"}, {}, ("failed-precondition", "not_video"), id="not a video visit"),
    pytest.param("doctor", {}, {"recording_bucket": ""}, ("failed-precondition", "recording_off"), id="no bucket"),
    pytest.param(
        "doctor",
        {},
        {"provider": "jitsi", "domain": "meet.clinic.test"},
        ("failed-precondition", "recording_unsupported"),
        id="a provider that records in the meeting",
    ),
]


@pytest.mark.parametrize(("who", "video", "settings", "refusal"), REFUSED_STARTS)
def test_a_start_is_refused_with_its_code_and_nothing_is_recorded(
    recorder: FakeRecorder, who: str, video: dict[str, Any], settings: dict[str, Any], refusal: tuple[str, str]
) -> None:
    db = seeded(**video)
    assert run(db, recordings.start_recording, who, livekit_config(**settings)) == refusal
    assert recorder.started == []
    assert recordings_of(db) == {}
    assert [row[1:3] for row in audit_rows(db)] == [("denied", refusal[1])]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param("completed", "not_confirmed", id="completed"),
        pytest.param("cancelled", "not_confirmed", id="cancelled"),
    ],
)
def test_a_visit_that_is_not_confirmed_is_not_recorded(recorder: FakeRecorder, status: str, reason: str) -> None:
    db = seeded()
    db.docs["appointments/a1"]["status"] = status
    assert run(db, recordings.start_recording, "doctor") == ("failed-precondition", reason)
    assert (recorder.started, recordings_of(db)) == ([], {})


def test_a_signed_out_start_writes_nothing_at_all(recorder: FakeRecorder) -> None:
    db = seeded()
    before = dict(db.docs)
    assert run(db, recordings.start_recording, None) == ("unauthenticated", "unauthenticated")
    assert db.docs == before


def test_a_second_start_answers_the_running_recording_and_starts_no_second_egress(recorder: FakeRecorder) -> None:
    db = seeded()
    first = run(db, recordings.start_recording, "doctor")
    assert run(db, recordings.start_recording, "doctor") == first
    assert len(recorder.started) == 1
    assert len(recordings_of(db)) == 1
    assert ("moderator", "granted", "recording_running", first["recordingId"]) in audit_rows(db)


def test_a_provider_that_fails_the_start_answers_unavailable_and_the_recording_is_marked_failed(
    recorder: FakeRecorder,
) -> None:
    db = seeded()
    recorder.fail_start = True
    assert run(db, recordings.start_recording, "doctor") == ("unavailable", "provider_unavailable")
    (meta,) = recordings_of(db).values()
    assert (meta["status"], meta["reason"], meta["endedAt"]) == ("failed", "provider_failed", store_timestamp())


def test_consent_withdrawn_while_the_egress_starts_stops_it_and_keeps_it_discarded(recorder: FakeRecorder) -> None:
    db = seeded()

    def withdraw_meanwhile() -> None:
        (recording_id,) = recordings_of(db)
        store.move_recording(db, "a1", recording_id, frozenset({"recording"}), {"status": "discarded"})

    recorder.during_start = withdraw_meanwhile
    assert run(db, recordings.start_recording, "doctor") == ("failed-precondition", "no_consent")
    assert recorder.stopped == ["EG_1"]
    (meta,) = recordings_of(db).values()
    assert (meta["status"], meta["providerRecordingId"], meta["stopPending"]) == ("discarded", "EG_1", False)


def test_a_stop_that_fails_after_a_withdrawal_during_the_start_stays_pending_for_the_next_withdrawal(
    recorder: FakeRecorder,
) -> None:
    db = seeded()

    def withdraw_meanwhile() -> None:
        (recording_id,) = recordings_of(db)
        store.move_recording(db, "a1", recording_id, frozenset({"recording"}), {"status": "discarded"})

    recorder.during_start, recorder.fail_stop = withdraw_meanwhile, [True]
    assert run(db, recordings.start_recording, "doctor") == ("failed-precondition", "no_consent")
    (meta,) = recordings_of(db).values()
    assert (meta["status"], meta["providerRecordingId"], meta["stopPending"]) == ("discarded", "EG_1", True)


def test_consent_changed_between_the_read_and_the_start_is_seen_and_refused(
    recorder: FakeRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = seeded()
    begin = store.begin_recording

    def withdrawn_first(*args: Any) -> bool:
        db.docs["appointments/a1"]["video"]["recordingConsent"] = {"consent": False, "at": NOW}
        db.clock += 1
        db.times["appointments/a1"] = db.clock
        return begin(*args)

    monkeypatch.setattr(store, "begin_recording", withdrawn_first)
    assert run(db, recordings.start_recording, "doctor") == ("failed-precondition", "no_consent")
    assert (recorder.started, recordings_of(db)) == ([], {})


def started(db: FakeDB, recorder: FakeRecorder) -> str:
    recording_id: str = run(db, recordings.start_recording, "doctor")["recordingId"]
    return recording_id


def test_the_doctor_stops_the_running_recording_and_it_waits_for_the_providers_file(recorder: FakeRecorder) -> None:
    db = seeded()
    recording_id = started(db, recorder)
    assert run(db, recordings.stop_recording, "doctor") == {"stopped": [recording_id]}
    assert recorder.stopped == ["EG_1"]
    assert recorder.deployments[-1] is DEPLOYMENTS[-1]
    meta = recordings_of(db)[recording_id]
    assert (meta["status"], meta["stoppedAt"]) == ("processing", store_timestamp())
    assert ("moderator", "granted", "recording_stopped", "") in audit_rows(db)
    assert run(db, recordings.stop_recording, "doctor") == {"stopped": []}
    assert recorder.stopped == ["EG_1"]
    assert ("moderator", "granted", "recording_not_running", "") in audit_rows(db)


def test_a_stop_skips_a_recording_still_starting_and_a_failed_stop_changes_nothing(recorder: FakeRecorder) -> None:
    db = seeded()
    db.put("appointments/a1/recordings/a-starting", {"status": "recording", "providerRecordingId": ""})
    db.put("appointments/a1/recordings/b-running", {"status": "recording", "providerRecordingId": "EG_8"})
    assert run(db, recordings.stop_recording, "doctor") == {"stopped": ["b-running"]}
    assert recorder.stopped == ["EG_8"]
    recording_id = "running"
    db.put(f"appointments/a1/recordings/{recording_id}", {"status": "recording", "providerRecordingId": "EG_9"})
    recorder.fail_stop = [True]
    assert run(db, recordings.stop_recording, "doctor") == ("unavailable", "provider_unavailable")
    assert recordings_of(db)[recording_id]["status"] == "recording"


@pytest.mark.parametrize("who", ["patient", "stranger"])
def test_only_the_doctor_stops_a_recording(recorder: FakeRecorder, who: str) -> None:
    db = seeded()
    started(db, recorder)
    assert run(db, recordings.stop_recording, who) == ("not-found", "not_found")
    assert recorder.stopped == []


def test_withdrawn_consent_stops_the_recording_at_once_deletes_any_file_and_audits(recorder: FakeRecorder) -> None:
    db = seeded()
    recording_id = started(db, recorder)
    objects = FakeObjects({f"recordings/a1/{recording_id}": b"partial"})
    assert run(db, lobby.set_recording_consent, "patient", objects=objects, consent=False) == {"consent": False}
    assert recorder.stopped == ["EG_1"]
    assert recorder.deployments[-1] is DEPLOYMENTS[-1]
    meta = recordings_of(db)[recording_id]
    assert (meta["status"], meta["reason"], meta["stopPending"]) == ("discarded", "consent_withdrawn", False)
    assert meta["endedAt"] == store_timestamp()
    assert objects.files == {}
    (row,) = [data for data in db.docs.values() if data.get("outcome") == "discarded"]
    assert (row["appointmentId"], row["uid"], row["role"], row["recordingId"]) == ("a1", PATIENT, "guest", recording_id)
    assert row["expireAt"] == NOW + dt.timedelta(days=2190)


def test_a_withdrawal_goes_on_past_a_recording_that_moved_on_meanwhile(
    recorder: FakeRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = seeded()
    db.put("appointments/a1/recordings/a-ended", {"status": "processing", "providerRecordingId": "EG_7"})
    db.put("appointments/a1/recordings/b-running", {"status": "recording", "providerRecordingId": "EG_8"})
    where = store.recordings_where

    def stale(db_: Any, appointment_id: str, field: str, value: Any) -> list[tuple[str, dict[str, Any]]]:
        found = where(db_, appointment_id, field, value)
        if field == "status":  # as read a moment ago, when the first was still recording
            found = [("a-ended", {"status": "recording", "providerRecordingId": "EG_7"}), *found]
        return found

    monkeypatch.setattr(store, "recordings_where", stale)
    assert run(db, lobby.set_recording_consent, "patient", consent=False) == {"consent": False}
    assert recorder.stopped == ["EG_8"]
    assert recordings_of(db)["a-ended"]["status"] == "processing"
    assert recordings_of(db)["b-running"]["status"] == "discarded"


@pytest.mark.parametrize(
    ("settings", "provider_id", "stops"),
    [
        pytest.param({}, "", [], id="no provider id to stop"),
        pytest.param({"provider": "jitsi", "domain": "meet.clinic.test"}, "EG_5", [], id="a provider without recorder"),
        pytest.param({}, "EG_5", ["EG_5"], id="a stop still owed"),
    ],
)
def test_a_withdrawal_retries_only_the_stops_it_can_make(
    recorder: FakeRecorder, settings: dict[str, Any], provider_id: str, stops: list[str]
) -> None:
    db = seeded()
    db.put(
        "appointments/a1/recordings/owed",
        {"status": "discarded", "providerRecordingId": provider_id, "stopPending": True},
    )
    assert run(db, lobby.set_recording_consent, "patient", livekit_config(**settings), consent=False) == {
        "consent": False
    }
    assert recorder.stopped == stops


def test_a_stop_that_fails_on_withdrawal_answers_unavailable_and_the_next_withdrawal_stops_it(
    recorder: FakeRecorder,
) -> None:
    db = seeded()
    recording_id = started(db, recorder)
    recorder.fail_stop = [True]
    assert run(db, lobby.set_recording_consent, "patient", consent=False) == ("unavailable", "provider_unavailable")
    meta = recordings_of(db)[recording_id]
    assert (meta["status"], meta["stopPending"]) == ("discarded", True)
    assert db.docs["appointments/a1"]["video"]["recordingConsent"]["consent"] is False
    assert run(db, lobby.set_recording_consent, "patient", consent=False) == {"consent": False}
    assert recorder.stopped == ["EG_1"]
    assert recordings_of(db)[recording_id]["stopPending"] is False


def test_a_recording_that_ended_before_the_withdrawal_is_kept(recorder: FakeRecorder) -> None:
    db = seeded()
    recording_id = started(db, recorder)
    run(db, recordings.stop_recording, "doctor")
    assert run(db, lobby.set_recording_consent, "patient", consent=False) == {"consent": False}
    assert recordings_of(db)[recording_id]["status"] == "processing"
    assert recorder.stopped == ["EG_1"]


def test_consent_given_again_discards_nothing(recorder: FakeRecorder) -> None:
    db = seeded()
    recording_id = started(db, recorder)
    assert run(db, lobby.set_recording_consent, "patient", consent=True) == {"consent": True}
    assert (recordings_of(db)[recording_id]["status"], recorder.stopped) == ("recording", [])


def ready(db: FakeDB, recording_id: str = "rec1", patient_access: bool = False, status: str = "ready") -> None:
    meta = {"status": status, "bytes": 7, "contentType": "video/mp4", "sha256": "ab", "patientAccess": patient_access}
    db.put(f"appointments/a1/recordings/{recording_id}", meta)


def test_the_doctor_gets_a_short_lived_url_and_the_hand_out_is_audited(recorder: FakeRecorder) -> None:
    db, objects = seeded(), FakeObjects()
    ready(db)
    answer = run(db, recordings.get_recording_url, "doctor", objects=objects, recordingId="rec1")
    expires = NOW_S + 300
    assert answer == {
        "url": f"https://storage.test/recordings/a1/rec1?expires={expires}",
        "expiresAt": expires,
        "contentType": "video/mp4",
        "bytes": 7,
    }
    assert objects.urls == [("recordings/a1/rec1", dt.datetime.fromtimestamp(expires, dt.UTC), NOW)]
    (row,) = [data for path, data in db.docs.items() if path.startswith("videoAccessLog/")]
    assert (row["reason"], row["recordingId"], row["expiresAt"], row["uid"]) == (
        "recording_url",
        "rec1",
        expires,
        DOCTOR,
    )
    assert "url" not in row


PATIENT_ACCESS: list[Any] = [
    pytest.param(False, True, ("not-found", "not_found"), id="clinic off, record marked"),
    pytest.param(True, False, ("not-found", "not_found"), id="clinic on, record made while off"),
    pytest.param(True, True, None, id="clinic on, record marked"),
]


@pytest.mark.parametrize(("clinic_allows", "record_allows", "refusal"), PATIENT_ACCESS)
def test_the_patient_gets_a_url_only_where_the_clinic_allows_it_and_the_record_says_so(
    recorder: FakeRecorder, clinic_allows: bool, record_allows: bool, refusal: tuple[str, str] | None
) -> None:
    db, objects = seeded(), FakeObjects()
    ready(db, patient_access=record_allows)
    config = livekit_config(patient_recording_access=clinic_allows)
    answer = run(db, recordings.get_recording_url, "patient", config, objects, recordingId="rec1")
    if refusal is None:
        assert answer["url"].startswith("https://storage.test/recordings/a1/rec1")
    else:
        assert (answer, objects.urls) == (refusal, [])


URL_REFUSALS: list[Any] = [
    pytest.param("stranger", "rec1", "ready", ("not-found", "not_found"), id="a stranger"),
    pytest.param("claimless doctor", "rec1", "ready", ("not-found", "not_found"), id="not an active doctor"),
    pytest.param("doctor", "other", "ready", ("not-found", "not_found"), id="no such recording"),
    pytest.param("doctor", "rec1", "processing", ("failed-precondition", "not_ready"), id="still being stored"),
    pytest.param("doctor", "rec1", "discarded", ("failed-precondition", "not_ready"), id="discarded"),
]


@pytest.mark.parametrize(("who", "asked", "status", "refusal"), URL_REFUSALS)
def test_a_url_is_refused_with_its_code_and_none_is_signed(
    recorder: FakeRecorder, who: str, asked: str, status: str, refusal: tuple[str, str]
) -> None:
    db, objects = seeded(), FakeObjects()
    ready(db, status=status)
    assert run(db, recordings.get_recording_url, who, objects=objects, recordingId=asked) == refusal
    assert objects.urls == []
    assert [row[1:3] for row in audit_rows(db)] == [("denied", refusal[1])]


@pytest.mark.parametrize(
    "recording_id",
    [None, "", "a/b", "x" * 129, 7, "rec 1"],
    ids=["missing", "empty", "slash", "long", "number", "space"],
)
def test_a_malformed_recording_id_is_refused_before_anything_is_read_or_written(
    recorder: FakeRecorder, recording_id: Any
) -> None:
    db, objects = seeded(), FakeObjects()
    before = dict(db.docs)
    data = {} if recording_id is None else {"recordingId": recording_id}
    with pytest.raises(VideoError) as refused:
        recordings.get_recording_url(
            db,
            caller=CALLERS["doctor"],
            data={"appointmentId": "a1", **data},
            policy=make_policy(livekit_config(), objects),
            now=NOW_S,
        )
    assert (error_code(refused.value), refused.value.message) == (
        "invalid-argument",
        "recordingId must be a recording's id.",
    )
    assert (db.docs, objects.urls) == (before, [])


def test_a_ready_recording_is_not_handed_out_once_recordings_are_off(recorder: FakeRecorder) -> None:
    db, objects = seeded(), FakeObjects()
    ready(db)
    config = livekit_config(recording_bucket="")
    answer = run(db, recordings.get_recording_url, "doctor", config, objects, recordingId="rec1")
    assert (answer, objects.urls) == (("failed-precondition", "recording_off"), [])


def test_recording_ids_are_fresh_and_url_safe() -> None:
    made = {recordings.new_recording_id() for _ in range(50)}
    assert len(made) == 50
    assert all(len(one) == 20 and recordings.RECORDING_ID.fullmatch(one) for one in made)


def test_without_the_deployment_the_recording_callables_fail_closed() -> None:
    config = livekit_config()
    policy = open_policy(config)
    with pytest.raises(VideoError) as refused:
        recordings.start_recording(
            seeded(), caller=CALLERS["doctor"], data={"appointmentId": "a1"}, policy=policy, now=NOW_S
        )
    assert error_code(refused.value) == "internal"
    assert str(refused.value) == "the recording callables need the deployment (provider API and secrets)"


def test_an_audit_records_extra_fields_never_replace_its_own() -> None:
    from telehealth.store import audit

    db = FakeDB()
    audit.record_access(
        db,
        appointment_id="a1",
        uid=DOCTOR,
        role="moderator",
        outcome="granted",
        reason="recording_url",
        now=NOW_S,
        extra={"recordingId": "rec1", "outcome": "denied", "uid": "someone"},
    )
    (row,) = db.docs.values()
    assert (row["recordingId"], row["outcome"], row["uid"]) == ("rec1", "granted", DOCTOR)
