"""What `make dev` runs inside the emulator suite: seed demo data, say what to do, follow the log until Ctrl-C.

The demo page is the Hosting emulator's (firebase.json: the site scripts/build-web puts in .cache/web/public).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import seed_demo

HOSTS = {
    "Auth": "FIREBASE_AUTH_EMULATOR_HOST",
    "Firestore": "FIRESTORE_EMULATOR_HOST",
    "Functions": "FUNCTIONS_EMULATOR_HOST",
    "Cloud Tasks": "CLOUD_TASKS_EMULATOR_HOST",
    "Hosting": "FIREBASE_HOSTING_EMULATOR_HOST",
}


def follow(log: Path) -> None:
    with log.open(errors="replace") as stream:
        stream.seek(0, os.SEEK_END)
        while True:
            line = stream.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)


def main() -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(seed_demo.describe(seed_demo.seed()))
    print()
    print(f"Demo page: http://{os.environ['FIREBASE_HOSTING_EMULATOR_HOST']}/  (sign in as the doctor in one window,")
    print("the patient in another; the doctor confirms demo-pending, the patient's Join appears)")
    hosts = {name: os.environ.get(var, "?") for name, var in HOSTS.items()}
    print("Emulators: " + ", ".join(f"{name} {host}" for name, host in hosts.items()))
    print("Functions: get_join_token (callable), assign_video_room (Firestore trigger), sendVisitReminder (task queue)")
    print("Press Ctrl-C to stop everything. Function logs follow:\n", flush=True)
    try:
        follow(Path(os.environ["EMULATOR_LOG"]))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
