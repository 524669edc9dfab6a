"""The clinic's admin command: who is a doctor. Only the Admin SDK can make that so.

    scripts/clinic add-doctor --email E --name N [--specialty S]
    scripts/clinic remove-doctor --email E
    scripts/clinic list

Against the emulators when FIREBASE_AUTH_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST are set (as
under scripts/with-emulators); otherwise against the real project (--project, else GOOGLE_CLOUD_PROJECT,
else the default in .firebaserc) with Application Default Credentials. It says which before acting.
Every command is idempotent; bad input exits 2 with a message, a missing user exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import firebase_admin
import requests
from firebase_admin import auth
from firebase_admin.exceptions import FirebaseError
from google.api_core.exceptions import GoogleAPIError
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import firestore

ROOT = Path(__file__).resolve().parent.parent
DOCTORS = "doctors"
DOCTOR_CLAIM = ("role", "doctor")
MAX_TEXT = 80
# Deliberately plain: one @, no spaces, a dot in the domain. The Auth service checks the rest.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class UsageError(Exception):
    """Input the command refuses; exit 2."""


class NotFound(Exception):
    """No such user; exit 1."""


@dataclass(frozen=True)
class Target:
    """Where the command acts: a project, on the emulators or for real."""

    project: str
    emulated: bool

    def describe(self) -> str:
        if self.emulated:
            return (
                f"acting on the emulators: project {self.project}, "
                f"Auth {os.environ['FIREBASE_AUTH_EMULATOR_HOST']}, Firestore {os.environ['FIRESTORE_EMULATOR_HOST']}"
            )
        return f"acting on the real project {self.project} (Application Default Credentials)"


def resolve_target(project: str | None) -> Target:
    if bool(os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")) != bool(os.environ.get("FIRESTORE_EMULATOR_HOST")):
        raise UsageError("set both FIREBASE_AUTH_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST, or neither")
    chosen = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT") or default_project()
    if not chosen:
        raise UsageError("no project: pass --project, set GOOGLE_CLOUD_PROJECT, or set a default in .firebaserc")
    if chosen.startswith("demo-") and not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        # A demo- project exists only in the emulators: use the ones firebase.json names (as make dev starts them).
        emulators = json.loads((ROOT / "firebase.json").read_text())["emulators"]
        for variable, name in (("FIREBASE_AUTH_EMULATOR_HOST", "auth"), ("FIRESTORE_EMULATOR_HOST", "firestore")):
            os.environ[variable] = f"{emulators[name]['host']}:{emulators[name]['port']}"
    emulated = bool(os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"))
    return Target(project=chosen, emulated=emulated)


def default_project() -> str | None:
    try:
        value = json.loads((ROOT / ".firebaserc").read_text())["projects"]["default"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def clean_text(label: str, raw: str | None, required: bool) -> str | None:
    """A name or specialty as stored: no control or format characters, 1 to 80 characters."""
    if raw is None:
        if required:
            raise UsageError(f"--{label} is required")
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in raw):
        raise UsageError(f"--{label} must not contain control or format characters")
    value = " ".join(raw.split())
    if not value:
        raise UsageError(f"--{label} must not be empty")
    if len(value) > MAX_TEXT:
        raise UsageError(f"--{label} must be at most {MAX_TEXT} characters")
    return value


def clean_email(raw: str) -> str:
    value = raw.strip().lower()
    if not EMAIL.fullmatch(value) or len(value) > 254:
        raise UsageError("--email must be an email address")
    return value


class Clinic:
    """The three operations, on one Auth app and one Firestore client."""

    def __init__(self, target: Target) -> None:
        self.target = target
        name = f"clinic-{target.project}"
        try:
            self.app = firebase_admin.get_app(name)
        except ValueError:
            self.app = firebase_admin.initialize_app(options={"projectId": target.project}, name=name)
        self.db = firestore.Client(project=target.project)

    def _user_by_email(self, email: str) -> auth.UserRecord | None:
        try:
            return auth.get_user_by_email(email, app=self.app)
        except auth.UserNotFoundError:
            return None

    def add_doctor(self, email: str, name: str, specialty: str | None) -> tuple[str, bool]:
        """Make the account with this email an active doctor (creating it if missing); returns (uid, created)."""
        user = self._user_by_email(email)
        created = user is None
        if user is None:
            user = auth.create_user(email=email, display_name=name, app=self.app)
        claims = dict(user.custom_claims or {})
        if claims.get(DOCTOR_CLAIM[0]) != DOCTOR_CLAIM[1]:
            claims[DOCTOR_CLAIM[0]] = DOCTOR_CLAIM[1]
            auth.set_custom_user_claims(user.uid, claims, app=self.app)
        entry: dict[str, Any] = {"displayName": name, "active": True, "updatedAt": firestore.SERVER_TIMESTAMP}
        entry["specialty"] = specialty if specialty is not None else firestore.DELETE_FIELD
        self.db.collection(DOCTORS).document(user.uid).set(entry, merge=True)
        return user.uid, created

    def remove_doctor(self, email: str) -> str:
        """Lock a doctor out: directory entry inactive first (the rules see it at once), claim off, sessions revoked."""
        user = self._user_by_email(email)
        if user is None:
            raise NotFound(f"no user with email {email}")
        ref = self.db.collection(DOCTORS).document(user.uid)
        if ref.get().exists:
            ref.update({"active": False, "updatedAt": firestore.SERVER_TIMESTAMP})
        claims = dict(user.custom_claims or {})
        if DOCTOR_CLAIM[0] in claims:
            del claims[DOCTOR_CLAIM[0]]
            auth.set_custom_user_claims(user.uid, claims or None, app=self.app)
        auth.revoke_refresh_tokens(user.uid, app=self.app)
        return user.uid

    def list(self) -> list[dict[str, Any]]:
        """The directory, with each entry's email and whether the claim is set."""
        rows = []
        for snapshot in self.db.collection(DOCTORS).stream():
            entry = snapshot.to_dict() or {}
            try:
                user = auth.get_user(snapshot.id, app=self.app)
                email, has_claim = user.email, (user.custom_claims or {}).get(DOCTOR_CLAIM[0]) == DOCTOR_CLAIM[1]
            except auth.UserNotFoundError:
                email, has_claim = None, False
            rows.append(
                {
                    "uid": snapshot.id,
                    "email": email,
                    "displayName": entry.get("displayName"),
                    "specialty": entry.get("specialty"),
                    "active": entry.get("active") is True,
                    "claim": has_claim,
                }
            )
        return sorted(rows, key=lambda row: (not row["active"], str(row["displayName"])))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="scripts/clinic", description="Manage the clinic's doctors.")
    top.add_argument("--project", help="project id (default: GOOGLE_CLOUD_PROJECT, else .firebaserc)")
    commands = top.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-doctor", help="make an account an active doctor (creates it if missing)")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True, help="display name shown to patients and in the meeting")
    add.add_argument("--specialty")
    remove = commands.add_parser("remove-doctor", help="deactivate, remove the claim, revoke sessions")
    remove.add_argument("--email", required=True)
    commands.add_parser("list", help="the directory")
    return top


def run(argv: Sequence[str], out: Any = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        target = resolve_target(args.project)
        if args.command == "add-doctor":
            email = clean_email(args.email)
            name = clean_text("name", args.name, required=True)
            specialty = clean_text("specialty", args.specialty, required=False)
            print(target.describe(), file=out)
            uid, created = Clinic(target).add_doctor(email, str(name), specialty)
            print(f"{'created' if created else 'updated'} doctor {email} (uid {uid}): active", file=out)
        elif args.command == "remove-doctor":
            email = clean_email(args.email)
            print(target.describe(), file=out)
            uid = Clinic(target).remove_doctor(email)
            print(f"removed doctor {email} (uid {uid}): inactive, claim removed, sessions revoked", file=out)
        else:
            print(target.describe(), file=out)
            rows = Clinic(target).list()
            for row in rows:
                state = "active" if row["active"] and row["claim"] else "inactive"
                specialty = f" ({row['specialty']})" if row["specialty"] else ""
                print(f"{state:8} {row['uid']}  {row['email']}  {row['displayName']}{specialty}", file=out)
            print(f"{len(rows)} in the directory", file=out)
    except UsageError as error:
        print(f"clinic: {error}", file=sys.stderr)
        return 2
    except NotFound as error:
        print(f"clinic: {error}", file=sys.stderr)
        return 1
    except DefaultCredentialsError:
        print(
            "clinic: no Application Default Credentials: run `gcloud auth application-default login`", file=sys.stderr
        )
        return 1
    except (FirebaseError, GoogleAPIError, requests.ConnectionError) as error:
        # The class only: the service's text could hold an address or an id the caller did not ask to print.
        print(
            f"clinic: the {'emulators' if os.environ.get('FIRESTORE_EMULATOR_HOST') else 'project'} "
            f"could not be reached or refused the request ({type(error).__name__})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
