"""EnableX: each join asks EnableX's server API for the participant's token (a failure answers ``unavailable``,
audited, nothing else written); rooms are created and deleted with HTTP basic auth, against the loopback
stand-in (tests/standins.py)."""

from __future__ import annotations

import contextlib
import http.server
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import DOCTOR, DOCTOR_CLAIMS, NOW_S, PATIENT, appointment, snapshot
from mockfirestore import MockFirestore
from standins import EnableX, serve
from support.configs import video_config

from telehealth import gate, join
from telehealth.access import Grant
from telehealth.errors import Misconfigured, NotJoinable, ProviderCallFailed, ProviderUnavailable, error_code
from telehealth.providers import build_settings, enablex
from telehealth.providers.base import Deployment, Participant
from telehealth.ratelimit import RateLimiter

APP_ID = "enx-app-0001"
APP_KEY = "enablex-app-key-0123456789abcdefXYZ"
ROOM_ID = "5f0c1e2d3b4a596877665544"
PAD = b"x" * 70_000  # an answer this much larger than any EnableX answer is cut off, and fails as malformed


@pytest.fixture
def api() -> Iterator[str]:
    EnableX.reset(APP_ID, APP_KEY)
    EnableX.rooms[ROOM_ID] = enablex.room_body("a" * 32, 1)
    with serve(EnableX) as url:
        yield url


def settings_at(url: str, key: str = APP_KEY) -> Any:
    return build_settings(video_config(provider="enablex", app_id=APP_ID, server_api=url), key)


def deployment_at(url: str, key: str = APP_KEY) -> Deployment:
    settings = settings_at(url, key)
    return Deployment(config=lambda: settings.config, settings=lambda: settings, secret=pytest.fail)


def visit(provider_room: str | None = ROOM_ID) -> dict[str, Any]:
    stored = appointment()
    stored["video"] = {**stored["video"], "provider": "enablex"}
    if provider_room is not None:
        stored["video"]["providerRoomId"] = provider_room
    return stored


def joined(db: MockFirestore, url: str, uid: str, stored: dict[str, Any]) -> dict[str, Any]:
    db.collection("appointments").document("a1").set(stored)
    policy = gate.Policy(
        settings=lambda: settings_at(url),
        session_check=lambda: lambda: True,
        app_check_passes=lambda: True,
        limiter=RateLimiter(1000),
    )
    caller = gate.Caller(uid, DOCTOR_CLAIMS if uid == DOCTOR else {})
    return join.get_join_token(db, caller=caller, data={"appointmentId": "a1"}, policy=policy, now=NOW_S)


# Tokens, asked of EnableX at each join -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "role", "name", "identity"),
    [(DOCTOR, "moderator", "Dr. Ada", "doctor"), (PATIENT, "participant", "Patient", "patient")],
    ids=["the doctor moderates", "the patient participates"],
)
def test_each_join_asks_enablex_for_the_participants_token(
    db: MockFirestore, api: str, uid: str, role: str, name: str, identity: str
) -> None:
    answer = joined(db, api, uid, visit())

    [asked] = EnableX.tokens
    assert asked == {"room_id": ROOM_ID, "name": name, "role": role, "user_ref": identity, "token": answer["token"]}
    assert answer["token"].startswith("enx-")
    assert (answer["provider"], answer["roomId"], answer["roomName"]) == ("enablex", ROOM_ID, "a" * 32)
    assert EnableX.requests[-1] == ("POST", f"/video/v1/rooms/{ROOM_ID}/tokens")
    [record] = [doc.to_dict() for doc in db.collection("videoAccessLog").stream()]
    assert (record["outcome"], record["reason"]) == ("granted", "ok")


def failing(
    status: int | None = None,
    delay: float = 0.0,
    key: str = APP_KEY,
    url: str = "",
    answer: tuple[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {"status": status, "delay": delay, "key": key, "url": url, "answer": answer}


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(failing(status=503), id="EnableX answers 503"),
        pytest.param(failing(answer=(200, {"result": 0})), id="EnableX answers 200 without a token"),
        pytest.param(failing(answer=(200, {"result": 0, "token": ""})), id="an empty token"),
        pytest.param(failing(answer=(200, {"result": 0, "token": 12345})), id="a token that is not text"),
        pytest.param(failing(answer=(200, {"result": 3, "token": "enx-x"})), id="a non-zero result"),
        pytest.param(failing(answer=(500, {"result": 0, "token": "enx-x"})), id="a token with a server error"),
        pytest.param(failing(key="another-enablex-app-key-0123456789"), id="EnableX refuses the credentials"),
        pytest.param(failing(delay=0.6), id="EnableX does not answer in time"),
        pytest.param(failing(url="http://127.0.0.1:9"), id="EnableX cannot be reached"),
    ],
)
def test_a_failed_token_call_answers_unavailable_with_its_audit_record_and_writes_nothing_else(
    db: MockFirestore, api: str, how: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enablex, "TOKEN_TIMEOUT_SECONDS", 0.3)
    EnableX.fail_tokens_with, EnableX.token_delay = how["status"], how["delay"]
    if how["answer"] is not None:
        EnableX.fail_tokens_with, EnableX.token_answer = None, how["answer"]
    db.collection("appointments").document("a1").set(visit())
    untouched = snapshot(db)
    policy = gate.Policy(
        settings=lambda: settings_at(how["url"] or api, how["key"]),
        session_check=lambda: lambda: True,
        app_check_passes=lambda: True,
        limiter=RateLimiter(1000),
    )

    with pytest.raises(ProviderUnavailable) as raised:
        join.get_join_token(db, caller=gate.Caller(PATIENT, {}), data={"appointmentId": "a1"}, policy=policy, now=NOW_S)

    assert error_code(raised.value) == "unavailable"
    assert raised.value.details() == {"reason": "provider_unavailable"}
    assert raised.value.message == "The video service did not answer in time; try again shortly."
    after = snapshot(db)
    [record] = after.pop("videoAccessLog").values()
    assert (record["outcome"], record["reason"], record["role"]) == ("denied", "provider_unavailable", "guest")
    assert "expiresAt" not in record
    assert after == untouched


def test_the_doctors_first_join_failing_at_enablex_does_not_let_the_patient_in(db: MockFirestore, api: str) -> None:
    EnableX.fail_tokens_with = 503
    stored = visit()
    del stored["video"]["doctorJoinedAt"]
    db.collection("appointments").document("a1").set(stored)
    untouched = snapshot(db)

    with pytest.raises(ProviderUnavailable):
        joined(db, api, DOCTOR, stored)

    after = snapshot(db)
    [record] = after.pop("videoAccessLog").values()
    assert (record["outcome"], record["reason"], record["role"]) == ("denied", "provider_unavailable", "moderator")
    assert after == untouched  # no doctorJoinedAt: in host mode the patient still waits
    EnableX.fail_tokens_with = None
    joined(db, api, DOCTOR, stored)
    assert "doctorJoinedAt" in db.collection("appointments").document("a1").get().to_dict()["video"]


def test_a_join_before_the_room_exists_at_enablex_is_room_not_ready_and_asks_nothing(
    db: MockFirestore, api: str
) -> None:
    stored = visit(provider_room=None)
    db.collection("appointments").document("a1").set(stored)
    untouched = snapshot(db)

    with pytest.raises(NotJoinable) as raised:
        joined(db, api, PATIENT, stored)

    assert (error_code(raised.value), raised.value.details()) == ("failed-precondition", {"reason": "room_not_ready"})
    assert EnableX.requests == []
    after = snapshot(db)
    [record] = after.pop("videoAccessLog").values()
    assert (record["outcome"], record["reason"]) == ("denied", "room_not_ready")
    assert after == untouched


@pytest.mark.parametrize("room_id", ["", "../rooms", "a/b", "x" * 129], ids=["empty", "dots", "slash", "too long"])
def test_a_provider_room_id_that_is_not_plain_is_never_put_in_a_path(api: str, room_id: str) -> None:
    grant = Grant("guest", "a" * 32, NOW_S, NOW_S, NOW_S + 60, provider_room_id=room_id)
    with pytest.raises(ProviderUnavailable):
        enablex.request_token(grant, Participant("patient", "Pat"), settings_at(api))
    enablex.delete_room(room_id, deployment_at(api))
    assert EnableX.requests == []


# Rooms ------------------------------------------------------------------------------------------------------


def test_a_room_is_created_with_basic_auth_and_the_documented_body(api: str) -> None:
    room_id = enablex.create_room("b" * 32, NOW_S, deployment_at(api), NOW_S)

    assert EnableX.requests == [("POST", "/video/v1/rooms")]
    assert EnableX.rooms[room_id] == {
        "name": "b" * 32,
        "owner_ref": "b" * 32,
        "settings": {
            "description": "",
            "mode": "group",
            "scheduled": False,
            "adhoc": False,
            "duration": 300,
            "moderators": "1",
            "participants": "2",  # the patient and the one guest allowed by default
            "auto_recording": False,
            "quality": "SD",
            "canvas": False,
            "knock": False,
            "wait_for_moderator": False,
        },
        "sip": {"enabled": False},
    }
    assert (
        enablex.authorization(APP_ID, APP_KEY)
        == "Basic ZW54LWFwcC0wMDAxOmVuYWJsZXgtYXBwLWtleS0wMTIzNDU2Nzg5YWJjZGVmWFla"
    )


@pytest.mark.parametrize(("max_guests", "participants"), [(0, "1"), (2, "3"), (3, "4")], ids=["none", "two", "three"])
def test_the_rooms_participants_are_the_patient_and_the_guests_allowed(
    api: str, max_guests: int, participants: str
) -> None:
    settings = build_settings(
        video_config(provider="enablex", app_id=APP_ID, server_api=api, max_guests=max_guests), APP_KEY
    )
    deployment = Deployment(config=lambda: settings.config, settings=lambda: settings, secret=pytest.fail)
    room_id = enablex.create_room("b" * 32, NOW_S, deployment, NOW_S)
    assert EnableX.rooms[room_id]["settings"]["participants"] == participants
    assert EnableX.rooms[room_id]["settings"]["moderators"] == "1"


class Answers(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status and body a test sets."""

    status = 200
    body = b""

    def do_POST(self) -> None:
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    do_DELETE = do_POST

    def log_message(self, *_: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(200, b'{"result": 1, "room": {"room_id": "r1"}}', id="a non-zero result"),
        pytest.param(200, b'{"result": 0, "room": {}}', id="no room id"),
        pytest.param(200, b'{"result": 0, "room": {"room_id": "a/b"}}', id="a room id that is not plain"),
        pytest.param(200, b'{"result": 0, "room": "r1"}', id="room is not an object"),
        pytest.param(200, b"[]", id="not an object"),
        pytest.param(200, b"<html>", id="not JSON"),
        pytest.param(201, b'{"result": 0, "room": {"room_id": "r1"}}', id="another status"),
        pytest.param(500, b"", id="a server error"),
        pytest.param(200, b'{"result": 0, "room": {"room_id": "r1"}, "pad": "' + PAD + b'"}', id="over 64 KiB"),
    ],
)
def test_any_answer_but_a_created_room_raises_for_a_retry(status: int, body: bytes) -> None:
    Answers.status, Answers.body = status, body
    with serve(Answers) as url, pytest.raises(ProviderCallFailed) as raised:
        enablex.create_room("b" * 32, NOW_S, deployment_at(url), NOW_S)
    assert (raised.value.status, raised.value.why) == (status, "EnableX did not create the room")


def test_a_created_room_answer_is_taken_as_is() -> None:
    Answers.status, Answers.body = 200, b'{"result": 0, "room": {"room_id": "r_1-A"}}'
    with serve(Answers) as url:
        assert enablex.create_room("b" * 32, NOW_S, deployment_at(url), NOW_S) == "r_1-A"


def test_a_room_is_deleted_and_a_room_enablex_does_not_hold_counts_as_deleted(api: str) -> None:
    enablex.delete_room(ROOM_ID, deployment_at(api))
    enablex.delete_room(ROOM_ID, deployment_at(api))
    assert EnableX.deleted == [ROOM_ID]
    assert EnableX.delete_bodies == [b"", b""]  # a DELETE carries no body
    assert EnableX.statuses == [200, 404]
    assert EnableX.requests == [("DELETE", f"/video/v1/rooms/{ROOM_ID}")] * 2


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b'{"result": 7}'), (401, b'{"result": 4001}'), (500, b""), (204, b"")],
    ids=["a non-zero result", "refused", "a server error", "another status"],
)
def test_a_failed_deletion_raises_for_a_retry(status: int, body: bytes) -> None:
    Answers.status, Answers.body = status, body
    with serve(Answers) as url, pytest.raises(ProviderCallFailed) as raised:
        enablex.delete_room(ROOM_ID, deployment_at(url))
    assert (raised.value.status, raised.value.why) == (status, "EnableX did not delete the room")


class Silent(Answers):
    """Takes the request and answers only after a while."""

    def do_POST(self) -> None:
        time.sleep(0.6)
        with contextlib.suppress(OSError):  # the client gave up meanwhile
            super().do_POST()

    do_DELETE = do_POST


@pytest.mark.parametrize("call", ["create", "delete"])
def test_a_server_api_that_does_not_answer_in_time_fails_the_attempt(
    monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """The trigger's calls have a deadline (the trigger's own is 60 s): a hung EnableX fails the attempt."""
    monkeypatch.setattr(enablex, "REQUEST_TIMEOUT_SECONDS", 0.2)
    Silent.status, Silent.body = 200, b'{"result": 0, "room": {"room_id": "r1"}}'
    with serve(Silent) as url:
        attempt = {
            "create": lambda: enablex.create_room("b" * 32, NOW_S, deployment_at(url), NOW_S),
            "delete": lambda: enablex.delete_room(ROOM_ID, deployment_at(url)),
        }[call]
        with pytest.raises(TimeoutError):
            attempt()


def test_a_redirect_is_a_failure_and_the_app_key_goes_nowhere_else() -> None:
    class Redirect(Answers):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serve(Redirect) as url, pytest.raises(ProviderCallFailed) as raised:
        enablex.create_room("b" * 32, NOW_S, deployment_at(url), NOW_S)
    assert raised.value.status == 307


def test_enablex_needs_its_app_id() -> None:
    with pytest.raises(Misconfigured) as raised:
        video_config(provider="enablex")
    assert raised.value.problem == "VIDEO_APP_ID (the EnableX App ID) is required for provider enablex"
    config = video_config(provider="enablex", app_id=APP_ID)
    assert (config.domain, config.server_api_url, config.creates_rooms) == (
        "api.enablex.io",
        "https://api.enablex.io",
        True,
    )
