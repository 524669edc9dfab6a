"""tests/support/emulator_api.call against a loopback server answering as the Functions emulator can."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from support import emulator_api as emu


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers every POST with ``status`` and ``body``, and keeps what it was sent."""

    status: ClassVar[int] = 200
    body: ClassVar[bytes] = b"{}"
    seen: ClassVar[list[tuple[str, str | None, object]]] = []

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, self.headers.get("Authorization"), sent))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Answers]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("FUNCTIONS_EMULATOR_HOST", f"127.0.0.1:{server.server_address[1]}")
    _Answers.seen = []
    try:
        yield _Answers
    finally:
        server.shutdown()
        server.server_close()


def answer(emulator: type[_Answers], status: int, body: object) -> None:
    emulator.status, emulator.body = status, body if isinstance(body, bytes) else json.dumps(body).encode()


def test_a_result_is_a_success_and_the_request_is_the_callable_protocols(emulator: type[_Answers]) -> None:
    answer(emulator, 200, {"result": {"token": "t"}})
    result = emu.call("get_join_token", {"appointmentId": "a1"}, "id-token")
    assert (result.ok, result.http_status, result.result) == (True, 200, {"token": "t"})
    path, authorization, sent = emulator.seen[0]
    assert path == f"/{emu.PROJECT}/{emu.REGION}/get_join_token"
    assert (authorization, sent) == ("Bearer id-token", {"data": {"appointmentId": "a1"}})


def test_a_callable_error_carries_its_status_message_and_details(emulator: type[_Answers]) -> None:
    error = {"status": "UNAVAILABLE", "message": "m", "details": {"reason": "provider_unavailable"}}
    answer(emulator, 503, {"error": error})
    result = emu.call("get_join_token", {"appointmentId": "a1"})
    assert (result.ok, result.status, result.message, result.details) == (
        False,
        "UNAVAILABLE",
        "m",
        {"reason": "provider_unavailable"},
    )
    assert emulator.seen[0][1] is None  # no token: no Authorization header


def test_the_emulators_own_failure_is_not_a_success(emulator: type[_Answers]) -> None:
    # What the Functions emulator answers when the function's process hung up (functionsRuntimeWorker.js).
    answer(emulator, 500, {"code": "ECONNRESET"})
    result = emu.call("get_join_token", {"appointmentId": "a1"}, "id-token")
    assert (result.ok, result.http_status, result.status, result.result) == (False, 500, "HTTP 500", None)
    assert "ECONNRESET" in (result.message or "")


@pytest.mark.parametrize(
    ("status", "body"),
    [(502, b"<html>Bad Gateway</html>"), (200, b"not json"), (200, {"data": 1}), (200, ["result"])],
    ids=["a page", "200 not JSON", "200 without result", "200 a list"],
)
def test_an_answer_that_is_not_the_callable_protocols_is_a_failure(
    emulator: type[_Answers], status: int, body: object
) -> None:
    answer(emulator, status, body)
    result = emu.call("get_join_token", {"appointmentId": "a1"})
    assert (result.ok, result.http_status, result.status, result.result) == (False, status, f"HTTP {status}", None)


def test_a_null_result_is_still_a_success(emulator: type[_Answers]) -> None:
    answer(emulator, 200, {"result": None})
    result = emu.call("remove_guest", {"appointmentId": "a1"})
    assert (result.ok, result.status, result.result) == (True, None, None)
