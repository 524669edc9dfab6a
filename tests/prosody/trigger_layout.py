"""Lays out the emulators' run for the tier's trigger test (``tests/prosody/run --trigger``).

    trigger_layout.py <dir> <prosody http port>

Writes, all under ``<dir>`` (inside the git-ignored .cache): a functions folder (links to the real code and
venv, a jitsi ``.env`` pointing ``VIDEO_SERVER_API_URL`` at the tier's Prosody, a ``.secret.local`` with a fresh
HMAC secret and end-meeting key), a copy of firebase.matrix.json on the tier's own emulator ports (auth 9299,
firestore 8070, functions 5201, hub 4420, logging 4520, tasks 4521, eventarc 4522: the other suites' configs
name theirs), the rules and indexes it names, and ``secrets.json`` (mode 0600) for the tests. Nothing in
the repository changes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent.parent
PORTS = {
    "auth": 9299,
    "firestore": 8070,
    "functions": 5201,
    "hub": 4420,
    "logging": 4520,
    "tasks": 4521,
    "eventarc": 4522,
}
KID = "telehealth/end-meeting-trigger"
DOMAIN = "meet.example.test"
APP_ID = "telehealth-tier"


def escaped(value: str) -> str:
    return value.replace("\n", "\\n")


def lay_out(where: Path, prosody_port: int) -> None:
    shutil.rmtree(where, ignore_errors=True)
    functions = where / "functions"
    functions.mkdir(parents=True)
    for name in ("main.py", "telehealth", "requirements.txt", "venv"):
        (functions / name).symlink_to(ROOT / "functions" / name)
    params = {
        "VIDEO_PROVIDER": "jitsi",
        "VIDEO_DOMAIN": DOMAIN,
        "VIDEO_APP_ID": APP_ID,
        "VIDEO_SERVER_API_URL": f"http://127.0.0.1:{prosody_port}",
        "VIDEO_JITSI_END_KEY_ID": KID,
        "VIDEO_WAITING_ROOM": "host",
    }
    (functions / ".env").write_text("".join(f"{name}={value}\n" for name, value in params.items()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    end_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    hmac_secret = secrets.token_urlsafe(48)
    old_umask = os.umask(0o077)
    try:
        (functions / ".secret.local").write_text(
            f"VIDEO_SIGNING_KEY={hmac_secret}\nVIDEO_WEBHOOK_SECRET={secrets.token_urlsafe(32)}\n"
            f'VIDEO_JITSI_END_KEY="{escaped(end_key)}"\nVIDEO_ZOOM_API_SECRET=none\n'
        )
        (where / "secrets.json").write_text(
            json.dumps({"app_secret": hmac_secret, "end_key_id": KID, "end_public_key": public})
        )
    finally:
        os.umask(old_umask)
    config = json.loads((ROOT / "firebase.matrix.json").read_text())
    config["functions"][0]["source"] = "functions"
    # The tier serves no page: without Hosting, no port of the matrix's own config is taken by it.
    config.pop("hosting", None)
    config["emulators"].pop("hosting", None)
    for name, spec in config["emulators"].items():
        if isinstance(spec, dict) and "port" in spec:
            # The tier's own ports; an emulator it has no port for is moved off the matrix's (both run at once).
            spec["port"] = PORTS.get(name, int(spec["port"]) + 137)
        if isinstance(spec, dict) and "websocketPort" in spec:
            spec["websocketPort"] = int(spec["websocketPort"]) + 137
    # Every file the config names beside it (a missing one fails the start: "File not found: storage.rules").
    for name in ("firestore.rules", "firestore.indexes.json", "storage.rules"):
        shutil.copy(ROOT / name, where / name)
    (where / "firebase.json").write_text(json.dumps(config, indent=2) + "\n")


if __name__ == "__main__":
    lay_out(Path(sys.argv[1]), int(sys.argv[2]))
