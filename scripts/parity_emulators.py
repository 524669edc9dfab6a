"""Twilio and Zoom deployments on the emulators: tests/emulator/test_parity_providers.py once per provider.

For each provider a functions folder is laid out in .cache/parity/functions (links to the real code and
venv, that provider's .env and .secret.local with secrets made here), a firebase config for it is written to
.cache/firebase.parity.json on ports of its own (auth 9499, firestore 8480, functions 5401, hub 4440,
logging 4540, so it can run beside the default suite and the matrix), and the suite is started on it.
The providers' REST APIs are loopback stand-ins the tests start (tests/standins.py). Nothing of the
developer's functions/.env or .secret.local is read or changed. Exits non-zero if a run failed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARITY = ROOT / ".cache" / "parity"
SOURCE = PARITY / "functions"
CONFIG = ROOT / ".cache" / "firebase.parity.json"
# auth's 9499 is also the Cloud Tasks emulator's default: a default suite running beside this one holds it,
# so PARITY_AUTH_PORT can move it.
PORTS = {
    "auth": int(os.environ.get("PARITY_AUTH_PORT", "9499")),
    "firestore": 8480,
    "functions": 5401,
    "hub": 4440,
    "logging": 4540,
}
# The Functions emulator also starts Eventarc and Cloud Tasks emulators, by default on 9299 and 9499: both
# moved next to logging, so they collide neither with our auth port nor with a default suite's.
HELPERS = {"eventarc": 4541, "tasks": 4542}
LOOPBACK_API = "http://127.0.0.1:7911"
PROJECT, REGION = "demo-telehealth", "us-central1"
CALLBACK_URL = f"http://127.0.0.1:{PORTS['functions']}/{PROJECT}/{REGION}/video_events/twilio"
TWILIO_API_KEY = "SK" + "0123456789abcdef" * 2
TWILIO_ACCOUNT = "AC" + "fedcba9876543210" * 2
ZOOM_API_KEY = "zoomParityApiKey"
PROVIDERS: dict[str, dict[str, str]] = {
    "twilio": {
        "VIDEO_DOMAIN": "visit.example.test",
        "VIDEO_APP_ID": TWILIO_API_KEY,
        "VIDEO_ACCOUNT_ID": TWILIO_ACCOUNT,
        "VIDEO_TWILIO_CALLBACK_URL": CALLBACK_URL,
        "VIDEO_SERVER_API_URL": LOOPBACK_API,
    },
    "zoom": {
        "VIDEO_DOMAIN": "visit.example.test",
        "VIDEO_APP_ID": "zoomParitySdkKey",
        "VIDEO_ZOOM_API_KEY": ZOOM_API_KEY,
        "VIDEO_SERVER_API_URL": LOOPBACK_API,
    },
}


def write_config() -> None:
    """The firebase config for these runs, beside copies of the rules and indexes (the CLI reads nothing outside
    the config's own folder, .cache)."""
    PARITY.mkdir(parents=True, exist_ok=True)
    for name in ("firestore.rules", "firestore.indexes.json"):
        shutil.copyfile(ROOT / name, PARITY / name)
    ports = {**PORTS, **HELPERS}
    emulators: dict[str, object] = {name: {"host": "127.0.0.1", "port": port} for name, port in ports.items()}
    config = {
        "functions": [
            {
                "source": "parity/functions",
                "codebase": "default",
                "runtime": "python311",
                "ignore": ["venv", ".git", "__pycache__", "*.local", ".mypy_cache", ".ruff_cache"],
            }
        ],
        "firestore": {"rules": "parity/firestore.rules", "indexes": "parity/firestore.indexes.json"},
        "emulators": {"singleProjectMode": True, **emulators, "ui": {"enabled": False}},
    }
    CONFIG.write_text(json.dumps(config, indent=2))


def lay_out(provider: str) -> dict[str, str]:
    """The functions folder for one run; returns the secrets it holds (for the tests, through a 0600 file)."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    write_config()
    SOURCE.mkdir(parents=True)
    for name in ("main.py", "telehealth", "requirements.txt", "venv"):
        (SOURCE / name).symlink_to(ROOT / "functions" / name)
    params = {"VIDEO_PROVIDER": provider, **PROVIDERS[provider]}
    (SOURCE / ".env").write_text("".join(f"{name}={value}\n" for name, value in params.items()))
    chosen = {
        "VIDEO_SIGNING_KEY": secrets.token_urlsafe(48),
        # Twilio's Auth Token is 32 hex digits; Zoom's Secret Token 22 characters.
        "VIDEO_WEBHOOK_SECRET": secrets.token_hex(16) if provider == "twilio" else secrets.token_urlsafe(16),
        "VIDEO_JITSI_END_KEY": "none",
        "VIDEO_ZOOM_API_SECRET": secrets.token_urlsafe(27) if provider == "zoom" else "none",
        "VIDEO_EGRESS_GCP_CREDENTIALS": "none",
    }
    old_umask = os.umask(0o077)
    try:
        (SOURCE / ".secret.local").write_text("".join(f"{name}={value}\n" for name, value in chosen.items()))
        (PARITY / "secrets.json").write_text(json.dumps(chosen))
    finally:
        os.umask(old_umask)
    return chosen


def main(argv: list[str]) -> int:
    """The runs named on the command line (twilio, zoom), else both."""
    chosen = argv or list(PROVIDERS)
    failed = []
    for provider in chosen:
        lay_out(provider)
        print(f"parity-emulators: {provider}", file=sys.stderr, flush=True)
        env = {**os.environ, "PARITY_PROVIDER": provider, "PARITY_SECRETS": str(PARITY / "secrets.json")}
        command = [
            sys.executable,
            str(ROOT / "scripts" / "with_emulators.py"),
            "--config",
            str(CONFIG.relative_to(ROOT)),
        ]
        command += [str(ROOT / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"]
        command += [str(ROOT / "tests" / "emulator" / "test_parity_providers.py")]
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
            failed.append(provider)
    shutil.rmtree(PARITY, ignore_errors=True)
    print(f"parity-emulators: {len(chosen) - len(failed)} of {len(chosen)} runs passed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
