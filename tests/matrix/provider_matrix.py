"""The provider matrix: the real callable on the emulators once per provider, each with its own params and key.

`make provider-matrix` (part of `make test`). A functions folder is laid out in build/matrix-functions
(links to the real code and venv, plus one run's .env and .secret.local, with a key made here) and the
emulator suite is started on it once, with firebase.matrix.json. Inside that one suite each run (a provider,
or a waiting-room mode) rewrites the params and secrets, waits until the Functions emulator has reloaded
the functions from them (it watches its source folder and, on a change, loads the definitions again and
retires its workers, so the next request starts a worker with the new params and secrets), then runs
tests/matrix. Seven runs used to start seven suites (about 20 s of start-up each on two cores, plus the
stop). Nothing of the developer's own functions/.env or .secret.local is read or changed. Exits non-zero if
any run failed.

    tests/matrix/provider_matrix.py [RUN ...]     runs: the keys of RUNS below (default: all, in that order)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from loopback_tls import loopback_certificate  # tests/support, on PYTHONPATH

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / ".cache" / "matrix"
# Not under .cache: the Functions emulator's file watcher ignores every path with a dot-named part
# (firebase-tools createIgnoredFilter: /(^|[\/\\])\../), so it would never see a change there.
SOURCE = ROOT / "build" / "matrix-functions"
# The file whose in-place rewrite makes the emulator reload (.env is a dotfile: ignored by the watcher too).
RELOAD_MARK = SOURCE / "matrix-run.txt"
CONFIG = "firebase.matrix.json"


def free_port() -> int:
    """A loopback port nobody listens on now (the system's pick: a fixed one could be another job's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# The providers' server APIs (LiveKit's RoomService, Prosody's end-meeting and its key server) are
# loopback stand-ins that tests/matrix starts (tests/standins.py); ending meetings is checked there. The
# runner picks their port once and hands it to the tests (which import this module) in MATRIX_API_PORT.
os.environ.setdefault("MATRIX_API_PORT", str(free_port()))
LOOPBACK_API = f"http://127.0.0.1:{os.environ['MATRIX_API_PORT']}"
LOADED = "Loaded functions definitions from source"
LOAD_FAILED = "Failed to load function definition from source"
RELOAD_TIMEOUT = 120.0
JITSI_END_KEY_ID = "telehealth/matrix-end"
PROJECT, REGION = "demo-telehealth", "us-central1"
RECORDING_BUCKET = "demo-telehealth.appspot.com"
VONAGE_APPLICATION = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
ZOOM_API_KEY = "zoomMatrixApiKey"
# The HTTPS stand-in's certificate (Vonage's client speaks nothing else), and the bundle the functions are
# told to trust in the vonage run only (REQUESTS_CA_BUNDLE in that run's .env: the worker's requests reads it).
LOOPBACK_CERT, LOOPBACK_KEY = MATRIX / "loopback.crt", MATRIX / "loopback.key"
MARKER_HOST = "{functions}"  # replaced by the Functions emulator's host:port when a run is configured


@dataclass(frozen=True)
class Run:
    """One deployment of the matrix: its provider, params (an empty value: the param's default), the waiting
    room it runs in, and whether it creates rooms at the provider (its visits then wait for a provider room)."""

    provider: str
    params: dict[str, str]
    waiting_room: str = "host"
    creates_rooms: bool = False


JITSI = {
    "VIDEO_DOMAIN": "meet.example.test",
    "VIDEO_APP_ID": "telehealth-demo",
    "VIDEO_SERVER_API_URL": LOOPBACK_API,
    "VIDEO_JITSI_END_KEY_ID": JITSI_END_KEY_ID,
}
# Recordings are kept in the Storage emulator's bucket; JaaS's download link is a stand-in on the loopback port.
LIVEKIT = {
    "VIDEO_DOMAIN": "lk.example.test",
    "VIDEO_APP_ID": "APImatrix",
    "VIDEO_SERVER_API_URL": LOOPBACK_API,
    "VIDEO_RECORDING_BUCKET": RECORDING_BUCKET,
}
# Runs on jitsi without end-meeting (no stand-in listens in those runs).
PLAIN_JITSI = {**JITSI, "VIDEO_JITSI_END_KEY_ID": "", "VIDEO_SERVER_API_URL": ""}
RUNS: dict[str, Run] = {
    "jitsi": Run("jitsi", JITSI),
    "jaas": Run(
        "jaas",
        {
            "VIDEO_APP_ID": "vpaas-magic-cookie-0123456789abcdef",
            "VIDEO_KEY_ID": "matrixkey",
            "VIDEO_RECORDING_BUCKET": RECORDING_BUCKET,
            "VIDEO_RECORDING_DOWNLOAD_HOSTS": LOOPBACK_API.removeprefix("http://"),
        },
    ),
    "livekit": Run("livekit", LIVEKIT),
    # LiveKit with rooms created at assignment (CreateRoom at the loopback RoomService: test_provider_rooms).
    "livekit-rooms": Run("livekit", {**LIVEKIT, "VIDEO_LIVEKIT_CREATE_ROOMS": "true"}, creates_rooms=True),
    # Twilio and Zoom with their REST APIs at the loopback (meeting ends) and their webhooks verified
    # (status callbacks signed for this URL; Zoom's API key set): tests/matrix/test_parity_matrix.py.
    "twilio": Run(
        "twilio",
        {
            "VIDEO_DOMAIN": "visit.example.test",
            "VIDEO_APP_ID": "SK" + "0123456789abcdef" * 2,
            "VIDEO_ACCOUNT_ID": "AC" + "fedcba9876543210" * 2,
            "VIDEO_SERVER_API_URL": LOOPBACK_API,
            "VIDEO_TWILIO_CALLBACK_URL": f"http://{MARKER_HOST}/{PROJECT}/{REGION}/video_events/twilio",
        },
    ),
    "zoom": Run(
        "zoom",
        {
            "VIDEO_DOMAIN": "visit.example.test",
            "VIDEO_APP_ID": "zoomMatrixKey",
            "VIDEO_ZOOM_API_KEY": ZOOM_API_KEY,
            "VIDEO_SERVER_API_URL": LOOPBACK_API,
        },
    ),
    # Rooms created at the provider: the server APIs are loopback stand-ins (tests/matrix/test_provider_rooms).
    "enablex": Run(
        "enablex",
        {
            "VIDEO_DOMAIN": "visit.example.test",
            "VIDEO_APP_ID": "0123456789abcdef01234567",
            "VIDEO_SERVER_API_URL": LOOPBACK_API,
        },
        creates_rooms=True,
    ),
    "vonage": Run(
        "vonage",
        {
            "VIDEO_APP_ID": VONAGE_APPLICATION,
            "VIDEO_SERVER_API_URL": LOOPBACK_API.replace("http://", "https://"),
            "REQUESTS_CA_BUNDLE": str(LOOPBACK_CERT),
        },
        creates_rooms=True,
    ),
    # The waiting-room modes other than the default (host).
    "admit": Run(
        "jitsi",
        {
            **PLAIN_JITSI,
            "VIDEO_WAITING_ROOM": "admit",
            "VIDEO_DOCTOR_FEATURES": "recording,livestreaming,transcription",
        },
        waiting_room="admit",
    ),
    "off": Run("jitsi", {**PLAIN_JITSI, "VIDEO_WAITING_ROOM": "off"}, waiting_room="off"),
    # A deployment whose webhook secret is a placeholder: every webhook must fail closed (500), not verify
    # "Bearer none" (tests/matrix/test_webhooks_matrix.py). The secret goes to .secret.local, not .env.
    "weak-secret": Run(
        "jitsi", {**PLAIN_JITSI, "VIDEO_WAITING_ROOM": "off", "VIDEO_WEBHOOK_SECRET": "none"}, waiting_room="off"
    ),
}
RUNS_HELP = f"runs: {' '.join(RUNS)}"


def rsa_pem() -> tuple[str, str]:
    """A fresh 2048-bit RSA key: the private PEM and the public one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def signing_key(provider: str) -> str:
    """The run's signing key: an RSA key where the provider signs RS256 (JaaS, Vonage), else an HMAC secret."""
    return rsa_pem()[0] if provider in ("jaas", "vonage") else secrets.token_urlsafe(48)


def functions_host() -> str:
    """The Functions emulator's host:port: as the suite exports it, or (before it starts) from its config."""
    if "FUNCTIONS_EMULATOR_HOST" in os.environ:
        return os.environ["FUNCTIONS_EMULATOR_HOST"]
    from with_emulators import offset_config, suite_ports  # scripts/, on PYTHONPATH

    host, port = suite_ports(offset_config(CONFIG))["functions"]
    return f"{host}:{port}"


def escaped(value: str) -> str:
    """A value for a double-quoted .secret.local line (a PEM's newlines as \\n)."""
    return value.replace("\n", "\\n")


def lay_out() -> None:
    """The functions folder the suite serves: links to the real code and venv (params and secrets: configure)."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    SOURCE.mkdir(parents=True)
    MATRIX.mkdir(parents=True, exist_ok=True)
    for name in ("main.py", "telehealth", "requirements.txt", "venv"):
        (SOURCE / name).symlink_to(ROOT / "functions" / name)
    RELOAD_MARK.write_text("")


def configure(name: str) -> Path:
    """One run's params and secrets in the served folder; returns the file holding its key (for the tests).

    The Functions emulator's watcher ignores dotfiles (.env, .secret.local, .env.local), so the run's name is
    written last, in place, to RELOAD_MARK: that change makes the emulator load the definitions again. It
    rewrites .env.local with the defaults it resolved on each load; the previous run's copy is removed
    first, else its values (an empty VIDEO_SERVER_API_URL, say) would override this run's .env. The
    secrets the tests sign or check with are written beside the key, one file each (0600).
    """
    run = RUNS[name]
    chosen = {"VIDEO_PROVIDER": run.provider, **run.params}
    params = {key: value for key, value in chosen.items() if value}
    params = {
        key: value.replace(MARKER_HOST, functions_host()) if MARKER_HOST in value else value
        for key, value in params.items()
    }
    chosen_secret = params.pop("VIDEO_WEBHOOK_SECRET", "")
    key = signing_key(run.provider)
    end_key, end_public = rsa_pem() if params.get("VIDEO_JITSI_END_KEY_ID") else ("none", "")
    if "REQUESTS_CA_BUNDLE" in params:
        loopback_certificate(MATRIX, hours=2)
    old_umask = os.umask(0o077)
    try:
        written = {
            "VIDEO_SIGNING_KEY": key,
            "VIDEO_WEBHOOK_SECRET": chosen_secret or secrets.token_urlsafe(32),
            "VIDEO_JITSI_END_KEY": end_key,
            # Zoom's Video SDK API secret where its API key is set; every other run declares it unused.
            "VIDEO_ZOOM_API_SECRET": secrets.token_urlsafe(27) if params.get("VIDEO_ZOOM_API_KEY") else "none",
            "VIDEO_SMS_API_SECRET": "none",
            "VIDEO_EGRESS_GCP_CREDENTIALS": "none",
        }
        (SOURCE / ".secret.local").write_text("".join(f'{k}="{escaped(v)}"\n' for k, v in written.items()))
        (MATRIX / "webhook-secret").write_text(written["VIDEO_WEBHOOK_SECRET"])
        (MATRIX / "zoom-api-secret").write_text(written["VIDEO_ZOOM_API_SECRET"])
        (MATRIX / "end-key.pub").write_text(end_public)
        key_file = MATRIX / "key"
        key_file.write_text(key)
    finally:
        os.umask(old_umask)
    (SOURCE / ".env.local").unlink(missing_ok=True)
    (SOURCE / ".env").write_text("".join(f"{k}={value}\n" for k, value in params.items()))
    RELOAD_MARK.write_text(f"{name}\n")
    return key_file


def loads_so_far(log: Path) -> int:
    """How many times the Functions emulator has tried to load the definitions (start, then each reload)."""
    text = log.read_text(errors="replace")
    return text.count(LOADED) + text.count(LOAD_FAILED)


def wait_for_reload(log: Path, before: int, run: str) -> None:
    """Block until the emulator has loaded the definitions again after ``before`` attempts, and its log has
    been quiet for half a second (the triggers it registers after a changed definition are logged right
    after). A failed load (the discovery race, see scripts/with_emulators.py) is asked for again, twice."""
    deadline = time.monotonic() + RELOAD_TIMEOUT
    for _attempt in range(3):
        while loads_so_far(log) <= before or time.time() - log.stat().st_mtime < 0.5:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Functions emulator did not reload within {RELOAD_TIMEOUT:.0f} s; see {log}")
            time.sleep(0.1)
        if not log.read_text(errors="replace").rstrip().rsplit(LOADED, 1)[-1].count(LOAD_FAILED):
            return
        print(f"provider-matrix: the emulator failed to load the functions for {run}; asking again", file=sys.stderr)
        before = loads_so_far(log)
        RELOAD_MARK.write_text(f"{run} (again)\n")
    raise RuntimeError(f"the Functions emulator could not load the functions for {run}; see {log}")


def run_all(chosen: list[str]) -> int:
    """Inside the suite (EMULATOR_LOG set by scripts/with-emulators): each run against the same suite."""
    import emulator_api as emu  # tests/support, on PYTHONPATH inside the suite
    from with_emulators import discovery_turn  # scripts/, on PYTHONPATH too

    log = Path(os.environ["EMULATOR_LOG"])
    failed = []
    for n, run in enumerate(chosen):
        if n:
            # The last run's trigger runs finish under its own params; then this run's are loaded.
            emu.wait_for_quiet_triggers(quiet=1.0)
            started = time.monotonic()
            with discovery_turn():  # a reload is a discovery too (scripts/with_emulators.py)
                before = loads_so_far(log)
                key_file = configure(run)
                wait_for_reload(log, before, run)
            print(f"provider-matrix: {run} (reloaded in {time.monotonic() - started:.1f} s)", file=sys.stderr)
        else:
            key_file = MATRIX / "key"
            print(f"provider-matrix: {run}", file=sys.stderr, flush=True)
        env = {
            **os.environ,
            "MATRIX_PROVIDER": RUNS[run].provider,
            "MATRIX_WAITING_ROOM": RUNS[run].waiting_room,
            "MATRIX_CREATES_ROOMS": "1" if RUNS[run].creates_rooms else "",
            "MATRIX_KEY_FILE": str(key_file),
            "MATRIX_RUN": run,
        }
        pytest = str(ROOT / ".venv" / "bin" / "pytest")
        command = [pytest, "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "matrix")]
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:  # noqa: S603 - our pytest
            failed.append(run)
    print(f"provider-matrix: {len(chosen) - len(failed)} of {len(chosen)} runs passed", file=sys.stderr)
    if failed:
        print(f"provider-matrix: failed: {' '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    """Runs named on the command line (see RUNS), else all of them."""
    if argv[:1] == ["--inside"]:
        return run_all(argv[1:])
    chosen = argv or list(RUNS)
    unknown = [run for run in chosen if run not in RUNS]
    if unknown:
        print(f"provider-matrix: unknown run {' '.join(unknown)} ({RUNS_HELP})", file=sys.stderr)
        return 2
    lay_out()
    configure(chosen[0])  # the suite starts with the first run's params
    command = [sys.executable, str(ROOT / "scripts" / "with_emulators.py"), "--config", CONFIG]
    command += [sys.executable, str(Path(__file__).resolve()), "--inside", *chosen]
    try:
        return subprocess.run(command, cwd=ROOT, env=os.environ, check=False).returncode  # noqa: S603 - ours
    finally:
        shutil.rmtree(MATRIX, ignore_errors=True)
        shutil.rmtree(SOURCE, ignore_errors=True)
        with contextlib.suppress(OSError):
            SOURCE.parent.rmdir()  # build/, if nothing else is in it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
