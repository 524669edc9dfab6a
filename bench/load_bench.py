"""Load benchmark on the production serving stack, against the Auth and Firestore emulators.

Each function is served by functions-framework as a deployed instance serves it: gunicorn, one
worker, ``THREADS`` threads. Three servers, each in its own process group on loopback: our
``get_join_token``, and two floors from bench/functions (a no-op callable, and one that does one
read and one write). For each concurrency level, that many signed-in clients send requests for a
bounded time; every answer is checked (role or refusal), and afterwards the audit log must hold
exactly one record per join. Cold start: process start to the first answered call.

Run by ``make bench`` (inside scripts/with-emulators); the figures go into docs/benchmarks.md,
artifacts/bench.json and artifacts/load.png. Traffic goes only to 127.0.0.1, bounded in count and time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import emulator_api as emu
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / "functions" / "venv" / "bin"
LEVELS = [int(n) for n in os.environ.get("LOAD_LEVELS", "1,8,32,80").split(",")]
SECONDS = float(os.environ.get("LOAD_SECONDS", "4"))
MAX_REQUESTS = int(os.environ.get("LOAD_MAX_REQUESTS", "20000"))
THREADS = int(os.environ.get("LOAD_THREADS", "8"))
COLD_RUNS = int(os.environ.get("LOAD_COLD_RUNS", "3"))
SERVERS = {
    "join": (ROOT / "functions" / "main.py", "get_join_token"),
    "noop": (ROOT / "bench" / "functions" / "main.py", "bench_noop_call"),
    "read_write": (ROOT / "bench" / "functions" / "main.py", "bench_read_write_call"),
    "auth_read_write": (ROOT / "bench" / "functions" / "main.py", "bench_auth_read_write_call"),
}


def dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def server_env(threads: int) -> dict[str, str]:
    """What a deployed instance has: the params, the secrets, THREADS; plus the emulators' addresses."""
    env = {**os.environ, **dotenv(ROOT / "scripts" / "demo.env"), **dotenv(ROOT / "functions" / ".secret.local")}
    env["THREADS"] = str(threads)
    # Refused calls are cheaper than joins: with the per-account limit on, a load run from a few
    # accounts would measure refusals. The limit has its own tests; here it is out of the way.
    env["VIDEO_JOIN_RATE_PER_MIN"] = str(10**9)
    env["GOOGLE_CLOUD_PROJECT"] = env["GCLOUD_PROJECT"] = emu.PROJECT
    env.pop("FUNCTIONS_EMULATOR_HOST", None)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start(name: str, threads: int) -> Server:
    source, target = SERVERS[name]
    port = free_port()
    command = [str(VENV_BIN / "functions-framework"), "--target", target, "--source", str(source)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(  # noqa: S603 - our venv's functions-framework
        command,
        cwd=source.parent,
        env=server_env(threads),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Server(name, process, port)


def call(session: requests.Session, url: str, token: str, appointment_id: str) -> tuple[str, float]:
    """One callable request; the answer as 'moderator' / 'guest' / an error status, and its latency."""
    began = time.perf_counter()
    reply = session.post(
        url,
        json={"data": {"appointmentId": appointment_id}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    elapsed = time.perf_counter() - began
    body = reply.json()
    if "error" in body:
        return str(body["error"]["status"]), elapsed
    result = body["result"]
    return str(result.get("role", "ok")), elapsed


def first_answer(server: Server, token: str, began: float, deadline: float = 60.0) -> float:
    """Seconds from ``began`` (process start) to the first answered call."""
    session = requests.Session()
    while time.perf_counter() - began < deadline:
        with contextlib.suppress(requests.ConnectionError):
            status, _ = call(session, server.url, token, "load-open")
            if status in ("moderator", "guest", "ok"):
                return time.perf_counter() - began
        time.sleep(0.005)
    raise TimeoutError(f"{server.name} did not answer within {deadline} s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_level(server: Server, clients: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    """``concurrency`` clients for SECONDS (at most MAX_REQUESTS in all); every answer checked."""
    latencies: list[float] = []
    wrong: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + SECONDS
    budget = [MAX_REQUESTS]

    def client(index: int) -> None:
        token, expected = clients[index % len(clients)]
        session = requests.Session()
        mine: list[float] = []
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            answer, elapsed = call(session, server.url, token, "load-open")
            mine.append(elapsed)
            if answer != (expected if server.name == "join" else "ok"):
                with lock:
                    wrong.append(answer)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "wrong_answers": len(wrong),
    }


def seed() -> list[tuple[str, str]]:
    """An open visit whose doctor is in the room; its doctor and patient, and two strangers."""
    emu.reset()
    doctor = emu.make_doctor("load-doctor@test.example", "load-pass-1", "Dr. Load")
    patient = emu.sign_up("load-patient@test.example", "load-pass-1")
    strangers = [emu.sign_up(f"load-stranger-{n}@test.example", "load-pass-1") for n in range(2)]
    room = {"roomName": "l" * 32, "provider": "jitsi", "doctorJoinedAt": emu.utc()}
    emu.admin_db().collection("appointments").document("load-open").set(
        emu.video_appointment(doctor.uid, patient.uid, video=room)
    )
    return [
        (doctor.id_token, "moderator"),
        (patient.id_token, "guest"),
        *[(stranger.id_token, "NOT_FOUND") for stranger in strangers],
    ]


def audit_count(db: Any) -> int:
    count: int = db.collection("videoAccessLog").count().get()[0][0].value
    return count


def bench_load() -> dict[str, Any]:
    clients = seed()
    db = emu.admin_db()
    results: dict[str, Any] = {"threads": THREADS, "seconds_per_level": SECONDS, "levels": LEVELS, "servers": {}}
    for name in SERVERS:
        server = start(name, THREADS)
        try:
            first_answer(server, clients[1][0], time.perf_counter())
            before = audit_count(db)
            runs = {str(level): run_level(server, clients, level) for level in LEVELS}
            if name == "join":
                made = sum(run["requests"] for run in runs.values())
                results["audit_records_per_join"] = round((audit_count(db) - before) / made, 4)
            results["servers"][name] = runs
        finally:
            server.stop()
    join = results["servers"]["join"]
    floors = {name: results["servers"][name] for name in ("read_write", "auth_read_write")}
    results["ratios"] = {
        level: {
            f"{measure}_vs_{name}": round(join[level][key] / floor[level][key], 2)
            for name, floor in floors.items()
            for measure, key in (("throughput", "per_s"), ("p99", "p99_ms"))
        }
        for level in join
    }
    results["cold_start"] = bench_cold(clients[1][0])
    return results


def bench_cold(token: str) -> dict[str, Any]:
    """Process start to first answered call, median of COLD_RUNS, for the join and the no-op callable."""
    seconds: dict[str, list[float]] = {"join": [], "noop": [], "read_write": []}
    for _ in range(COLD_RUNS):
        for name in seconds:
            began = time.perf_counter()
            server = start(name, THREADS)
            try:
                seconds[name].append(first_answer(server, token, began))
            finally:
                server.stop()
    medians = {name: round(statistics.median(values) * 1000) for name, values in seconds.items()}
    return {
        "join_ms": medians["join"],
        "noop_ms": medians["noop"],
        "ratio": round(medians["join"] / medians["noop"], 2),
    }


def plot(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rate, tail) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = {
        "join": "get_join_token",
        "read_write": "1 read + 1 write callable",
        "auth_read_write": "Auth lookup + 1 read + 1 write callable",
        "noop": "no-op callable",
    }
    for name, runs in results["servers"].items():
        levels = [int(level) for level in runs]
        rate.plot(levels, [runs[str(n)]["per_s"] for n in levels], marker="o", label=labels[name])
        tail.plot(levels, [runs[str(n)]["p99_ms"] for n in levels], marker="o", label=labels[name])
    rate.set(title="Throughput", xlabel="concurrent clients", ylabel="answers / s", xscale="log")
    tail.set(title="p99 latency", xlabel="concurrent clients", ylabel="ms", xscale="log")
    for axes in (rate, tail):
        axes.set_xticks(results["levels"], [str(n) for n in results["levels"]])
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(f"One instance, gunicorn with THREADS={results['threads']}, against the emulators (2 cores)")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
