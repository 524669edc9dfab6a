"""The provider matrix: the real callable on the emulators once per provider, each with its own params and key.

For each provider a functions folder is laid out in .cache/matrix/functions (links to the real code
and venv, plus that provider's .env and .secret.local, with a key made here), the suite is started on
it with firebase.matrix.json, and tests/matrix runs against it. Nothing of the developer's own
functions/.env or .secret.local is read or changed. Exits non-zero if any provider's run failed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / ".cache" / "matrix"
SOURCE = MATRIX / "functions"

# The providers' server APIs (LiveKit's RoomService, Prosody's end-meeting and its key server) are
# loopback stand-ins that tests/matrix starts here (tests/standins.py); ending meetings is checked there.
LOOPBACK_API = "http://127.0.0.1:7881"
JITSI_END_KEY_ID = "telehealth/matrix-end"
PROVIDERS: dict[str, dict[str, str]] = {
    "jitsi": {
        "VIDEO_DOMAIN": "meet.example.test",
        "VIDEO_APP_ID": "telehealth-demo",
        "VIDEO_SERVER_API_URL": LOOPBACK_API,
        "VIDEO_JITSI_END_KEY_ID": JITSI_END_KEY_ID,
    },
    "jaas": {"VIDEO_APP_ID": "vpaas-magic-cookie-0123456789abcdef", "VIDEO_KEY_ID": "matrixkey"},
    "livekit": {"VIDEO_DOMAIN": "lk.example.test", "VIDEO_APP_ID": "APImatrix", "VIDEO_SERVER_API_URL": LOOPBACK_API},
    "twilio": {
        "VIDEO_DOMAIN": "visit.example.test",
        "VIDEO_APP_ID": "SK" + "0123456789abcdef" * 2,
        "VIDEO_ACCOUNT_ID": "AC" + "fedcba9876543210" * 2,
    },
    "zoom": {"VIDEO_DOMAIN": "visit.example.test", "VIDEO_APP_ID": "zoomMatrixKey"},
}


# Extra runs for the waiting-room modes (the provider runs use the default, host), on jitsi without
# end-meeting (no stand-in listens in those runs).
MODES: dict[str, dict[str, str]] = {
    "admit": {
        "VIDEO_WAITING_ROOM": "admit",
        "VIDEO_DOCTOR_FEATURES": "recording",
        "VIDEO_JITSI_END_KEY_ID": "",
        "VIDEO_SERVER_API_URL": "",
    },
    "off": {"VIDEO_WAITING_ROOM": "off", "VIDEO_JITSI_END_KEY_ID": "", "VIDEO_SERVER_API_URL": ""},
}


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
    return rsa_pem()[0] if provider == "jaas" else secrets.token_urlsafe(48)


def escaped(value: str) -> str:
    """A value for a double-quoted .secret.local line (a PEM's newlines as \\n)."""
    return value.replace("\n", "\\n")


def lay_out(provider: str, extra: dict[str, str]) -> Path:
    """The functions folder for one run; returns the file holding its key (for the tests)."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    SOURCE.mkdir(parents=True)
    for name in ("main.py", "telehealth", "requirements.txt", "venv"):
        (SOURCE / name).symlink_to(ROOT / "functions" / name)
    chosen = {"VIDEO_PROVIDER": provider, **PROVIDERS[provider], **extra}
    params = {name: value for name, value in chosen.items() if value}  # an empty value: the param's default
    (SOURCE / ".env").write_text("".join(f"{name}={value}\n" for name, value in params.items()))
    key = signing_key(provider)
    end_key, end_public = rsa_pem() if params.get("VIDEO_JITSI_END_KEY_ID") else ("none", "")
    old_umask = os.umask(0o077)
    try:
        webhook_secret = secrets.token_urlsafe(32)
        (SOURCE / ".secret.local").write_text(
            f'VIDEO_SIGNING_KEY="{escaped(key)}"\nVIDEO_WEBHOOK_SECRET={webhook_secret}\n'
            f'VIDEO_JITSI_END_KEY="{escaped(end_key)}"\n'
        )
        (MATRIX / "webhook-secret").write_text(webhook_secret)
        (MATRIX / "end-key.pub").write_text(end_public)
        key_file = MATRIX / "key"
        key_file.write_text(key)
    finally:
        os.umask(old_umask)
    return key_file


def main(argv: list[str]) -> int:
    """Runs named on the command line (providers, or ``admit`` / ``off``), else all of them."""
    chosen = argv or [*PROVIDERS, *MODES]
    failed = []
    for run in chosen:
        provider = run if run in PROVIDERS else "jitsi"
        key_file = lay_out(provider, MODES.get(run, {}))
        print(f"provider-matrix: {run}", file=sys.stderr, flush=True)
        env = {
            **os.environ,
            "MATRIX_PROVIDER": provider,
            "MATRIX_WAITING_ROOM": MODES.get(run, {}).get("VIDEO_WAITING_ROOM", "host"),
            "MATRIX_KEY_FILE": str(key_file),
        }
        command = [sys.executable, str(ROOT / "scripts" / "with_emulators.py"), "--config", "firebase.matrix.json"]
        command += [
            str(ROOT / ".venv" / "bin" / "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "matrix"),
        ]
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
            failed.append(run)
    shutil.rmtree(MATRIX, ignore_errors=True)
    print(f"provider-matrix: {len(chosen) - len(failed)} of {len(chosen)} runs passed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
