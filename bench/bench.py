"""`make bench`: how fast and how cheap the backend is, next to the floors it cannot beat.

Runs under ``scripts/with-emulators --config firebase.bench.json`` (which also loads the bench-only
no-op functions). Prints a table and writes it to ``docs/benchmarks.md`` (generated, committed when the
figures are wanted), the raw figures to ``artifacts/bench.json`` and the load plot to ``artifacts/load.png``.
Figures, not pass/fail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import emulator_api as emu
import jwt
import load_bench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "tests"))

from support.configs import video_config  # noqa: E402

from telehealth import gate, join  # noqa: E402
from telehealth.access import Grant  # noqa: E402
from telehealth.config import VideoConfig  # noqa: E402
from telehealth.errors import VideoError  # noqa: E402
from telehealth.lifecycle import room_maker  # noqa: E402
from telehealth.providers import build_settings, provider_of  # noqa: E402
from telehealth.ratelimit import RateLimiter  # noqa: E402
from telehealth.store.appointments import apply_room_lifecycle  # noqa: E402
from telehealth.tokens import issue_token, participant_for  # noqa: E402

ARTIFACTS = ROOT / "artifacts"
REPORT = ROOT / "docs" / "benchmarks.md"
ROUND_TRIPS = int(os.environ.get("BENCH_CALLS", "300"))
TRIGGER_SAMPLES = int(os.environ.get("BENCH_TRIGGERS", "60"))
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "10"))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(samples, q) * 1000, 2) for q in (50, 95, 99)}


def demo_config() -> VideoConfig:
    return video_config(provider="jitsi", domain="meet.example.test", app_id="telehealth-demo")


def timed_calls(function: str, data: dict[str, Any], token: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        answer = emu.call(function, data, token)
        samples.append(time.perf_counter() - started)
        if not answer.ok:
            raise RuntimeError(f"{function} failed during the bench: {answer.status}")
    return samples


def bench_round_trips(db: Any, doctor: emu.User) -> dict[str, Any]:
    """Blocks of 20 calls, each block by its own patient on its own visit: the per-account limit is 20 a minute."""
    blocks = ROUND_TRIPS // 20
    patients = [emu.sign_up(f"bench-rt-{n}@test.example", "bench-pass-1") for n in range(blocks + 1)]
    room = {"roomName": "b" * 32, "provider": "jitsi", "doctorJoinedAt": emu.utc()}
    for n, patient in enumerate(patients):
        db.collection("appointments").document(f"bench-join-{n}").set(
            emu.video_appointment(doctor.uid, patient.uid, video=room)
        )
    warm = {"appointmentId": "bench-join-0"}
    for _ in range(20):  # warm the workers
        emu.call("get_join_token", warm, patients[0].id_token)
        emu.call("bench_noop_call", warm, patients[0].id_token)
        emu.call("bench_read_write_call", warm, patients[0].id_token)
    join_samples: list[float] = []
    noop_samples: list[float] = []
    io_samples: list[float] = []
    # Interleaved in small blocks so drift on the machine hits all alike.
    for n in range(1, blocks + 1):
        data, token = {"appointmentId": f"bench-join-{n}"}, patients[n].id_token
        join_samples += timed_calls("get_join_token", data, token, 20)
        noop_samples += timed_calls("bench_noop_call", data, token, 20)
        io_samples += timed_calls("bench_read_write_call", data, token, 20)
    join_stats, noop_stats, io_stats = summary(join_samples), summary(noop_samples), summary(io_samples)
    return {
        "get_join_token_ms": join_stats,
        "noop_callable_ms": noop_stats,
        "read_write_callable_ms": io_stats,
        "ratio_p50": round(join_stats["p50"] / noop_stats["p50"], 2),
        "ratio_p50_vs_read_write": round(join_stats["p50"] / io_stats["p50"], 2),
        "samples": len(join_samples),
        "target_ratio": 1.3,
    }


def wait_until(probe: Callable[[], bool], since: float, timeout: float = 20.0) -> float:
    """Seconds from ``since`` (taken just before the write) until ``probe`` holds; polls every 2 ms."""
    while not probe():
        if time.perf_counter() - since > timeout:
            raise TimeoutError("no trigger write within the deadline")
        time.sleep(0.002)
    return time.perf_counter() - since


def bench_triggers(db: Any, doctor: emu.User, patient: emu.User) -> dict[str, Any]:
    room_samples: list[float] = []
    noop_samples: list[float] = []
    for n in range(TRIGGER_SAMPLES + 5):
        ref = db.collection("appointments").document(f"bench-confirm-{n}")
        ref.set(emu.video_appointment(doctor.uid, patient.uid, status="pending"))
        noop = db.collection("benchNoop").document(f"n{n}")
        started = time.perf_counter()
        ref.update({"status": "confirmed"})
        lag_room = wait_until(lambda ref=ref: "video" in (ref.get().to_dict() or {}), started)
        started = time.perf_counter()
        noop.set({"n": n})
        lag_noop = wait_until(lambda noop=noop: bool((noop.get().to_dict() or {}).get("done")), started)
        if n >= 5:  # the first few warm the workers
            room_samples.append(lag_room)
            noop_samples.append(lag_noop)
    room, floor = summary(room_samples), summary(noop_samples)
    return {
        "confirm_to_room_ms": room,
        "noop_trigger_write_ms": floor,
        "ratio_p50": round(room["p50"] / floor["p50"], 2),
        "samples": len(room_samples),
        "target_ratio": 1.3,
    }


def cold_import(statement: str) -> float:
    python = ROOT / "functions" / "venv" / "bin" / "python"
    started = time.perf_counter()
    subprocess.run([str(python), "-c", statement], cwd=ROOT / "functions", check=True, env=_plain_env())  # noqa: S603
    return time.perf_counter() - started


def _plain_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_EMULATOR_HOST")}
    env["GCLOUD_PROJECT"] = emu.PROJECT
    return env


def bench_cold_start() -> dict[str, Any]:
    statements = {
        "functions_module": "import main",
        "sdk_packages": "import firebase_functions, firebase_admin",
        "sdk_with_trigger_modules": "import firebase_admin; from firebase_functions import https_fn, firestore_fn",
    }
    samples: dict[str, list[float]] = {name: [] for name in statements}
    for statement in statements.values():
        cold_import(statement)  # page cache and .pyc files warm; the process stays fresh each time
    for _ in range(COLD_RUNS):
        for name, statement in statements.items():
            samples[name].append(cold_import(statement))
    medians = {name: round(statistics.median(values) * 1000, 1) for name, values in samples.items()}
    return {
        "median_ms": medians,
        "ratio_vs_sdk_packages": round(medians["functions_module"] / medians["sdk_packages"], 2),
        "ratio_vs_sdk_with_trigger_modules": round(
            medians["functions_module"] / medians["sdk_with_trigger_modules"], 2
        ),
        "runs": COLD_RUNS,
        "target_ratio": 1.2,
    }


def bench_tokens() -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    secret = "bench-hmac-secret-0123456789abcdef0123"  # noqa: S105 - a throwaway key for timing
    providers = {
        "jitsi": (video_config(provider="jitsi", domain="meet.example.test", app_id="app"), secret),
        "jaas": (video_config(provider="jaas", app_id="vpaas-magic-cookie-1", key_id="k1"), rsa_pem),
        "livekit": (video_config(provider="livekit", domain="lk.example.test", app_id="APIkey"), secret),
    }
    now = int(time.time())
    grant = Grant(role="guest", room_name="r" * 32, issued_at=now, not_before=now - 10, expires_at=now + 3600)
    auth_claims = {"name": "Pat"}
    results: dict[str, Any] = {}
    for name, (config, key) in providers.items():
        settings = build_settings(config, key)
        who = participant_for(grant, auth_claims, None, config)
        claims = provider_of(config).claims(grant, who, config)
        headers = {"typ": "JWT"} | ({"kid": "vpaas-magic-cookie-1/k1"} if name == "jaas" else {})
        algorithm = settings.signing_key.algorithm

        def ours(settings: Any = settings, who: Any = who) -> None:
            issue_token(grant, who, settings)

        def floor(
            claims: Any = claims, headers: Any = headers, key: Any = settings.signing_key.key, alg: str = algorithm
        ) -> None:
            jwt.encode(claims, key, algorithm=alg, headers=headers)

        number = 2000 if algorithm == "HS256" else 200
        # Interleaved repeats, best of each: background load on the 2 cores hits both alike.
        ours_best = floor_best = float("inf")
        for _ in range(7):
            ours_best = min(ours_best, timeit.timeit(ours, number=number))
            floor_best = min(floor_best, timeit.timeit(floor, number=number))
        ours_rate, floor_rate = number / ours_best, number / floor_best
        results[name] = {
            "tokens_per_s": round(ours_rate),
            "pyjwt_encode_per_s": round(floor_rate),
            "ratio": round(ours_rate / floor_rate, 2),
        }
    results["target_ratio_hs256"] = 0.5
    return results


def bench_operations(db: Any, doctor: emu.User, patient: emu.User) -> dict[str, Any]:
    """Firestore document reads and writes per join and per trigger event, counted at the RPC layer."""
    client = emu.admin_db()
    counter = emu.OpCounter(client)
    config = demo_config()
    settings = build_settings(config, emu.local_signing_key())

    emu.set_background_triggers(enabled=False)
    try:
        ref = client.collection("appointments").document("bench-ops")
        before = emu.video_appointment(doctor.uid, patient.uid, status="pending")
        ref.set(before)
        after = before | {"status": "confirmed"}
        written = ref.update({"status": "confirmed"})

        # As the trigger runs it: the event carries when `after` was written.
        counter.reset()
        apply_room_lifecycle(client, "bench-ops", before, after, room_maker(lambda: config), written.update_time)
        confirmation = {"reads": counter.reads, "writes": counter.writes}

        # The same confirming event delivered again (at-least-once delivery, or a retry): its
        # conditional write is refused (not counted: it changes nothing), the transaction reads once.
        counter.reset()
        apply_room_lifecycle(client, "bench-ops", before, after, room_maker(lambda: config), written.update_time)
        redelivered = {"reads": counter.reads, "writes": counter.writes, "refused_writes": counter.refused}

        # A stale event (the document was written again since): the transactional fallback.
        stale = client.collection("appointments").document("bench-ops-stale")
        stale_written = stale.set(after)
        stale.update({"endTime": after["endTime"] + dt.timedelta(minutes=5)})
        counter.reset()
        apply_room_lifecycle(
            client, "bench-ops-stale", before, after, room_maker(lambda: config), stale_written.update_time
        )
        confirmation_stale = {"reads": counter.reads, "writes": counter.writes}

        with_room = ref.get().to_dict()
        counter.reset()
        apply_room_lifecycle(client, "bench-ops", after, with_room, room_maker(lambda: config))
        own_write = {"reads": counter.reads, "writes": counter.writes}

        # An update that changes nothing the room depends on (a moved visit is a new meeting, so not times).
        moved = with_room | {"notes": "bring the results"}
        counter.reset()
        apply_room_lifecycle(client, "bench-ops", with_room, moved, room_maker(lambda: config))
        irrelevant = {"reads": counter.reads, "writes": counter.writes}

        # In process, with the session and App Check seams open: only Firestore is counted here.
        policy = gate.Policy(
            settings=lambda: settings,
            session_check=lambda: lambda: True,
            app_check_passes=lambda: True,
            limiter=RateLimiter(10**6),
        )

        def counted_join(uid: str, claims: dict[str, Any]) -> dict[str, int]:
            counter.reset()
            with contextlib.suppress(VideoError):  # refusals are expected for some callers; only cost counts
                join.get_join_token(
                    client,
                    caller=gate.Caller(uid, claims),
                    data={"appointmentId": "bench-ops"},
                    policy=policy,
                    now=int(time.time()),
                )
            return {"reads": counter.reads, "writes": counter.writes}

        # The doctor first: with the waiting room (host) the first grant also stamps doctorJoinedAt.
        granted_doctor_first = counted_join(doctor.uid, {"role": "doctor"})
        granted_doctor = counted_join(doctor.uid, {"role": "doctor"})
        granted = counted_join(patient.uid, {})
        refused = counted_join("someone-else", {})
    finally:
        emu.set_background_triggers(enabled=True)
    return {
        "per_join_granted": granted,
        "per_join_granted_doctor": granted_doctor,
        "per_join_granted_doctor_first": granted_doctor_first,
        "per_join_refused": refused,
        "per_confirmation": confirmation,
        "per_confirmation_redelivered": redelivered,
        "per_confirmation_stale_event": confirmation_stale,
        "per_trigger_own_write": own_write,
        "per_irrelevant_update": irrelevant,
        "targets": {"join": {"reads": 1, "writes": 1}, "confirmation": {"writes": 1}, "irrelevant": {"writes": 0}},
    }


ENABLEX_JOINS = int(os.environ.get("BENCH_ENABLEX_JOINS", "200"))


def bench_enablex_token_call(patient: emu.User, doctor: emu.User) -> dict[str, Any]:
    """What EnableX's token request adds to a join: the patient's join through the real use case (in process,
    against the Firestore emulator) on a jitsi deployment, which signs its token, and on an enablex one, which
    asks EnableX's server API (the loopback stand-in of tests/standins.py) for it; interleaved, so load on the
    two cores hits both alike. Then the call alone, and a join whose token call EnableX does not answer."""
    from standins import EnableX, serve

    from telehealth.providers import enablex

    client = emu.admin_db()
    room_id, app_key = "5f0c1e2d3b4a596877665544", "bench-enablex-app-key-0123456789abcdef"
    video = {"roomName": "x" * 32, "providerRoomId": room_id, "doctorJoinedAt": emu.utc()}
    client.collection("appointments").document("bench-enablex").set(
        emu.video_appointment(doctor.uid, patient.uid, video=video)
    )
    EnableX.reset("bench-enablex-app", app_key)
    EnableX.rooms[room_id] = enablex.room_body("x" * 32, max_guests=1)  # VIDEO_MAX_GUESTS default
    with serve(EnableX) as url:
        deployments = {
            "jitsi": build_settings(demo_config(), "bench-hmac-secret-0123456789abcdef0123"),
            "enablex": build_settings(
                video_config(provider="enablex", app_id="bench-enablex-app", server_api=url), app_key
            ),
        }

        def one_join(settings: Any) -> float:
            policy = gate.Policy(
                settings=lambda: settings,
                session_check=lambda: lambda: True,
                app_check_passes=lambda: True,
                limiter=RateLimiter(10**6),
            )
            started = time.perf_counter()
            join.get_join_token(
                client,
                caller=gate.Caller(patient.uid, {}),
                data={"appointmentId": "bench-enablex"},
                policy=policy,
                now=int(time.time()),
            )
            return time.perf_counter() - started

        samples: dict[str, list[float]] = {"jitsi": [], "enablex": []}
        for name in samples:  # warm: connections, caches, the first audit writes
            one_join(deployments[name])
        for _ in range(ENABLEX_JOINS):
            for name, settings in deployments.items():
                samples[name].append(one_join(settings))
        now = int(time.time())
        grant = Grant("guest", "x" * 32, now, now - 10, now + 600, provider_room_id=room_id)
        who = participant_for(grant, {"name": "Pat"}, None, deployments["enablex"].config)
        call_alone = []
        for _ in range(ENABLEX_JOINS):
            started = time.perf_counter()
            enablex.request_token(grant, who, deployments["enablex"])
            call_alone.append(time.perf_counter() - started)
        EnableX.token_delay = enablex.TOKEN_TIMEOUT_SECONDS + 1.0
        started = time.perf_counter()
        try:
            one_join(deployments["enablex"])
            unanswered = "answered"
        except VideoError as error:
            unanswered = type(error).__name__
        unanswered_s = round(time.perf_counter() - started, 2)
        EnableX.token_delay = 0.0
    jitsi_ms, enablex_ms = summary(samples["jitsi"]), summary(samples["enablex"])
    return {
        "joins": ENABLEX_JOINS,
        "join_jitsi_ms": jitsi_ms,
        "join_enablex_ms": enablex_ms,
        "added_p50_ms": round(enablex_ms["p50"] - jitsi_ms["p50"], 2),
        "token_call_ms": summary(call_alone),
        "unanswered": {"outcome": unanswered, "seconds": unanswered_s, "deadline_s": enablex.TOKEN_TIMEOUT_SECONDS},
    }


def enablex_section(results: dict[str, Any]) -> str:
    """docs/benchmarks.md's section on EnableX's token request (one HTTP request on every join's path)."""
    found = results.get("enablex_token_call")
    if not found:
        return ""
    jitsi, enablex, alone, unanswered = (
        found["join_jitsi_ms"],
        found["join_enablex_ms"],
        found["token_call_ms"],
        found["unanswered"],
    )
    return (
        "\n## EnableX: the token request on each join\n\n"
        "An EnableX deployment asks EnableX's server API for every join's token (`POST "
        "/video/v1/rooms/<room>/tokens`) where the other providers sign one locally. Measured in process, "
        f"through the real join use case against the Firestore emulator, {found['joins']} joins each, "
        "interleaved, with EnableX's API a loopback stand-in:\n\n"
        "| | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- |\n"
        f"| a patient's join, jitsi (a local signature) | {jitsi['p50']} | {jitsi['p95']} | {jitsi['p99']} |\n"
        f"| the same join, enablex (the token call) | {enablex['p50']} | {enablex['p95']} | {enablex['p99']} |\n"
        f"| the token call alone | {alone['p50']} | {alone['p95']} | {alone['p99']} |\n\n"
        f"The call itself takes {alone['p50']} ms at the median ({alone['p95']} ms at p95) over loopback, and moves "
        f"the join's median by {found['added_p50_ms']} ms; the joins' tails are the Firestore emulator's on a "
        "shared machine, larger than the call, so compare the call's own figures. A deployment adds its "
        "network round trip to EnableX's API on top (not measurable offline). A token call EnableX does not "
        f"answer ends the join after {unanswered['seconds']} s "
        f"(the {unanswered['deadline_s']}-second deadline) with `{unanswered['outcome']}` (`unavailable` to the "
        "client, which calls again).\n"
    )


HOSTILE_CALLS = 1000


def bench_hostile(doctor: emu.User, patient: emu.User) -> dict[str, Any]:
    """Firestore reads and writes per 1,000 hostile calls, through the real join use case, at the RPC layer.

    All calls of a scenario land in one minute on one instance (the worst case for the per-instance
    limit is max_instances times the figures of the one-account scenarios).
    """
    client = emu.admin_db()
    client.collection("appointments").document("bench-hostile").set(
        emu.video_appointment(doctor.uid, patient.uid, video={"roomName": "h" * 32, "doctorJoinedAt": emu.utc()})
    )
    settings = build_settings(demo_config(), emu.local_signing_key())
    counter = emu.OpCounter(client)
    now = int(time.time())

    def run(calls: list[tuple[gate.Caller | None, Any]]) -> dict[str, int]:
        policy = gate.Policy(
            settings=lambda: settings,
            session_check=lambda: lambda: True,
            app_check_passes=lambda: True,
            limiter=RateLimiter(20),
        )
        counter.reset()
        for caller, data in calls:
            with contextlib.suppress(VideoError):
                join.get_join_token(client, caller=caller, data=data, policy=policy, now=now)
        return {"reads": counter.reads, "writes": counter.writes}

    looping = gate.Caller(patient.uid, {})
    scenarios = {
        "signed out, made-up ids": [(None, {"appointmentId": f"made-up-{n}"}) for n in range(HOSTILE_CALLS)],
        "one account looping on its visit": [(looping, {"appointmentId": "bench-hostile"})] * HOSTILE_CALLS,
        "one account, malformed ids": [(looping, {"appointmentId": f"x/{n}"}) for n in range(HOSTILE_CALLS)],
        "1,000 accounts probing one id each": [
            (gate.Caller(f"prober-{n}", {}), {"appointmentId": f"probe-{n}"}) for n in range(HOSTILE_CALLS)
        ],
    }
    result = {name: run(calls) for name, calls in scenarios.items()}
    result["normal join (one call)"] = run([(looping, {"appointmentId": "bench-hostile"})])
    return result


def bench_memory() -> dict[str, Any]:
    """Resident memory of the Python function workers in the emulator's process group."""
    pgid = int(os.environ["EMULATOR_PGID"])
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) != pgid or "functions-framework" not in cmdline:
            continue
        if not cmdline.split()[0].endswith("python3"):
            continue
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        environ = (entry / "environ").read_bytes().split(b"\0")
        target = next(
            (item.split(b"=", 1)[1].decode() for item in environ if item.startswith(b"FUNCTION_TARGET=")), "?"
        )
        workers.append((target, round(rss_kb / 1024, 1)))
    ours = [rss for target, rss in workers if not target.startswith("bench_")]
    return {
        "workers": sorted(workers),
        "ours_max_mib": max(ours, default=0.0),
        "ours_total_mib": round(sum(ours), 1),
        "all_total_mib": round(sum(rss for _, rss in workers), 1),
    }


def table(results: dict[str, Any]) -> str:
    rt, tr, cold, tok, ops, mem = (
        results["round_trip"],
        results["trigger"],
        results["cold_start"],
        results["tokens"],
        results["operations"],
        results["memory"],
    )
    rows = [
        (
            "get_join_token round trip p50/p95/p99 (ms)",
            "{p50} / {p95} / {p99}".format(**rt["get_join_token_ms"]),
            "no-op callable {p50} / {p95} / {p99}".format(**rt["noop_callable_ms"]),
            f"{rt['ratio_p50']}x (target <= 1.3x)",
        ),
        (
            "",
            "",
            "1 read + 1 write callable {p50} / {p95} / {p99}".format(**rt["read_write_callable_ms"]),
            f"{rt['ratio_p50_vs_read_write']}x",
        ),
        (
            "confirm -> room visible p50/p95 (ms)",
            "{p50} / {p95}".format(**tr["confirm_to_room_ms"]),
            "no-op trigger write {p50} / {p95}".format(**tr["noop_trigger_write_ms"]),
            f"{tr['ratio_p50']}x (target <= 1.3x)",
        ),
        (
            "cold import (median ms)",
            f"{cold['median_ms']['functions_module']}",
            f"firebase_functions+firebase_admin {cold['median_ms']['sdk_packages']}; "
            f"+https_fn/firestore_fn {cold['median_ms']['sdk_with_trigger_modules']}",
            f"{cold['ratio_vs_sdk_packages']}x / {cold['ratio_vs_sdk_with_trigger_modules']}x (target <= 1.2x)",
        ),
    ]
    for name in ("jitsi", "jaas", "livekit"):
        rows.append(
            (
                f"tokens/s {name}",
                str(tok[name]["tokens_per_s"]),
                f"PyJWT encode {tok[name]['pyjwt_encode_per_s']}",
                f"{tok[name]['ratio']}x (target >= 0.5x HS256)",
            )
        )
    for key, label in (
        ("per_join_granted", "join (granted)"),
        ("per_join_granted_doctor_first", "doctor's first join (+ directory entry, + doctorJoinedAt stamp)"),
        ("per_join_granted_doctor", "doctor's later joins (+ directory entry)"),
        ("per_join_refused", "join (refused)"),
        ("per_confirmation", "confirmation"),
        ("per_confirmation_redelivered", "re-delivered confirming event"),
        ("per_confirmation_stale_event", "confirmation, stale event (transaction)"),
        ("per_trigger_own_write", "trigger's own write event"),
        ("per_irrelevant_update", "irrelevant update"),
    ):
        rows.append(
            (
                f"Firestore ops per {label}",
                f"{ops[key]['reads']} read(s), {ops[key]['writes']} write(s)"
                + (f", {ops[key]['refused_writes']} refused" if "refused_writes" in ops[key] else ""),
                "",
                "",
            )
        )
    for name, ops_ in results["hostile"].items():
        per = "" if name.startswith("normal") else f" per {HOSTILE_CALLS} calls"
        rows.append((f"Firestore ops, {name}{per}", f"{ops_['reads']} R, {ops_['writes']} W", "", ""))
    load = results["load"]
    rows += load_bench.table_rows(load)
    cold = load["cold_start"]
    rows.append(
        (
            "cold: start -> first answer (ms)",
            str(cold["join_ms"]),
            f"no-op {cold['noop_ms']}",
            f"{cold['ratio']}x (<= 1.15)",
        )
    )
    ours_workers = ", ".join(f"{target} {rss}" for target, rss in mem["workers"] if not target.startswith("bench_"))
    rows.append(("warm worker RSS (MiB)", ours_workers, f"all workers incl. bench: {mem['all_total_mib']}", ""))
    width = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("measure", "ours", "floor", "ratio")
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, width, strict=True))]
    lines.append("-+-".join("-" * w for w in width))
    lines += [" | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) for row in rows]
    return "\n".join(lines)


def main() -> int:
    emu.reset()
    db = emu.admin_db()
    doctor = emu.make_doctor("bench-doctor@test.example", "bench-pass-1", "Dr. Bench")
    patient = emu.sign_up("bench-patient@test.example", "bench-pass-1")
    results: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cores": os.cpu_count()}
    results["round_trip"] = bench_round_trips(db, doctor)
    results["trigger"] = bench_triggers(db, doctor, patient)
    results["memory"] = bench_memory()
    results["operations"] = bench_operations(db, doctor, patient)
    results["hostile"] = bench_hostile(doctor, patient)
    results["tokens"] = bench_tokens()
    results["cold_start"] = bench_cold_start()
    results["enablex_token_call"] = bench_enablex_token_call(patient, doctor)
    # Last: it resets the emulators and serves the functions with gunicorn, as deployed.
    results["load"] = load_bench.bench_load()
    ARTIFACTS.mkdir(exist_ok=True)  # a fresh clone has none, and the plot is saved first
    load_bench.plot(results["load"], ARTIFACTS / "load.png")
    out = ARTIFACTS / "bench.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    figures = table(results)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(report(results, figures))
    print(figures)
    print(f"\n(written to {REPORT.relative_to(ROOT)} and {out.relative_to(ROOT)}; plot: artifacts/load.png)")
    return 0


def report(results: dict[str, Any], figures: str) -> str:
    """docs/benchmarks.md: the figures of the last run, generated (so no hand-kept copy goes stale)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        "# Benchmarks\n\n"
        "<!-- Generated by `make bench` (bench/bench.py); do not edit by hand, run it again. -->\n\n"
        f"Last run: {results['when']} on {results['cores']} cores, commit `{commit or 'unknown'}`, against the "
        "local emulator suite (firebase.bench.json). Figures, not pass/fail: a shared or loaded machine makes "
        "them slower; the ratios to the floors (a no-op callable and trigger on the same suite) travel better "
        "than the absolute times.\n\n"
        f"```\n{figures}\n```\n\n"
        f"{enablex_section(results)}\n"
        f"{load_bench.markdown(results['load'])}\n"
        "Raw figures: `artifacts/bench.json`; load plot: `artifacts/load.png` (both git-ignored).\n\n"
        "## Running it\n\n"
        "`make bench` starts the emulators with `firebase.bench.json` (which adds the floor functions of "
        "`bench/functions/`, never deployed), prints the table above and writes this page. Sizes: `BENCH_CALLS` "
        "(300), `BENCH_TRIGGERS` (60), `BENCH_COLD_RUNS` (10), `LOAD_LEVELS` (`1,8,32,80`), `LOAD_SECONDS` "
        f"({load_bench.DEFAULT_SECONDS:g}, per server and level), `LOAD_ROUNDS` ({load_bench.DEFAULT_ROUNDS} slots "
        "per server and level), `LOAD_WARM_ROUNDS` (10 turns of 1 s per server before the first level), "
        "`LOAD_THREADS` (8), `LOAD_COLD_RUNS` (3). "
        "On a machine shared with other work, run it more than once: the rates per slot above show how much the "
        "machine moved during this run.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
