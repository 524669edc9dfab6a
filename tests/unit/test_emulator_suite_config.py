"""What scripts/with_emulators.py starts for each firebase config, and what it tells the command it runs."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import with_emulators

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config", ["firebase.json", "firebase.matrix.json"], ids=["suite", "matrix"])
def test_the_suites_start_hosting_beside_the_others(config: str) -> None:
    assert with_emulators.started_emulators(config) == ["auth", "firestore", "storage", "functions", "hosting", "tasks"]


def test_the_bench_config_starts_no_hosting() -> None:
    assert "hosting" not in with_emulators.started_emulators("firebase.bench.json")


@pytest.mark.parametrize("config", ["firebase.json", "firebase.matrix.json"], ids=["suite", "matrix"])
def test_hosting_serves_the_built_demo_site(config: str) -> None:
    hosting = json.loads((ROOT / config).read_text())["hosting"]
    assert hosting["public"] == ".cache/web/public"


def test_the_command_finds_the_demo_site_by_its_variable() -> None:
    ports = {name: ("127.0.0.1", port) for name, port in [("auth", 1), ("firestore", 2), ("functions", 3), ("hub", 4)]}
    assert "FIREBASE_HOSTING_EMULATOR_HOST" not in with_emulators.emulator_env(ports)
    env = with_emulators.emulator_env({**ports, "hosting": ("127.0.0.1", 5258)})
    assert env["FIREBASE_HOSTING_EMULATOR_HOST"] == "127.0.0.1:5258"


def test_the_port_offset_moves_hosting_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # An offset no work tree's suite uses, so its copy of the config is this test's alone.
    monkeypatch.setenv("EMULATOR_PORT_OFFSET", "3917")
    shifted = with_emulators.offset_config("firebase.json")
    try:
        ports = with_emulators.suite_ports(shifted)
    finally:
        (ROOT / shifted).unlink()
    assert ports["hosting"] == ("127.0.0.1", 5180 + 3917)
    assert ports["functions"] == ("127.0.0.1", 5001 + 3917)


def test_the_suite_and_the_matrix_serve_hosting_on_ports_of_their_own() -> None:
    # make test runs both side by side: no port of one may be the other's.
    suite = {port for _, port in with_emulators.suite_ports("firebase.json").values()}
    matrix = {port for _, port in with_emulators.suite_ports("firebase.matrix.json").values()}
    assert suite.isdisjoint(matrix)
    assert with_emulators.suite_ports("firebase.matrix.json")["hosting"] == ("127.0.0.1", 5170)


def prosody_tier_config(where: Path) -> dict[str, object]:
    """The firebase config tests/prosody/run --trigger starts (its layout, written under ``where``)."""
    spec = importlib.util.spec_from_file_location("trigger_layout", ROOT / "tests" / "prosody" / "trigger_layout.py")
    assert spec is not None
    assert spec.loader is not None
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    layout.lay_out(where, 5299)
    config: dict[str, object] = json.loads((where / "firebase.json").read_text())
    return config


def pinned_ports(emulators: dict[str, Any]) -> dict[str, int]:
    ports = {name: int(spec["port"]) for name, spec in emulators.items() if isinstance(spec, dict) and "port" in spec}
    ports.update({"firestore-websocket": int(emulators["firestore"]["websocketPort"])})
    return ports


def test_the_three_suites_make_test_can_run_at_once_pin_every_port_and_share_none(tmp_path: Path) -> None:
    # The Functions emulator also starts Eventarc; left unpinned it takes 9299 (or the next free port), which
    # is the Prosody tier's Auth port: with the suites side by side the tier's start was refused.
    configs = {
        "suite": json.loads((ROOT / "firebase.json").read_text()),
        "matrix": json.loads((ROOT / "firebase.matrix.json").read_text()),
        "prosody tier": prosody_tier_config(tmp_path / "tier"),
    }
    seen: dict[int, str] = {}
    for suite, config in configs.items():
        ports = pinned_ports(config["emulators"])
        assert {"auth", "firestore", "functions", "hub", "logging", "tasks", "eventarc"} <= ports.keys(), suite
        for name, port in ports.items():
            assert port not in seen, f"{suite} {name} {port} is also {seen.get(port)}"
            seen[port] = f"{suite} {name}"


def test_each_suite_gives_the_cli_a_temp_folder_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Storage emulator empties <tmpdir>/firebase/storage when it starts: a shared /tmp let one suite's
    # start delete another's objects.
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "java-dir").write_text("/opt/java/bin\n")
    monkeypatch.setattr(with_emulators, "ROOT", tmp_path)
    scratch = tmp_path / "suite-tmp"
    env = with_emulators.cli_env(scratch)
    assert env["TMPDIR"] == str(scratch)
    assert env["PATH"].startswith("/opt/java/bin")


def test_a_start_forgets_the_params_the_last_start_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Functions emulator writes <source>/.env.local, which then overrides .env: an old copy kept a param
    # at its old value after scripts/demo.env changed it.
    monkeypatch.setattr(with_emulators, "ROOT", tmp_path)
    for source in ("functions", "bench/functions", "elsewhere"):
        (tmp_path / source).mkdir(parents=True)
        (tmp_path / source / ".env").write_text("VIDEO_JOIN_PAGE_URL=http://127.0.0.1:5180/\n")
    for source in ("functions", "bench/functions"):
        (tmp_path / source / ".env.local").write_text("VIDEO_JOIN_PAGE_URL=\n")
    (tmp_path / "elsewhere" / ".env.local").write_text("NOT_OURS=1\n")
    codebases = [{"source": "functions"}, {"source": "bench/functions"}]
    (tmp_path / "firebase.test.json").write_text(json.dumps({"functions": codebases}))

    removed = with_emulators.forget_resolved_params("firebase.test.json")

    assert removed == [tmp_path / "functions" / ".env.local", tmp_path / "bench" / "functions" / ".env.local"]
    assert sorted(path.name for path in tmp_path.rglob(".env*")) == [".env", ".env", ".env", ".env.local"]
    assert (tmp_path / "elsewhere" / ".env.local").is_file()  # a folder the config does not serve is left
    assert with_emulators.forget_resolved_params("firebase.test.json") == []


def test_a_ready_marker_counts_only_while_the_with_emulators_that_wrote_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "emulators.ready"
    assert not with_emulators.marker_is_live(marker)  # none yet
    marker.write_text("not a pid\n")
    assert not with_emulators.marker_is_live(marker)
    gone = subprocess.Popen(["true"])  # noqa: S607
    gone.wait()
    marker.write_text(f"{gone.pid}\n")
    assert not with_emulators.marker_is_live(marker)  # left by a run that crashed
    marker.write_text(f"{os.getpid()}\n")
    assert with_emulators.marker_is_live(marker)


def test_a_start_after_another_suite_waits_for_its_marker_with_a_deadline(tmp_path: Path) -> None:
    marker = tmp_path / "emulators.ready"
    began = time.monotonic()
    assert not with_emulators.wait_for_suite(marker, timeout=0.3, poll=0.02)
    assert time.monotonic() - began >= 0.3
    writer = threading.Timer(0.2, lambda: marker.write_text(f"{os.getpid()}\n"))
    writer.start()
    try:
        assert with_emulators.wait_for_suite(marker, timeout=30, poll=0.02)
    finally:
        writer.cancel()
    assert marker.exists()


def test_each_suite_gives_its_python_function_processes_a_window_of_ports_of_its_own() -> None:
    bases = [with_emulators.worker_port_base(variant, 0) for variant in ("", "matrix", "prosody-trigger", "bench")]
    bases.append(with_emulators.worker_port_base("", 52))  # a second work tree's suite
    windows = [range(base, base + 1000) for base in bases]
    named = {
        port
        for config in ("firebase.json", "firebase.matrix.json", "firebase.bench.json")
        for _, port in with_emulators.suite_ports(config).values()
    }
    for n, window in enumerate(windows):
        assert window.stop <= 32768  # below the kernel's ephemeral ports, which the stand-ins are given
        assert named.isdisjoint(window)
        assert all(set(window).isdisjoint(other) for other in windows[n + 1 :])


def run_node_with_the_preload(script: str, base: str | None) -> str:
    node = shutil.which("node")
    assert node is not None
    env = {key: value for key, value in os.environ.items() if key != "TELEHEALTH_WORKER_PORT_BASE"}
    if base is not None:
        env["TELEHEALTH_WORKER_PORT_BASE"] = base
    command = [node, "--require", str(with_emulators.WORKER_PORTS_PRELOAD), "-e", script]
    done = subprocess.run(  # noqa: S603 - the machine's node, our own script
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


# What firebase-tools asks portfinder for: the discovery's 8081, a worker's 8081 + random 0..1000 (both forms
# of the call, and the top of that range, 9081); 9082 is past the range it picks from.
PICKS = (
    "const pf = require('portfinder');"
    "Promise.all([pf.getPortPromise({port: 8081}), pf.getPortPromise({port: 8081 + 734}),"
    " pf.getPortPromise({port: 9082}), new Promise((ok, no) => pf.getPort({port: 8100},"
    " (e, p) => e ? no(e) : ok(p))), pf.getPortPromise({port: 9081})]).then(v => console.log(v.join(' ')))"
)


def test_the_cli_preload_moves_portfinders_worker_picks_into_the_suites_window() -> None:
    # 31000: a window no suite uses. portfinder answers the first free port from the one asked for, so a
    # port something else holds at this moment moves the answer up, never out of its range.
    discovery, worker, outside, callback, top = map(int, run_node_with_the_preload(PICKS, "31000").split())
    assert 31000 <= discovery < 32000
    assert 31734 <= worker < 32000
    assert 31019 <= callback < 32000
    assert 31000 <= top < 32000  # 9081 folds onto the window's start
    assert 9082 <= outside < 20000  # past the range it picks from: left where portfinder puts it


def test_without_a_window_the_preload_changes_nothing() -> None:
    discovery, worker, outside, callback, top = map(int, run_node_with_the_preload(PICKS, None).split())
    assert 8081 <= discovery < 20000
    assert 8815 <= worker < 20000
    assert 8100 <= callback < 20000
    assert 9081 <= top < 20000
    assert 9082 <= outside < 20000


# Two requests one after the other on Node's default agent, the way the Functions emulator proxies to a worker;
# prints each answer (the port the request came from, as the server saw it).
TWO_REQUESTS = (
    "const http = require('node:http');"
    "const get = () => new Promise((ok, no) => http.get({host: '127.0.0.1', port: Number(process.env.PROBE_PORT),"
    " path: '/'}, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => ok(b)); }).on('error', no));"
    "get().then((a) => get().then((b) => console.log(a, b)));"
)


class _Seen(http.server.BaseHTTPRequestHandler):
    """Keeps connections open (HTTP/1.1) and answers each request with the client's port and Connection header."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.client_address[1]}:{self.headers.get('Connection', '-')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def two_requests(preloads: list[Path]) -> list[tuple[str, str]]:
    node = shutil.which("node")
    assert node is not None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Seen)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "PROBE_PORT": str(server.server_address[1])}
        command = [node, *(arg for preload in preloads for arg in ("--require", str(preload))), "-e", TWO_REQUESTS]
        done = subprocess.run(  # noqa: S603 - the machine's node, our own script
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    return [tuple(answer.split(":", 1)) for answer in done.stdout.split()]  # type: ignore[misc]


def test_the_cli_preload_opens_a_connection_per_request_to_the_function_processes() -> None:
    (first_port, first_header), (second_port, second_header) = two_requests([with_emulators.WORKER_CONNECTIONS_PRELOAD])
    assert first_port != second_port
    assert (first_header, second_header) == ("close", "close")


def node_major() -> int:
    node = shutil.which("node")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return int(version.strip().lstrip("v").split(".")[0])


@pytest.mark.skipif(node_major() < 19, reason="Node keeps connections alive by default from 19 on")
def test_without_the_preload_node_reuses_the_connection() -> None:
    # What the preload is for: Node's default agent keeps the connection open and sends the second request on it.
    (first_port, first_header), (second_port, _) = two_requests([])
    assert first_port == second_port
    assert first_header == "keep-alive"


def test_the_cli_gets_both_preloads_after_the_callers_own_node_options() -> None:
    options = with_emulators.node_options(" --max-old-space-size=512 ").split()
    assert options[0] == "--max-old-space-size=512"
    assert options[1:] == [
        "--require",
        str(with_emulators.WORKER_PORTS_PRELOAD),
        "--require",
        str(with_emulators.WORKER_CONNECTIONS_PRELOAD),
    ]
    assert with_emulators.node_options("") == " ".join(options[1:])
