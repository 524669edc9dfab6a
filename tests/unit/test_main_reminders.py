"""Reminders through the deploy entry: the task-queue function as the SDK declares and serves it, its logs, and
the trigger handing its events to the reminder step."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import flask
import pytest
from conftest import DOCTOR, PATIENT, appointment
from support.fakes import FakeDB
from test_main import DEMO_PARAMS

import main
from telehealth.delivery import Channels
from telehealth.notify.contacts import Contact
from telehealth.reminders import REMINDER, ReminderHooks, ReminderTask

START = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(
    hours=3
)  # far enough that the 15-minute reminder is still ahead however slow the suite


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDB:
    for name, value in {**DEMO_PARAMS, "VIDEO_CLINIC_NAME": "Harbour Clinic", "VIDEO_SMS_API_SECRET": "none"}.items():
        monkeypatch.setenv(name, value)
    db = FakeDB()
    db.put("appointments/a1", appointment(startTime=START, endTime=START + dt.timedelta(minutes=30)))
    monkeypatch.setitem(main._clients, "db", db)
    contact = Contact(email="pat@example.test", phone="+905551112233")
    monkeypatch.setattr(main, "channels_for", lambda *_: Channels(contact=lambda _uid: contact))
    return db


def dispatch(payload: Any) -> tuple[int, dict[str, Any]]:
    """POST a task as Cloud Tasks does (a callable-shaped JSON body) through the SDK's task wrapper."""
    with flask.Flask("test").test_request_context("/", method="POST", json={"data": payload}):
        response = main.sendVisitReminder(flask.request)
        return response.status_code, response.get_json()


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    logs = capsys.readouterr()
    return [json.loads(line) for line in (logs.out + logs.err).splitlines() if line.startswith("{")]


TASK = ReminderTask(REMINDER, "a1", PATIENT, "patient", int(START.timestamp()), 7, 15)


def test_the_task_queue_function_is_declared_with_retries_a_rate_limit_and_the_sms_secret() -> None:
    endpoint = main.sendVisitReminder.__firebase_endpoint__
    assert endpoint.entryPoint == "sendVisitReminder"
    assert "_" not in endpoint.entryPoint  # a Cloud Tasks queue id allows none
    trigger = endpoint.taskQueueTrigger
    retry = {key: value for key, value in trigger["retryConfig"].items() if value is not None}
    assert retry == {"maxAttempts": 5, "minBackoffSeconds": 30, "maxBackoffSeconds": 600}
    assert {key: value for key, value in trigger["rateLimits"].items() if value is not None} == {
        "maxConcurrentDispatches": 20
    }
    assert endpoint.maxInstances == "{{ params.VIDEO_MAX_INSTANCES }}"
    assert [secret for secret in endpoint.secretEnvironmentVariables] == [{"key": "VIDEO_SMS_API_SECRET"}]


def test_a_task_is_sent_and_logged_by_outcome_without_content(fake: FakeDB, capsys: pytest.CaptureFixture[str]) -> None:
    status, answer = dispatch(TASK.payload())
    assert (status, answer) == (200, {"result": {"outcome": "sent"}})
    assert f"users/{PATIENT}/notifications/{TASK.send_id}" in fake.docs
    [mail] = [data for path, data in fake.docs.items() if path.startswith("mail/")]
    assert "Harbour Clinic" in mail["message"]["subject"]
    [line] = [line for line in log_lines(capsys) if line.get("message") == "reminder task done"]
    assert line == {
        "severity": "INFO",
        "message": "reminder task done",
        "outcome": "sent",
        "inApp": "sent",
        "email": "sent",
    }


def test_a_stale_task_answers_its_reason_and_sends_nothing(fake: FakeDB) -> None:
    fake.put("appointments/a1", appointment(startTime=START, endTime=START, status="cancelled"))
    assert dispatch(TASK.payload()) == (200, {"result": {"outcome": "moved_or_cancelled"}})
    assert [path for path in fake.docs if not path.startswith("appointments/")] == []


def test_a_failure_is_a_500_so_cloud_tasks_retries_and_no_log_has_its_text(
    fake: FakeDB, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next = [RuntimeError("secret " + "words")]  # built at run time: the logged stack shows code only
    status, answer = dispatch(TASK.payload())
    assert (status, answer["error"]) == (500, {"status": "INTERNAL", "message": "INTERNAL"})
    lines = log_lines(capsys)
    [line] = [line for line in lines if line.get("message") == "reminder failed; the task will be retried"]
    assert line["error"] == "RuntimeError"
    assert "secret words" not in json.dumps(lines)
    assert "secret words" not in caplog.text  # the SDK's own "Unhandled error" line never comes


def test_unusable_reminder_params_fail_the_task_and_name_the_setting(
    fake: FakeDB, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_DEFAULT_TIME_ZONE", "Mars/Olympus")
    status, _ = dispatch(TASK.payload())
    assert status == 500
    [line] = [line for line in log_lines(capsys) if "problem" in line]
    assert line["problem"] == "VIDEO_DEFAULT_TIME_ZONE must be an IANA time zone name"


class Snapshot:
    def __init__(self, data: dict[str, Any], update_time: Any = None) -> None:
        self.data, self.update_time = data, update_time

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


class Queue:
    def __init__(self) -> None:
        self.tasks: list[tuple[Mapping[str, Any], str, int | None]] = []

    def enqueue(self, payload: Mapping[str, Any], task_id: str, send_at: int | None) -> bool:
        self.tasks.append((payload, task_id, send_at))
        return True


def test_the_trigger_schedules_a_confirmed_visits_reminders_and_logs_how_many(
    fake: FakeDB, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = Queue()
    monkeypatch.setattr(main, "REMINDERS", ReminderHooks(settings=main.current_notify_settings, queue=lambda: queue))
    pending = appointment(startTime=START, endTime=START, status="pending", video=None)
    confirmed = {**pending, "status": "confirmed"}
    fake.put("appointments/a1", confirmed)

    class Event:
        params: ClassVar[dict[str, str]] = {"appointmentId": "a1"}

        class data:
            before = Snapshot(pending)
            after = Snapshot(confirmed, fake.times["appointments/a1"])  # the precondition holds: no transaction

    inspect.unwrap(main.assign_video_room)(Event())

    assert sorted(payload["uid"] for payload, _, _ in queue.tasks) == sorted([PATIENT, DOCTOR])
    assert {send_at for _, _, send_at in queue.tasks} == {int(START.timestamp()) - 15 * 60}
    lines = log_lines(capsys)
    assert {"severity": "INFO", "message": "reminders scheduled", "tasks": 2, "appointmentId": "a1"} in lines


def test_the_trigger_logs_unusable_reminder_params_by_name_and_still_assigns_the_room(
    fake: FakeDB, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_REMINDERS_MIN", "a quarter hour")
    pending = appointment(startTime=START, endTime=START, status="pending", video=None)
    fake.put("appointments/a1", {**pending, "status": "confirmed"})

    class Event:
        params: ClassVar[dict[str, str]] = {"appointmentId": "a1"}

        class data:
            before = Snapshot(pending)
            after = Snapshot({**pending, "status": "confirmed"}, fake.times["appointments/a1"])

    inspect.unwrap(main.assign_video_room)(Event())

    assert "video" in fake.docs["appointments/a1"]
    lines = log_lines(capsys)
    problem = "VIDEO_REMINDERS_MIN must be whole minutes, comma-separated"
    assert {"severity": "ERROR", "message": "reminders not scheduled: settings unusable", "problem": problem} in lines
