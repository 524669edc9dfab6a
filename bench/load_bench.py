"""Load benchmark on the production serving stack, against the Auth and Firestore emulators.

Each function is served by functions-framework as a deployed instance serves it: gunicorn, one
worker, ``THREADS`` threads. Five servers, each in its own process group on loopback: our
``get_join_token`` twice (as deployed, where a caller's session check is reused for
``VIDEO_SESSION_CHECK_S``, so a caller who joined recently is cached; and with
``VIDEO_SESSION_CHECK_S=0``, so every join makes the Auth API lookup, as a caller's first join does),
and three floors from bench/functions (a no-op callable, one that does one read and one write, and
one that also makes the Auth lookup). All five start first; then, for each concurrency level, the
servers take turns in ``ROUNDS`` short slots (in balanced orders: ``turn_orders``), so drift in the
machine's load hits all of them alike. In each slot that many signed-in clients send requests;
every answer is checked (role or refusal), and the audit log must hold exactly one record per join.
Cold start: process start to the first answered call.

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
# Per server and level, over all rounds. At 4 s in 4 slots a p99 rested on the ten slowest of about 1,000
# calls, and the join's p99 against the floor's at 32 clients came out 1.25, 1.00 and 1.44 in three runs of
# one commit; 16 s (now in 10 slots) gives each p99 four times the calls.
DEFAULT_SECONDS = 16.0
# Ten rounds: with five servers, the two Williams squares of ``turn_orders`` once each.
DEFAULT_ROUNDS = 10
SECONDS = float(os.environ.get("LOAD_SECONDS", str(DEFAULT_SECONDS)))
ROUNDS = max(1, int(os.environ.get("LOAD_ROUNDS", str(DEFAULT_ROUNDS))))
WARM_SECONDS = 0.5
# Before any level is measured, the servers take turns at WARM_CLIENTS clients for WARM_ROUNDS rounds of
# WARM_SLOT_SECONDS each (50 s with five servers). Measured from a fresh emulator suite: the Firestore
# emulator's JVM needs about 45 s of this traffic (some 10,000 requests) before its CPU per request settles,
# falling from about 10 ms to about 1 ms, and the floor's rate climbs from about 120/s to about 280/s
# meanwhile. Without it, the first levels measured a JVM still compiling, and a trend within a level that
# interleaving only partly cancels.
WARM_ROUNDS = int(os.environ.get("LOAD_WARM_ROUNDS", "10"))
WARM_SLOT_SECONDS = 1.0
WARM_CLIENTS = 8
MAX_REQUESTS = int(os.environ.get("LOAD_MAX_REQUESTS", "20000"))
THREADS = int(os.environ.get("LOAD_THREADS", "8"))
COLD_RUNS = int(os.environ.get("LOAD_COLD_RUNS", "3"))
SERVERS = {
    "join": (ROOT / "functions" / "main.py", "get_join_token"),
    "join_uncached": (ROOT / "functions" / "main.py", "get_join_token"),
    "noop": (ROOT / "bench" / "functions" / "main.py", "bench_noop_call"),
    "read_write": (ROOT / "bench" / "functions" / "main.py", "bench_read_write_call"),
    "auth_read_write": (ROOT / "bench" / "functions" / "main.py", "bench_auth_read_write_call"),
}
JOINS = ("join", "join_uncached")
# Each server's own settings on top of the deployed ones.
SERVER_PARAMS = {"join_uncached": {"VIDEO_SESSION_CHECK_S": "0"}}


def dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def server_env(threads: int, params: dict[str, str] | None = None) -> dict[str, str]:
    """What a deployed instance has: the params, the secrets, THREADS; plus the emulators' addresses."""
    env = {**os.environ, **dotenv(ROOT / "scripts" / "demo.env"), **dotenv(ROOT / "functions" / ".secret.local")}
    env.update(params or {})
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
        env=server_env(threads, SERVER_PARAMS.get(name)),
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


@dataclass
class Slot:
    """What one server answered in one slot: latencies, wrong answers, the slot's length."""

    latencies: list[float]
    wrong: int
    seconds: float


def run_slot(server: Server, clients: list[tuple[str, str]], concurrency: int, seconds: float) -> Slot:
    """``concurrency`` clients for ``seconds`` (at most MAX_REQUESTS in all); every answer checked."""
    latencies: list[float] = []
    wrong: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
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
            if answer != (expected if server.name in JOINS else "ok"):
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
    return Slot(latencies, len(wrong), time.perf_counter() - began)


def summarise(slots: list[Slot]) -> dict[str, Any]:
    """One server at one level over its slots: the rate, the latency percentiles, the spread of rates."""
    latencies = [latency for slot in slots for latency in slot.latencies]
    rates = [len(slot.latencies) / slot.seconds for slot in slots]
    return {
        "requests": len(latencies),
        "per_s": round(len(latencies) / sum(slot.seconds for slot in slots), 1),
        "per_s_slots": [round(rate, 1) for rate in rates],
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "wrong_answers": sum(slot.wrong for slot in slots),
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


def turn_orders(count: int) -> list[list[int]]:
    """Orders of ``count`` servers, one per round, in which each server comes after each other one equally often.

    A Williams design: the first order is 0, 1, n-1, 2, n-2, ...; each next one adds 1 to every entry
    (mod n); for an odd n the reversed orders follow. Over its n (even n) or 2n (odd n) orders every server
    takes every place equally often and follows every other server equally often. A plain rotation
    keeps each server's predecessor fixed: the join always came after the Auth floor (whose slot leaves
    the Auth emulator and Firestore busy), while 1R+1W always came after the no-op (which leaves them idle).
    """
    first = [0]
    for step in range(1, count):
        first.append((step + 1) // 2 if step % 2 else count - step // 2)
    orders = [[(entry + shift) % count for entry in first] for shift in range(count)]
    if count % 2:
        orders += [list(reversed(order)) for order in orders]
    return orders


def warm_up(servers: dict[str, Server], clients: list[tuple[str, str]]) -> dict[str, Any]:
    """Turns at WARM_CLIENTS clients until the emulators have settled; the floor's rate per round, not counted."""
    floor_rates, wrong = [], 0
    for _ in range(WARM_ROUNDS):
        for name, server in servers.items():
            slot = run_slot(server, clients, WARM_CLIENTS, WARM_SLOT_SECONDS)
            wrong += slot.wrong
            if name == "read_write":
                floor_rates.append(round(len(slot.latencies) / slot.seconds, 1))
    return {"rounds": WARM_ROUNDS, "clients": WARM_CLIENTS, "read_write_per_s": floor_rates, "wrong_answers": wrong}


def audit_count(db: Any) -> int:
    count: int = db.collection("videoAccessLog").count().get()[0][0].value
    return count


def bench_load() -> dict[str, Any]:
    clients = seed()
    db = emu.admin_db()
    results: dict[str, Any] = {
        "threads": THREADS,
        "seconds_per_level": SECONDS,
        "rounds": ROUNDS,
        "levels": LEVELS,
        "session_check_s": {"join": int(server_env(THREADS).get("VIDEO_SESSION_CHECK_S", "60")), "join_uncached": 0},
        "servers": {},
    }
    servers: dict[str, Server] = {}
    try:
        for name in SERVERS:
            servers[name] = start(name, THREADS)
        for server in servers.values():
            first_answer(server, clients[1][0], time.perf_counter())
            run_slot(server, clients, 4, WARM_SECONDS)  # every caller once or more; not counted
        results["warm_up"] = warm_up(servers, clients)
        slots: dict[str, dict[int, list[Slot]]] = {name: {level: [] for level in LEVELS} for name in servers}
        audited = dict.fromkeys(JOINS, 0)
        for level in LEVELS:
            names = list(servers)
            orders = turn_orders(len(names))
            for round_ in range(ROUNDS):
                for name in (names[index] for index in orders[round_ % len(orders)]):
                    before = audit_count(db) if name in JOINS else 0
                    slots[name][level].append(run_slot(servers[name], clients, level, SECONDS / ROUNDS))
                    if name in JOINS:
                        audited[name] += audit_count(db) - before
    finally:
        for server in servers.values():
            server.stop()
    for name in servers:
        results["servers"][name] = {str(level): summarise(slots[name][level]) for level in LEVELS}
    results["audit_records_per_join"] = {
        name: round(audited[name] / sum(run["requests"] for run in results["servers"][name].values()), 4)
        for name in JOINS
    }
    floor = results["servers"]["read_write"]
    auth_floor = results["servers"]["auth_read_write"]
    results["ratios"] = {
        name: {
            level: {
                "throughput_vs_read_write": round(runs[level]["per_s"] / floor[level]["per_s"], 2),
                "p99_vs_read_write": round(runs[level]["p99_ms"] / floor[level]["p99_ms"], 2),
                "throughput_vs_auth_read_write": round(runs[level]["per_s"] / auth_floor[level]["per_s"], 2),
                "p99_vs_auth_read_write": round(runs[level]["p99_ms"] / auth_floor[level]["p99_ms"], 2),
            }
            for level in runs
        }
        for name, runs in ((name, results["servers"][name]) for name in JOINS)
    }
    results["target"] = {"throughput_at_least": 0.9, "p99_at_most": 1.2, "levels": [8, 32, 80]}
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
        "join": "get_join_token (session check cached)",
        "join_uncached": "get_join_token (session check not cached)",
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


LABELS = {"join": "join, session check cached", "join_uncached": "join, session check not cached"}


def _cell(run: dict[str, Any]) -> str:
    return f"{run['per_s']}/s, {run['p50_ms']}/{run['p99_ms']}"


def table_rows(load: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The load run's rows of make bench's printed table (measure, ours, floors, ratios)."""
    rows = []
    for level in map(str, load["levels"]):
        floor, auth_floor, noop = (load["servers"][name][level] for name in ("read_write", "auth_read_write", "noop"))
        floors = f"1R+1W {_cell(floor)}; Auth+1R+1W {_cell(auth_floor)}; no-op {noop['per_s']}/s"
        for name in JOINS:
            ratio = load["ratios"][name][level]
            rows.append(
                (
                    f"load c={level}: {LABELS[name]}, /s, p50/p99 ms",
                    _cell(load["servers"][name][level]),
                    floors,
                    f"vs 1R+1W {ratio['throughput_vs_read_write']}x rate, {ratio['p99_vs_read_write']}x p99; "
                    f"vs Auth+1R+1W {ratio['throughput_vs_auth_read_write']}x, {ratio['p99_vs_auth_read_write']}x",
                )
            )
    wrong = sum(run["wrong_answers"] for runs in load["servers"].values() for run in runs.values())
    audited = ", ".join(f"{load['audit_records_per_join'][name]}" for name in JOINS)
    rows.append(("load: wrong answers; audit records per join (cached, not cached)", f"{wrong}; {audited}", "", "0; 1"))
    return rows


def verdict(load: dict[str, Any], name: str) -> str:
    """Whether a join server met the target against the one-read-one-write callable, and by how much not."""
    target = load["target"]
    checked, misses = [], []
    for level in map(str, target["levels"]):
        ratio = load["ratios"][name].get(level)
        if ratio is None:
            continue
        checked.append(level)
        rate, tail = ratio["throughput_vs_read_write"], ratio["p99_vs_read_write"]
        if rate < target["throughput_at_least"] or tail > target["p99_at_most"]:
            misses.append(f"{level} clients ({rate}x the rate, {tail}x the p99)")
    if not checked:
        return "not measured (none of its levels ran)"
    return f"met at {', '.join(checked)} clients" if not misses else "missed at " + "; ".join(misses)


def warm_sentence(warm: dict[str, Any] | None) -> str:
    """What the warm-up did, from its figures (a run without one says so)."""
    if not warm or not warm["rounds"]:
        return "No warm-up ran before the first level (`LOAD_WARM_ROUNDS=0`)."
    rates = warm["read_write_per_s"]
    return (
        f"Before the first level the servers took {warm['rounds']} turns each at {warm['clients']} clients, not "
        f"counted, while the Firestore emulator's JVM settled: 1R+1W went from {rates[0]}/s in the first turn to "
        f"{rates[-1]}/s in the last (wrong answers meanwhile: {warm['wrong_answers']})."
    )


def markdown(load: dict[str, Any]) -> str:
    """docs/benchmarks.md's section on the load run, from this run's figures."""
    header = (
        "| clients | join, session check cached: /s, p50/p99 ms | not cached | 1R+1W | Auth+1R+1W | no-op /s "
        "| cached vs 1R+1W: rate, p99 | not cached vs 1R+1W | not cached vs Auth+1R+1W |"
    )
    lines = [header, "|" + " --- |" * 9]
    for level in map(str, load["levels"]):
        servers, ratios = load["servers"], load["ratios"]
        cached, uncached = ratios["join"][level], ratios["join_uncached"][level]
        lines.append(
            f"| {level} | {_cell(servers['join'][level])} | {_cell(servers['join_uncached'][level])} "
            f"| {_cell(servers['read_write'][level])} | {_cell(servers['auth_read_write'][level])} "
            f"| {servers['noop'][level]['per_s']} "
            f"| {cached['throughput_vs_read_write']}x, {cached['p99_vs_read_write']}x "
            f"| {uncached['throughput_vs_read_write']}x, {uncached['p99_vs_read_write']}x "
            f"| {uncached['throughput_vs_auth_read_write']}x, {uncached['p99_vs_auth_read_write']}x |"
        )
    spread = "; ".join(
        f"{name} at {level}: {min(runs[str(level)]['per_s_slots'])} to {max(runs[str(level)]['per_s_slots'])}/s"
        for name, runs in load["servers"].items()
        if name in ("join", "read_write")
        for level in load["target"]["levels"]
        if str(level) in runs
    )
    wrong = sum(run["wrong_answers"] for runs in load["servers"].values() for run in runs.values())
    target = load["target"]
    cold = load["cold_start"]
    return (
        "## Load on the production serving stack\n\n"
        "Each function is served as a deployed instance serves it (functions-framework's gunicorn, one "
        f"worker, `THREADS={load['threads']}`), on loopback, against the Auth and Firestore emulators, "
        "the per-account rate limit lifted. Five servers: `get_join_token` as deployed "
        f"(`VIDEO_SESSION_CHECK_S={load['session_check_s']['join']}`: a caller who was checked less than that "
        "long ago on this instance makes no Auth call: *cached*), `get_join_token` with "
        "`VIDEO_SESSION_CHECK_S=0` (every join makes the Auth lookup, as a caller's first join does: "
        "*not cached*), a callable doing one read and one write (1R+1W), one that also makes the Auth "
        "lookup (Auth+1R+1W), and a no-op callable. The clients are a doctor, a patient and two "
        "strangers (refused `not-found`), signed in. For each level the servers take turns, "
        f"{load['rounds']} slots each in balanced orders (each server follows each other one equally often), "
        f"{load['seconds_per_level']} s per server and level in "
        "all, so the machine's drift hits all alike. Every answer is checked and the audit log must hold "
        "one record per join. Latencies are the client's, in ms. "
        + warm_sentence(load.get("warm_up"))
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        f"Target (at {', '.join(map(str, target['levels']))} clients: at least {target['throughput_at_least']}x "
        f"the rate and at most {target['p99_at_most']}x the p99 of 1R+1W), the join with its session check "
        f"cached: **{verdict(load, 'join')}**. Not cached: {verdict(load, 'join_uncached')}.\n\n"
        f"Wrong answers: {wrong}. Audit records per join: {load['audit_records_per_join']['join']} (cached), "
        f"{load['audit_records_per_join']['join_uncached']} (not cached). Rates per slot (the noise): {spread}. "
        f"Cold start to the first answered join: {cold['join_ms']} ms, against the no-op's {cold['noop_ms']} ms "
        f"({cold['ratio']}x).\n"
    )
