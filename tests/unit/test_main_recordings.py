"""The deploy entry's recording functions: how they are declared, and what each handler hands its use case."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
from typing import Any

import flask
import pytest
from conftest import DOCTOR, HMAC_SECRET
from test_main import db, fake_verify_id_token  # noqa: F401 - the shared fixture and the fake token check

import main
from telehealth import bucket, recording_files, recordings
from telehealth.gate import Policy

RECORDING_FUNCTIONS = (main.start_recording, main.stop_recording, main.get_recording_url, main.set_recording_consent)


def test_the_recording_callables_declare_every_secret_and_serve_like_the_others() -> None:
    every = {spec for spec in main.SECRETS}
    for function in RECORDING_FUNCTIONS:
        endpoint = function.__firebase_endpoint__
        assert {item["key"] for item in endpoint.secretEnvironmentVariables} == every
        assert endpoint.maxInstances == "{{ params.VIDEO_MAX_INSTANCES }}"
        assert (endpoint.concurrency, endpoint.cpu, endpoint.availableMemoryMb) == (8, 1, 256)
        assert endpoint.callableTrigger is not None


def test_the_copy_trigger_runs_on_new_jobs_retries_and_may_take_nine_minutes() -> None:
    endpoint = main.store_recording.__firebase_endpoint__
    assert endpoint.eventTrigger["retry"] is True
    assert endpoint.eventTrigger["eventType"] == "google.cloud.firestore.document.v1.created"
    assert endpoint.eventTrigger["eventFilterPathPatterns"] == {"document": "videoRecordingJobs/{jobId}"}
    assert endpoint.timeoutSeconds == 540
    assert endpoint.maxInstances == "{{ params.VIDEO_MAX_INSTANCES }}"
    assert not endpoint.secretEnvironmentVariables  # it reads no secret: none is granted to it


def test_the_retention_sweep_runs_hourly_on_one_instance() -> None:
    endpoint = main.sweep_recordings.__firebase_endpoint__
    assert endpoint.scheduleTrigger["schedule"] == "every 1 hours"
    assert endpoint.maxInstances == 1


def test_a_recording_callable_hands_its_use_case_the_deployment_and_the_bucket(
    db: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def start(_db: Any, *, caller: Any, data: Any, policy: Policy, now: int) -> dict[str, Any]:
        seen.update(caller=caller.uid, data=data, policy=policy)
        return {"recordingId": "r1", "status": "recording"}

    monkeypatch.setattr(recordings, "start_recording", start)
    with flask.Flask("test").test_request_context(
        "/", method="POST", json={"data": {"appointmentId": "a1"}}, headers={"Authorization": f"Bearer {DOCTOR}"}
    ):
        answer = main.start_recording(flask.request).get_json()
    assert answer == {"result": {"recordingId": "r1", "status": "recording"}}
    assert (seen["caller"], seen["data"]) == (DOCTOR, {"appointmentId": "a1"})
    assert seen["policy"].deployment is main.DEPLOYMENT
    assert seen["policy"].objects is bucket.open_bucket


class Job:
    """A Firestore event for a new job document."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        self.params = {"jobId": "job-1"}
        self.data = None if data is None else type("Snapshot", (), {"to_dict": lambda _self: data})()


def test_the_copy_trigger_runs_the_job_with_the_current_config_and_logs_the_outcome(
    db: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, Any] = {}

    def run_job(_db: Any, job_id: str, job: Any, config: Any, now: dt.datetime, objects: Any) -> Any:
        seen.update(job_id=job_id, job=job, config=config, now=now, objects=objects)
        return recording_files.JobOutcome("failed", "too_large")

    monkeypatch.setattr(recording_files, "run_job", run_job)
    inspect.unwrap(main.store_recording)(Job({"appointmentId": "a1"}))
    assert (seen["job_id"], seen["job"], seen["objects"]) == ("job-1", {"appointmentId": "a1"}, bucket.open_bucket)
    assert seen["config"] == main.current_config()
    assert abs((seen["now"] - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    expected = {"outcome": "failed", "reason": "too_large", "job": "job-1", "message": "recording job done"}
    assert {"severity": "WARNING", **expected} in lines


def test_a_failing_copy_is_logged_by_class_and_raised_so_the_event_is_delivered_again(
    db: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    link = "https://objectstorage.example.test/p/" + "secret-" + "token"  # not in any source line of the stack

    def run_job(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError(link)

    monkeypatch.setattr(recording_files, "run_job", run_job)
    with pytest.raises(ConnectionError):
        inspect.unwrap(main.store_recording)(Job({"appointmentId": "a1"}))
    captured = capsys.readouterr()
    out = captured.out + captured.err  # error lines go to stderr
    assert "secret-token" not in out
    (line,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (line["severity"], line["error"], line["job"]) == ("ERROR", "ConnectionError", "job-1")


def test_a_job_event_without_a_document_does_nothing(
    db: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recording_files, "run_job", pytest.fail)
    inspect.unwrap(main.store_recording)(Job(None))


def test_the_sweep_is_handed_the_schedules_time_the_config_and_the_bucket(
    db: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, Any] = {}

    def sweep(_db: Any, **kwargs: Any) -> recording_files.SweepReport:
        seen.update(kwargs)
        kwargs["on_failure"]("a1", OSError("down"))
        return recording_files.SweepReport(deleted=3, failed=1)

    monkeypatch.setattr(recording_files, "sweep", sweep)

    class Scheduled:
        schedule_time = dt.datetime(2026, 3, 2, 10, 0)  # naive, as Cloud Scheduler may hand it: read as UTC

    inspect.unwrap(main.sweep_recordings)(Scheduled())
    assert seen["now"] == dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    assert (seen["config"], seen["objects"]) == (main.current_config(), bucket.open_bucket)
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in (captured.out + captured.err).splitlines() if line.startswith("{")]
    assert {"severity": "ERROR", "deleted": 3, "failed": 1, "message": "recording sweep done"} in lines
    assert any(line.get("appointmentId") == "a1" and line["error"] == "OSError" for line in lines)
    assert dataclasses.is_dataclass(recording_files.SweepReport)
    assert HMAC_SECRET not in json.dumps(lines)
