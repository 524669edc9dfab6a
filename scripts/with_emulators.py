"""Run a command against the Firebase emulator suite (Auth, Firestore, Storage, Functions), offline.

Starts ``firebase emulators:start`` in a process group of its own, waits until the suite is ready,
runs the command with the emulator variables set, then stops everything it started: SIGINT to the
CLI (so it shuts the Firestore JVM down cleanly), SIGTERM/SIGKILL to the CLI's group (the Python
workers it orphans), and a last check that nothing still listens on the suite's ports. Exits with
the command's status. Never kills anything by name.

Why not ``firebase emulators:exec``, which also starts the suite, runs a command and stops it? It would do
for a plain run, but not for what this wrapper is for (docs/testing.md, "Things to know about the local emulators"):

- exec leaves the Python functions' workers running after it exits (firebase-tools issue 11069, open); they
  keep their ports and the next start talks to stale code. Here the CLI leads its own process group and the
  whole group is signalled after it exits.
- When the CLI dies other than by SIGINT, exec cannot stop the Firestore JVM (a process group of its own,
  left holding port 8080); ``stop`` finds it by its port and stops it.
- exec exports FIRESTORE_EMULATOR_HOST, FIREBASE_AUTH_EMULATOR_HOST and GCLOUD_PROJECT, but not
  FUNCTIONS_EMULATOR_HOST nor the hub, and its emulator output shares one stdout with the command's. The
  tests need the emulators' log as a file of its own while they run (EMULATOR_LOG: emulator_api counts
  trigger runs from its "Beginning execution" / "Finished" lines, a barrier instead of a sleep).
- It prints no start-up time and cannot say, before it starts anything, which of the ports is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-telehealth"
READY_LINE = "All emulators ready"
LOAD_FAILED = "Failed to load function definition from source"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
# The emulators a suite starts, of those its config gives a port (Storage: recordings, docs/recordings.md;
# Hosting: the demo page, in the suites that run the browser tests).
ONLY = ("auth", "firestore", "storage", "functions", "hosting", "tasks")


def suite_ports(config: str) -> dict[str, tuple[str, int]]:
    """The emulators' host and port by name, read from the firebase config (the one place they are fixed)."""
    emulators = json.loads((ROOT / config).read_text())["emulators"]
    ports = {
        name: (spec["host"], int(spec["port"]))
        for name, spec in emulators.items()
        if isinstance(spec, dict) and "port" in spec
    }
    # Firestore's websocket: left unset, the CLI takes the first free port from 9150 up, which may be the port
    # another suite is about to listen on. Every config pins it; it is checked and freed like the others.
    firestore = emulators.get("firestore", {})
    if "websocketPort" in firestore:
        ports["firestore-websocket"] = (firestore["host"], int(firestore["websocketPort"]))
    return ports


def emulator_env(ports: dict[str, tuple[str, int]]) -> dict[str, str]:
    """The variables clients and tests use to find the suite."""

    def addr(name: str) -> str:
        host, port = ports[name]
        return f"{host}:{port}"

    found = {
        "GCLOUD_PROJECT": PROJECT,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIREBASE_PROJECT_ID": PROJECT,
        "FIRESTORE_EMULATOR_HOST": addr("firestore"),
        "FIREBASE_AUTH_EMULATOR_HOST": addr("auth"),
        "FUNCTIONS_EMULATOR_HOST": addr("functions"),
        "FIREBASE_EMULATOR_HUB": addr("hub"),
    }
    if "hosting" in ports:
        # No SDK reads this one (firebase-tools defines none for Hosting): the browser tests and make dev
        # find the demo site by it.
        found["FIREBASE_HOSTING_EMULATOR_HOST"] = addr("hosting")
    # The Cloud Tasks emulator (the reminder queue); firebase-admin enqueues there when this is set.
    if "tasks" in ports:
        found["CLOUD_TASKS_EMULATOR_HOST"] = addr("tasks")
    if "storage" in ports:
        # The JS SDK and firebase-tools take host:port; google-cloud-storage (Python) wants the scheme too.
        found["FIREBASE_STORAGE_EMULATOR_HOST"] = addr("storage")
        found["STORAGE_EMULATOR_HOST"] = f"http://{addr('storage')}"
    return found


def started_emulators(config: str) -> list[str]:
    """What ``--only`` names: each emulator of ``ONLY`` that the config gives a port."""
    ports = suite_ports(config)
    return [name for name in ONLY if name in ports]


def cli_env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    # A temp folder of the suite's own: the Storage emulator keeps its objects in <tmpdir>/firebase/storage and
    # empties that folder when it starts, so with the system's /tmp one suite's start deleted the objects of
    # another running on the machine (the CLI then died: ENOENT on a blob, "An unexpected error has occurred").
    env["TMPDIR"] = str(scratch)
    java_dir = (ROOT / ".cache" / "java-dir").read_text().strip()
    env["PATH"] = f"{java_dir}{os.pathsep}{env.get('PATH', '')}"
    marker = ROOT / ".cache" / "emulators-path"
    if marker.is_file():
        env["FIREBASE_EMULATORS_PATH"] = marker.read_text().strip()
    scratch = ROOT / ".cache" / "home"
    scratch.mkdir(parents=True, exist_ok=True)
    # firebase-tools writes its configstore here, not into the user's home.
    env["XDG_CONFIG_HOME"] = str(scratch / "config")
    env.setdefault("JAVA_TOOL_OPTIONS", "-Xmx512m")
    # The Functions emulator starts extra Python workers for concurrent requests, each on a port
    # that portfinder picked at the same moment: two can pick the same one, and requests then reach
    # the wrong function ("Connection in use", EventConversionException). One request at a time
    # avoids that race; set FUNCTIONS_EMULATOR_PARALLEL yourself to try more.
    env.setdefault("FUNCTIONS_EMULATOR_PARALLEL", "1")
    # The CLI gives the functions' source 10 s to import and describe itself; on two cores with three suites
    # starting at once (make test) main.py's imports took longer ("Cannot determine backend specification.
    # Timeout after 10000"). The discovery only waits longer; a source that fails still fails at once.
    env.setdefault("FUNCTIONS_DISCOVERY_TIMEOUT", "60")
    # Nothing outside this machine is reachable: keep the CLI from trying.
    env["FIREBASE_CLI_DISABLE_UPDATE_CHECK"] = "true"
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    env.pop("FIREBASE_AUTH_EMULATOR_HOST", None)
    env.pop("CLOUD_TASKS_EMULATOR_HOST", None)
    return env


def listening_pids(ports: list[int]) -> dict[int, set[int]]:
    """The pids listening on each of the given TCP ports, found by port via ``ss``, never by name."""
    found: dict[int, set[int]] = {}
    try:
        out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return found
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        port_text = fields[3].rsplit(":", 1)[-1]
        if not port_text.isdigit() or int(port_text) not in ports:
            continue
        pids = found.setdefault(int(port_text), set())
        for chunk in line.split("pid=")[1:]:
            digits = chunk.split(",", 1)[0]
            if digits.isdigit():
                pids.add(int(digits))
    return found


# The Functions emulator finds the functions by serving main.py on the first free port from 8081 up
# (firebase-tools' python runtime, portfinder) and asking it for the spec, at start and at every reload. Two
# suites doing that at once (make test runs three) can pick the same port: one asks the other's server, or
# stops it ("fetch failed", seen with three suites starting together). One machine-wide lock around every
# start and reload keeps discoveries one at a time; the rest of each suite still runs side by side.
DISCOVERY_LOCK = Path(tempfile.gettempdir()) / "telehealth-functions-discovery.lock"


@contextlib.contextmanager
def discovery_turn() -> Iterator[None]:
    """Hold the machine-wide functions-discovery lock (released when the process ends, whatever happens)."""
    with DISCOVERY_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# make test starts three suites at once, and their starts take the discovery lock one after the other (about
# 25 s each on two cores). The emulator tests and the matrix are the longest paths, so they start first:
# with EMULATORS_START_AFTER=<log name>[,<log name>...] (e.g. "emulators"), a start waits until each of those
# suites is ready in turn,
# as its ready marker (<log name>.ready beside the logs, holding the pid of the with-emulators that wrote it,
# removed when it stops) says, or until the deadline, then starts anyway.
START_AFTER_TIMEOUT = 120.0


def ready_marker(log: Path) -> Path:
    return log.with_suffix(".ready")


def marker_is_live(marker: Path) -> bool:
    """Whether ``marker`` was written by a with-emulators that is still running (not left by a crashed one)."""
    try:
        pid = int(marker.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_suite(marker: Path, timeout: float = START_AFTER_TIMEOUT, poll: float = 0.2) -> bool:
    """Block until ``marker`` is live, or ``timeout`` passes; True if the suite was ready in time."""
    deadline = time.monotonic() + timeout
    while not marker_is_live(marker):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


class StartFailed(RuntimeError):
    """The CLI exited before the suite was ready."""


def offset_config(config: str) -> str:
    """``config`` itself, or (with EMULATOR_PORT_OFFSET=N) a copy beside it with every port raised by N.

    For two work trees on one machine (a helper's branch while the main tree's suite runs): the copy is a
    dotfile next to the original (same folder, so its relative paths still hold) and git ignores it.
    """
    offset = int(os.environ.get("EMULATOR_PORT_OFFSET", "0") or "0")
    if not offset:
        return config
    source = ROOT / config
    data = json.loads(source.read_text())
    for spec in data["emulators"].values():
        # websocketPort: the Firestore emulator's second port (its default, 9150, or the next free one, would
        # otherwise land on another work tree's shifted ports: 9151 is auth's at offset 52).
        for key in ("port", "websocketPort"):
            if isinstance(spec, dict) and key in spec:
                spec[key] = int(spec[key]) + offset
    shifted = source.with_name(f".offset-{offset}-{source.name}")
    shifted.write_text(json.dumps(data, indent=2) + "\n")
    return str(shifted.relative_to(ROOT)) if shifted.is_relative_to(ROOT) else str(shifted)


def forget_resolved_params(config: str) -> list[Path]:
    """Remove each functions source's ``.env.local``; returns the files removed.

    The Functions emulator writes there the values it resolved for params its .env did not set (an
    empty default, say), and on the next start that file overrides .env. A copy left by an earlier
    start would so keep a param at its old value after scripts/demo.env gave it a new one (seen:
    ``VIDEO_JOIN_PAGE_URL`` stayed empty). Each start resolves them afresh from .env.
    """
    removed = []
    for codebase in json.loads((ROOT / config).read_text()).get("functions", []):
        resolved = (ROOT / config).parent / codebase["source"] / ".env.local"
        if resolved.is_file():
            resolved.unlink()
            removed.append(resolved)
    return removed


# The window of ports each suite's Python function processes take (scripts/worker_ports.cjs), by the
# suite's log name; a copy shifted by EMULATOR_PORT_OFFSET (another work tree) takes windows 5,000 higher.
# All below the kernel's ephemeral ports (32768 up), which the providers' stand-ins are given.
WORKER_PORT_SLOTS = {"": 0, "matrix": 1, "prosody-trigger": 2, "bench": 3}
WORKER_PORTS_PRELOAD = ROOT / "scripts" / "worker_ports.cjs"
# No kept-alive connections from the CLI to those processes (scripts/worker_connections.cjs says why).
WORKER_CONNECTIONS_PRELOAD = ROOT / "scripts" / "worker_connections.cjs"
CLI_PRELOADS = (WORKER_PORTS_PRELOAD, WORKER_CONNECTIONS_PRELOAD)


def node_options(existing: str) -> str:
    """The CLI's NODE_OPTIONS: the caller's own, then the preloads."""
    return " ".join([existing.strip(), *(f"--require {preload}" for preload in CLI_PRELOADS)]).strip()


def worker_port_base(variant: str, offset: int) -> int:
    """The first port of the suite's window of 1,000 for its Python function processes."""
    return 20000 + 1000 * WORKER_PORT_SLOTS.get(variant, 4) + (5000 if offset else 0)


def start_cli(config: str, log: Path, scratch: Path, worker_ports: int) -> subprocess.Popen[bytes]:
    """``firebase emulators:start`` as the leader of a new process group, its output to ``log``; its Python
    function processes listen in ``worker_ports`` .. +999 (scripts/worker_ports.cjs), and it opens a new
    connection to them for each request (scripts/worker_connections.cjs).

    Each line of the log starts with the wall-clock time it was read (the CLI prints none), so a slow
    trigger or a late event can be placed; the tests match lines by substring, so the prefix is harmless.
    """
    firebase = ROOT / "node_modules" / ".bin" / "firebase"
    only = ",".join(started_emulators(config))
    command = [str(firebase), "emulators:start", "--only", only, "--project", PROJECT]
    command += ["--config", config]
    env = cli_env(scratch)
    env["TELEHEALTH_WORKER_PORT_BASE"] = str(worker_ports)
    env["NODE_OPTIONS"] = node_options(env.get("NODE_OPTIONS", ""))
    cli = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert cli.stdout is not None
    sink = log.open("wb")  # opened here, not in the thread: wait_ready reads the log at once
    threading.Thread(target=copy_lines, args=(cli.stdout, sink), daemon=True).start()
    return cli


def copy_lines(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy the CLI's output into the log line by line, each flushed at once and stamped with the time."""
    with sink:
        for line in iter(source.readline, b""):
            stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d} "
            sink.write(stamp.encode() + line)
            sink.flush()


def wait_ready(cli: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if cli.poll() is not None:
            raise StartFailed(f"the emulators exited during start (status {cli.returncode}); see {log}")
        text = log.read_text(errors="replace")
        if READY_LINE in text:
            if LOAD_FAILED in text:
                # Seen under load: firebase-tools asks the discovery server for functions.yaml again while the
                # first request is still importing main.py; the second import in the same process fails
                # ("Duplicate Parameter Error") and the suite comes up "ready" with no functions at all.
                raise StartFailed(f"the Functions emulator could not load the functions; see {log}")
            return
        time.sleep(0.2)
    raise RuntimeError(f"the emulators were not ready within {START_TIMEOUT:.0f} s; see {log}")


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(cli: subprocess.Popen[bytes], ports: list[int]) -> None:
    pgid = cli.pid  # start_new_session makes the CLI the leader of its own group
    if cli.poll() is None:
        cli.send_signal(signal.SIGINT)
        try:
            cli.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            cli.terminate()
            try:
                cli.wait(timeout=5)
            except subprocess.TimeoutExpired:
                cli.kill()
                cli.wait()
    # The Python workers outlive the CLI in its group (firebase-tools issue 11069).
    if signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + 5
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_alive(pgid):
            signal_group(pgid, signal.SIGKILL)
    # The Firestore JVM runs in a group of its own; if the CLI could not stop it, find it by its port.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = {port: pids for port, pids in listening_pids(ports).items() if pids}
        if not left:
            return
        for pids in left.values():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM if time.monotonic() < deadline - 5 else signal.SIGKILL)
        time.sleep(0.3)
    raise RuntimeError(f"ports still in use after stopping the emulators: {sorted(left)}")


def interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signum)


def main(argv: list[str]) -> int:
    # Explicit handlers: a shell's background job starts with SIGINT ignored, and CI may send SIGTERM.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    config = "firebase.json"
    if argv[:1] == ["--config"] and len(argv) >= 2:
        config, argv = argv[1], argv[2:]
    if not argv:
        print("usage: scripts/with-emulators [--config firebase.bench.json] CMD [ARGS...]", file=sys.stderr)
        return 2
    config = offset_config(config)
    ports = suite_ports(config)
    port_numbers = [port for _, port in ports.values()]
    busy = sorted(port for port, pids in listening_pids(port_numbers).items())
    if busy:
        print(f"with-emulators: ports already in use: {busy} (another emulator suite running?)", file=sys.stderr)
        return 1
    log_dir = ROOT / ".cache" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # One log per config, so the provider matrix's run does not overwrite the emulator tests' log.
    variant = Path(config).stem.split("firebase", 1)[-1].lstrip(".")
    if not variant and (ROOT / config).resolve().parent != ROOT:
        # A config laid out elsewhere (the Prosody tier's, .cache/prosody-trigger/firebase.json) gets a log
        # of its own: sharing emulators.log with the emulator tests' suite mixed the two suites' lines.
        variant = (ROOT / config).resolve().parent.name
    log = log_dir / (f"emulators-{variant}.log" if variant else "emulators.log")
    worker_ports = worker_port_base(variant, int(os.environ.get("EMULATOR_PORT_OFFSET", "0") or "0"))
    started = time.monotonic()
    for after in filter(None, os.environ.get("EMULATORS_START_AFTER", "").split(",")):
        if log_dir / f"{after}.log" == log:
            continue
        print(f"with-emulators: letting the {after!r} suite start first", file=sys.stderr, flush=True)
        if not wait_for_suite(ready_marker(log_dir / f"{after}.log")):
            print(f"with-emulators: {after!r} not ready in {START_AFTER_TIMEOUT:.0f} s; starting", file=sys.stderr)
    turn = discovery_turn()
    turn.__enter__()
    scratch = Path(tempfile.mkdtemp(prefix="telehealth-emulators-"))
    forget_resolved_params(config)
    cli = start_cli(config, log, scratch, worker_ports)
    status = 1
    # Ctrl-C reaches us and the command; the suite (its own session) is stopped below, once.
    try:
        try:
            wait_ready(cli, log)
        except StartFailed as error:
            # Seen on the shared machine: the CLI got a SIGTERM from outside while starting ("Received SIGTERM
            # for the first time", status 0), and the functions' discovery failing under load (wait_ready).
            # One more try, after everything of the first is stopped; said out loud.
            print(f"with-emulators: {error}; retrying the start once", file=sys.stderr, flush=True)
            stop(cli, port_numbers)
            (log_dir / "emulators-failed-start.log").write_bytes(log.read_bytes())
            cli = start_cli(config, log, scratch, worker_ports)
            wait_ready(cli, log)
        finally:
            turn.__exit__(None, None, None)
        print(
            f"with-emulators: suite ready in {time.monotonic() - started:.1f} s (log: {log.relative_to(ROOT)})",
            file=sys.stderr,
            flush=True,
        )
        ready_marker(log).write_text(f"{os.getpid()}\n")
        env = {**os.environ, **emulator_env(ports), "EMULATOR_LOG": str(log), "EMULATOR_PGID": str(cli.pid)}
        # The emulator client (tests/support) is imported as plain `emulator_api`, the clinic command from scripts/.
        paths = [str(ROOT / "scripts"), str(ROOT / "tests" / "support"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        child = subprocess.Popen(argv, env=env)
        try:
            status = child.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached the child too; a signal sent to us alone is passed on.
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
            try:
                status = child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                status = child.wait()
            status = 130 if status in (0, -signal.SIGINT) else status
    except KeyboardInterrupt:
        status = 130
    except RuntimeError as error:
        print(f"with-emulators: {error}", file=sys.stderr)
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ready_marker(log).unlink(missing_ok=True)
        try:
            stop(cli, port_numbers)
        except RuntimeError as error:
            print(f"with-emulators: {error}", file=sys.stderr)
            status = status or 1
        shutil.rmtree(scratch, ignore_errors=True)
        print("with-emulators: suite stopped", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
