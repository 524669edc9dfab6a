"""The webhook function, main.video_events, on a Twilio and on a Zoom deployment, through real Flask requests: what
it records, what it answers (Zoom's URL validation), and that every refusal writes nothing and logs only its reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import flask
import pytest
from conftest import HMAC_SECRET, appointment
from mockfirestore import MockFirestore
from support import samples

import main
from telehealth.store import attendance

ROOM = "a" * 32  # conftest's appointment() holds this room
TWILIO_ENV = {
    "VIDEO_PROVIDER": "twilio",
    "VIDEO_DOMAIN": "visit.clinic.test",
    "VIDEO_APP_ID": samples.TWILIO_API_KEY,
    "VIDEO_ACCOUNT_ID": samples.TWILIO_ACCOUNT,
    "VIDEO_TWILIO_CALLBACK_URL": samples.TWILIO_CALLBACK,
    "VIDEO_WEBHOOK_SECRET": samples.TWILIO_AUTH_TOKEN,
}
ZOOM_ENV = {
    "VIDEO_PROVIDER": "zoom",
    "VIDEO_DOMAIN": "visit.clinic.test",
    "VIDEO_APP_ID": "zoomSdkKey123",
    "VIDEO_WEBHOOK_SECRET": samples.ZOOM_SECRET_TOKEN,
}


def served(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> list[tuple[Any, ...]]:
    """The function on this deployment with a stand-in store; returns the attendance writes it makes."""
    db = MockFirestore()
    db.collection("appointments").document("a1").set(appointment())
    for name, value in {**env, "VIDEO_SIGNING_KEY": HMAC_SECRET}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(main._clients, "db", db)
    monkeypatch.setattr(attendance, "appointment_with_room", lambda _db, room: "a1" if room == ROOM else None)
    recorded: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        attendance, "record_attendance", lambda _db, *args, **where: recorded.append((*args, where["guest_id"])) or True
    )
    return recorded


@pytest.fixture
def twilio_served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    return served(monkeypatch, TWILIO_ENV)


@pytest.fixture
def zoom_served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    return served(monkeypatch, ZOOM_ENV)


def post(path: str, body: bytes, headers: dict[str, str]) -> flask.Response:
    with flask.Flask("test").test_request_context(path, method="POST", data=body, headers=headers):
        response: flask.Response = main.video_events(flask.request)
    return response


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    logs = capsys.readouterr()
    return [json.loads(line) for line in (logs.out + logs.err).splitlines() if line.startswith("{")]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# Twilio ------------------------------------------------------------------------------------------------------


def test_a_twilio_deployment_records_a_signed_status_callback(twilio_served: list[tuple[Any, ...]]) -> None:
    at = now()
    params = samples.twilio_params("participant-connected", ROOM, at, identity="doctor")
    response = post("/twilio", *samples.twilio_post(params))
    assert (response.status_code, response.get_json()) == (200, {"ok": True})
    [(appointment_id, room, event_id, kind, role, when, guest_id)] = twilio_served
    assert guest_id is None  # our patient or doctor, not an invited guest
    assert (appointment_id, room, kind, role, when) == ("a1", ROOM, "joined", "moderator", at)
    assert len(event_id) == 40


def test_an_invited_guests_twilio_callback_is_recorded_as_theirs(twilio_served: list[tuple[Any, ...]]) -> None:
    params = samples.twilio_params("participant-disconnected", ROOM, now(), identity="guest-g4")
    assert post("/twilio", *samples.twilio_post(params)).status_code == 200
    [(_appointment, _room, _event, kind, role, _at, guest_id)] = twilio_served
    assert (kind, role, guest_id) == ("left", "invitee", "g4")


def test_a_twilio_callback_for_a_room_no_visit_holds_records_nothing(twilio_served: list[tuple[Any, ...]]) -> None:
    params = samples.twilio_params("participant-connected", "z" * 32, now())
    assert post("/twilio", *samples.twilio_post(params)).status_code == 200
    assert twilio_served == []


@pytest.mark.parametrize(
    ("make", "status", "why"),
    [
        pytest.param(lambda b, h: (b, {}), 401, "no Twilio signature", id="unsigned"),
        pytest.param(
            lambda b, h: (b.replace(b"patient", b"doctor"), h), 401, "Twilio signature does not verify", id="tampered"
        ),
        pytest.param(
            lambda b, h: (b, {**h, "X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256"}),
            401,
            "Twilio shared-key signature: sign status callbacks with the Auth Token",
            id="shared-key signing",
        ),
        pytest.param(lambda b, h: (b" " * 70_000, h), 400, "body too large", id="too large"),
    ],
)
def test_each_twilio_refusal_writes_nothing_and_logs_only_its_reason(
    twilio_served: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str], make: Any, status: int, why: str
) -> None:
    body, headers = make(*samples.twilio_post(samples.twilio_params("participant-connected", ROOM, now())))
    assert post("/twilio", body, headers).status_code == status
    assert log_lines(capsys) == [{"severity": "WARNING", "message": "webhook rejected", "status": status, "why": why}]
    assert twilio_served == []


def test_a_twilio_callback_signed_for_the_host_it_came_in_on_is_still_refused(
    twilio_served: list[tuple[Any, ...]],
) -> None:
    """The URL is the configured one, never the request's: a signature over an attacker-chosen host fails."""
    url = "https://attacker.example/video_events/twilio"
    body, headers = samples.twilio_post(samples.twilio_params("participant-connected", ROOM, now()), url=url)
    with flask.Flask("test").test_request_context(
        "/twilio", method="POST", data=body, headers=headers, base_url="https://attacker.example/video_events"
    ):
        assert main.video_events(flask.request).status_code == 401
    assert twilio_served == []


def test_a_twilio_deployment_without_its_callback_url_answers_500_and_names_it(
    twilio_served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_TWILIO_CALLBACK_URL", "")
    params = samples.twilio_params("participant-connected", ROOM, now())
    assert post("/twilio", *samples.twilio_post(params)).status_code == 500
    logs = json.dumps(log_lines(capsys))
    assert "VIDEO_TWILIO_CALLBACK_URL is not set" in logs
    assert samples.TWILIO_AUTH_TOKEN not in logs
    assert twilio_served == []


def test_a_zoom_webhook_on_a_twilio_deployment_is_404(twilio_served: list[tuple[Any, ...]]) -> None:
    payload = samples.zoom_payload("session.user_joined", ROOM, now())
    assert post("/zoom", *samples.zoom_post(payload, int(time.time()))).status_code == 404
    assert twilio_served == []


# Zoom --------------------------------------------------------------------------------------------------------


def test_a_zoom_deployment_records_a_signed_webhook(zoom_served: list[tuple[Any, ...]]) -> None:
    at = now()
    payload = samples.zoom_payload("session.user_left", ROOM, at)
    response = post("/zoom", *samples.zoom_post(payload, int(time.time())))
    assert (response.status_code, response.get_json()) == (200, {"ok": True})
    [(appointment_id, room, _event_id, kind, role, when, guest_id)] = zoom_served
    assert guest_id is None  # our patient, not an invited guest
    assert (appointment_id, room, kind, role, when) == ("a1", ROOM, "left", "guest", at)


def test_an_invited_guests_zoom_webhook_is_recorded_as_theirs(zoom_served: list[tuple[Any, ...]]) -> None:
    payload = samples.zoom_payload("session.user_joined", ROOM, now(), user_key="guest-g5")
    assert post("/zoom", *samples.zoom_post(payload, int(time.time()))).status_code == 200
    [(_appointment, _room, _event, kind, role, _at, guest_id)] = zoom_served
    assert (kind, role, guest_id) == ("joined", "invitee", "g5")


def test_a_zoom_deployment_answers_the_url_validation_challenge(
    zoom_served: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    response = post("/zoom", *samples.zoom_post(samples.url_validation(), int(time.time())))
    expected = hmac.new(samples.ZOOM_SECRET_TOKEN.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert json.loads(response.get_data()) == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert zoom_served == []
    assert [line["message"] for line in log_lines(capsys)] == ["webhook handled"]


@pytest.mark.parametrize(
    ("make", "status", "why"),
    [
        pytest.param(lambda p, s: (samples.zoom_post(p, s)[0], {}), 401, "no Zoom signature", id="unsigned"),
        pytest.param(
            lambda p, s: samples.zoom_post(p, s, secret="another-secret-token12"),
            401,
            "Zoom signature does not verify",
            id="another secret",
        ),
        pytest.param(lambda p, s: samples.zoom_post(p, s - 600), 400, "stale event", id="stale"),
        pytest.param(
            lambda p, s: samples.zoom_post(p | {"payload": {"object": {"session_name": ["x"], "user": {}}}}, s),
            400,
            "session_name is not text",
            id="a wrongly typed field",
        ),
        pytest.param(lambda p, s: samples.zoom_post(b"{", s), 400, "body is not JSON", id="not JSON"),
    ],
)
def test_each_zoom_refusal_writes_nothing_and_logs_only_its_reason(
    zoom_served: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str], make: Any, status: int, why: str
) -> None:
    payload = samples.zoom_payload("session.user_joined", ROOM, now())
    body, headers = make(payload, int(time.time()))
    response = post("/zoom", body, headers)
    assert (response.status_code, response.get_data()) == (status, b"")
    assert log_lines(capsys) == [{"severity": "WARNING", "message": "webhook rejected", "status": status, "why": why}]
    assert zoom_served == []


def test_an_unsigned_url_validation_is_refused_without_an_answer(zoom_served: list[tuple[Any, ...]]) -> None:
    body, _ = samples.zoom_post(samples.url_validation(), int(time.time()))
    response = post("/zoom", body, {"Content-Type": "application/json"})
    assert (response.status_code, response.get_data()) == (401, b"")


def test_a_zoom_deployment_with_a_weak_secret_token_answers_500_and_names_it(
    zoom_served: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_WEBHOOK_SECRET", "none")
    payload = samples.zoom_payload("session.user_joined", ROOM, now())
    assert post("/zoom", *samples.zoom_post(payload, int(time.time()), secret="none")).status_code == 500
    assert "VIDEO_WEBHOOK_SECRET is a placeholder, not a secret" in json.dumps(log_lines(capsys))
    assert zoom_served == []


# What a deployment declares -----------------------------------------------------------------------------------


def test_the_new_params_and_secret_are_declared_where_they_are_read() -> None:
    """A param or secret a function reads but does not declare is empty in production; these are read by
    video_events (the callback URL, the webhook secret) and assign_video_room (the Zoom API key and secret)."""
    assert {"VIDEO_TWILIO_CALLBACK_URL", "VIDEO_ZOOM_API_KEY"} <= set(main.PARAMS)
    for function in (main.video_events, main.assign_video_room):
        declared = {item["key"] for item in function.__firebase_endpoint__.secretEnvironmentVariables}
        assert {"VIDEO_WEBHOOK_SECRET", "VIDEO_ZOOM_API_SECRET", "VIDEO_SIGNING_KEY"} <= declared
    assert main.PARAMS["VIDEO_TWILIO_CALLBACK_URL"].default == ""
    assert main.PARAMS["VIDEO_ZOOM_API_KEY"].default == ""
