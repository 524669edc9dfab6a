"""What `make dev` runs inside the emulator suite: seed demo data, say what to do, follow the log until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import seed_demo
import web_server

HOSTS = {
    "Auth": "FIREBASE_AUTH_EMULATOR_HOST",
    "Firestore": "FIRESTORE_EMULATOR_HOST",
    "Functions": "FUNCTIONS_EMULATOR_HOST",
    "Cloud Tasks": "CLOUD_TASKS_EMULATOR_HOST",
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
    server = web_server.start()
    print()
    print(f"Demo page: http://127.0.0.1:{server.server_address[1]}/  (sign in as the doctor in one window,")
    print("the patient in another; the doctor confirms demo-pending, the patient's Join appears)")
    hosts = {name: os.environ.get(var, "?") for name, var in HOSTS.items()}
    print("Emulators: " + ", ".join(f"{name} {host}" for name, host in hosts.items()))
    print("Functions: get_join_token (callable), assign_video_room (Firestore trigger), sendVisitReminder (task queue)")
    print("Press Ctrl-C to stop everything. Function logs follow:\n", flush=True)
    try:
        follow(Path(os.environ["EMULATOR_LOG"]))
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
