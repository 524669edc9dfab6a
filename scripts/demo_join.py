"""Sign in as a demo user and call get_join_token on the running emulators; show the answer and the claims."""

from __future__ import annotations

import json
import sys

import emulator_api as emu
import jwt
from seed_demo import DOCTOR, PATIENT


def main(argv: list[str]) -> int:
    who = argv[0] if argv else "patient"
    appointment_id = argv[1] if len(argv) > 1 else "demo-now"
    if who not in ("patient", "doctor"):
        print("usage: scripts/demo-join [patient|doctor] [appointmentId]", file=sys.stderr)
        return 2
    email, password, _ = PATIENT if who == "patient" else DOCTOR
    user = emu.sign_in(email, password)
    answer = emu.call("get_join_token", {"appointmentId": appointment_id}, user.id_token)
    if not answer.ok:
        print(json.dumps({"error": answer.status, "message": answer.message, "details": answer.details}, indent=2))
        return 1
    print(json.dumps(answer.result, indent=2))
    token = answer.result["token"]
    print("token header:", json.dumps(jwt.get_unverified_header(token)))
    print("token claims:", json.dumps(jwt.decode(token, options={"verify_signature": False}), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
