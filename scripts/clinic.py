"""The clinic's admin command: who is a doctor. Only the Admin SDK can make that so.

    scripts/clinic [--project P] [--yes] add-doctor (--email E | --uid U) --name N [--specialty S] [--existing]
    scripts/clinic [--project P] [--yes] remove-doctor (--email E | --uid U) [--disable]
    scripts/clinic [--project P] list

Which project (docs/security.md): a real (non-``demo-``) project only when named with ``--project``, never from
GOOGLE_CLOUD_PROJECT/GCLOUD_PROJECT or .firebaserc, never together with the emulator variables, and a change to it
asks for the project id on stdin unless ``--yes``. A ``demo-`` project is always the emulators (the ones the
emulator variables name, else the ones in firebase.json). The command says which before acting.

An account that already exists becomes a doctor only with ``--existing`` and a verified email; the command shows
the account first and revokes its sessions before granting the claim, so nobody who registered the doctor's
email beforehand keeps a session that could pick the claim up.

Every command is idempotent; bad input or a refusal exits 2 with a message and changes nothing, a missing user
exits 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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
DEMO_PREFIX = "demo-"
AUTH_EMULATOR = "FIREBASE_AUTH_EMULATOR_HOST"
FIRESTORE_EMULATOR = "FIRESTORE_EMULATOR_HOST"
# Read only to find a demo- project (scripts/with-emulators and `firebase emulators:exec` export them).
AMBIENT_PROJECT = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
# Deliberately plain: one @, no spaces, a dot in the domain. The Auth service checks the rest.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Firebase Auth uids: 1 to 128 characters; no whitespace or control characters in ours.
UID = re.compile(r"[^\s\x00-\x1f\x7f]{1,128}")
PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]")


class UsageError(Exception):
    """Input or a situation the command refuses; exit 2, nothing changed."""


class NotFound(Exception):
    """No such user; exit 1."""


def is_demo(project: str) -> bool:
    return project.startswith(DEMO_PREFIX)


@dataclass(frozen=True)
class Target:
    """Where the command acts: a project, on the emulators or for real."""

    project: str
    emulated: bool

    def describe(self) -> str:
        if self.emulated:
            return (
                f"acting on the emulators: project {self.project}, "
                f"Auth {os.environ[AUTH_EMULATOR]}, Firestore {os.environ[FIRESTORE_EMULATOR]}"
            )
        return f"acting on the real project {self.project} (Application Default Credentials)"


def resolve_target(project: str | None) -> Target:
    """The project to act on, by the rules in the module docstring; refuses (UsageError) anything ambiguous."""
    env = os.environ
    emulator_vars = [name for name in (AUTH_EMULATOR, FIRESTORE_EMULATOR) if env.get(name)]
    if len(emulator_vars) == 1:
        raise UsageError(f"set both {AUTH_EMULATOR} and {FIRESTORE_EMULATOR}, or neither")
    if project is not None:
        if not PROJECT_ID.fullmatch(project):
            raise UsageError("--project must be a project id (lowercase letters, digits and hyphens)")
        if not is_demo(project):
            if emulator_vars:
                raise UsageError(
                    f"--project {project} is a real project, but {' and '.join(emulator_vars)} point at emulators: "
                    f"unset them to act on {project}, or name a {DEMO_PREFIX} project for the emulators"
                )
            return Target(project=project, emulated=False)
        chosen = project
    else:
        chosen = ambient_demo_project(env)
    if not emulator_vars:
        # A demo- project exists only in the emulators: use the ones firebase.json names (as make dev starts them).
        emulators = json.loads((ROOT / "firebase.json").read_text())["emulators"]
        for variable, name in ((AUTH_EMULATOR, "auth"), (FIRESTORE_EMULATOR, "firestore")):
            os.environ[variable] = f"{emulators[name]['host']}:{emulators[name]['port']}"
    return Target(project=chosen, emulated=True)


def ambient_demo_project(env: Mapping[str, str]) -> str:
    """Without --project: the first of the ambient variables and .firebaserc, which must name a demo- project."""
    sources = [(name, env.get(name) or None) for name in AMBIENT_PROJECT]
    sources.append((".firebaserc", default_project()))
    for source, value in sources:
        if value is None:
            continue
        if not PROJECT_ID.fullmatch(value):
            raise UsageError(f"{source} does not hold a project id: pass --project")
        if not is_demo(value):
            raise UsageError(
                f"{source} names {value}, a real project: a real project is acted on only when named "
                f"with --project (for the emulators, name a {DEMO_PREFIX} project)"
            )
        return value
    raise UsageError(f"no project: pass --project (a {DEMO_PREFIX} project for the emulators)")


def default_project() -> str | None:
    try:
        value = json.loads((ROOT / ".firebaserc").read_text())["projects"]["default"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def confirm(target: Target, action: str, assume_yes: bool, stdin: TextIO | None, err: TextIO) -> None:
    """A change to a real project goes ahead only after its id is typed back (or --yes); else UsageError."""
    if target.emulated or assume_yes:
        return
    print(f"clinic: about to {action} on the real project {target.project}.", file=err)
    print(f"clinic: type the project id ({target.project}) to go ahead: ", end="", file=err, flush=True)
    try:
        answer = stdin.readline() if stdin is not None else ""
    except (OSError, ValueError):
        answer = ""
    if answer.strip() != target.project:
        print(file=err)
        raise UsageError("not confirmed: nothing was changed (pass --yes to skip the question)")


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


def clean_uid(raw: str) -> str:
    if not UID.fullmatch(raw):
        raise UsageError("--uid must be a Firebase Auth uid (1 to 128 characters, no spaces)")
    return raw


@dataclass(frozen=True)
class Who:
    """The account a command names: by email or by uid (exactly one)."""

    email: str | None = None
    uid: str | None = None

    def describe(self) -> str:
        return f"uid {self.uid}" if self.uid is not None else f"email {self.email}"

    def label(self, uid: str) -> str:
        """How a result line names the account: its email and uid, or its uid."""
        return f"{self.email} (uid {uid})" if self.email is not None else f"uid {uid}"


@dataclass(frozen=True)
class Added:
    """What add-doctor did."""

    uid: str
    created: bool
    revoked: bool


def describe_account(user: auth.UserRecord) -> list[str]:
    """What the operator checks before an existing account becomes a doctor."""
    providers = sorted({info.provider_id for info in user.provider_data}) or ["none"]
    created_ms = user.user_metadata.creation_timestamp if user.user_metadata else None
    created = (
        dt.datetime.fromtimestamp(created_ms / 1000, dt.UTC).isoformat(timespec="seconds") if created_ms else "unknown"
    )
    lines = [
        f"existing account: uid {user.uid}",
        f"  sign-in providers: {', '.join(providers)}",
        f"  created: {created}",
        f"  email verified: {'yes' if user.email_verified else 'no'}",
    ]
    if user.disabled:
        lines.append("  the account is disabled (enable it in the Firebase console if it should sign in)")
    if "password" in providers:
        lines.append("  it has a password: make sure the doctor set it, else have them reset it")
    return lines


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

    def find(self, who: Who) -> auth.UserRecord | None:
        try:
            if who.uid is not None:
                return auth.get_user(who.uid, app=self.app)
            return auth.get_user_by_email(str(who.email), app=self.app)
        except auth.UserNotFoundError:
            return None

    def add_doctor(
        self,
        who: Who,
        name: str,
        specialty: str | None,
        existing: bool = False,
        out: TextIO | None = None,
    ) -> Added:
        """Make an account an active doctor: a new one (by email), or an existing one only if ``existing`` and its
        email is verified; an existing one's sessions are revoked before the claim is granted."""
        user = self.find(who)
        if user is None and (who.uid is not None or existing):
            raise NotFound(f"no user with that {'uid' if who.uid is not None else 'email'}")
        created = revoked = False
        if user is None:
            user = auth.create_user(email=who.email, display_name=name, app=self.app)
            created = True
        else:
            if not existing:
                raise UsageError(
                    f"an account with that {'uid' if who.uid is not None else 'email'} already exists (uid "
                    f"{user.uid}); anyone can register an email, so check the account is the doctor's and run "
                    "again with --existing"
                )
            if not (user.email and user.email_verified):
                raise UsageError(
                    f"the account (uid {user.uid}) has no verified email: the doctor must verify it before "
                    "the account can become a doctor; nothing was changed"
                )
            for line in describe_account(user) if out is not None else ():
                print(line, file=out)
        claims = dict(user.custom_claims or {})
        if claims.get(DOCTOR_CLAIM[0]) != DOCTOR_CLAIM[1]:
            if not created:
                # Before the grant: no session from before this moment can refresh into a token with the claim.
                auth.revoke_refresh_tokens(user.uid, app=self.app)
                revoked = True
            claims[DOCTOR_CLAIM[0]] = DOCTOR_CLAIM[1]
            auth.set_custom_user_claims(user.uid, claims, app=self.app)
        entry: dict[str, Any] = {"displayName": name, "active": True, "updatedAt": firestore.SERVER_TIMESTAMP}
        entry["specialty"] = specialty if specialty is not None else firestore.DELETE_FIELD
        self.db.collection(DOCTORS).document(user.uid).set(entry, merge=True)
        return Added(uid=str(user.uid), created=created, revoked=revoked)

    def remove_doctor(self, who: Who, disable: bool = False) -> str:
        """Lock a doctor out: directory entry inactive first (the rules see it at once), claim off, sessions revoked,
        and the account disabled if asked."""
        user = self.find(who)
        if user is None:
            raise NotFound(f"no user with that {'uid' if who.uid is not None else 'email'}")
        ref = self.db.collection(DOCTORS).document(user.uid)
        if ref.get().exists:
            ref.update({"active": False, "updatedAt": firestore.SERVER_TIMESTAMP})
        claims = dict(user.custom_claims or {})
        if DOCTOR_CLAIM[0] in claims:
            del claims[DOCTOR_CLAIM[0]]
            auth.set_custom_user_claims(user.uid, claims or None, app=self.app)
        auth.revoke_refresh_tokens(user.uid, app=self.app)
        if disable and not user.disabled:
            auth.update_user(user.uid, disabled=True, app=self.app)
        return str(user.uid)

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
    # --project and --yes are accepted before or after the command; SUPPRESS keeps one from resetting the other.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project",
        default=argparse.SUPPRESS,
        help=f"project id; a real (non-{DEMO_PREFIX}) project is acted on only when named here",
    )
    common.add_argument(
        "--yes",
        action="store_true",
        default=argparse.SUPPRESS,
        help="do not ask before changing a real project",
    )
    top = argparse.ArgumentParser(prog="scripts/clinic", description="Manage the clinic's doctors.", parents=[common])
    commands = top.add_subparsers(dest="command", required=True)
    add = commands.add_parser(
        "add-doctor", parents=[common], help="make an account an active doctor (creates it if missing)"
    )
    add_who = add.add_mutually_exclusive_group(required=True)
    add_who.add_argument("--email")
    add_who.add_argument("--uid")
    add.add_argument("--name", required=True, help="display name shown to patients and in the meeting")
    add.add_argument("--specialty")
    add.add_argument(
        "--existing",
        action="store_true",
        help="the account already exists and its email is verified: show it, revoke its sessions, then grant",
    )
    remove = commands.add_parser(
        "remove-doctor", parents=[common], help="deactivate, remove the claim, revoke sessions"
    )
    remove_who = remove.add_mutually_exclusive_group(required=True)
    remove_who.add_argument("--email")
    remove_who.add_argument("--uid")
    remove.add_argument("--disable", action="store_true", help="also disable the account (no sign-in at all)")
    commands.add_parser("list", parents=[common], help="the directory")
    return top


def who_from(args: argparse.Namespace) -> Who:
    if args.uid is not None:
        return Who(uid=clean_uid(args.uid))
    return Who(email=clean_email(args.email))


def run(argv: Sequence[str], out: Any = sys.stdout, stdin: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    err = sys.stderr
    try:
        target = resolve_target(getattr(args, "project", None))
        assume_yes = bool(getattr(args, "yes", False))
        answers = sys.stdin if stdin is None else stdin
        if args.command == "add-doctor":
            who = who_from(args)
            if who.uid is not None and not args.existing:
                raise UsageError("--uid names an existing account: check it is the doctor's and add --existing")
            name = clean_text("name", args.name, required=True)
            specialty = clean_text("specialty", args.specialty, required=False)
            print(target.describe(), file=out, flush=True)
            confirm(target, f"make the account with {who.describe()} a doctor", assume_yes, answers, err)
            added = Clinic(target).add_doctor(who, str(name), specialty, existing=args.existing, out=out)
            verb = "created" if added.created else "updated"
            sessions = ", its earlier sessions revoked" if added.revoked else ""
            print(f"{verb} doctor {who.label(added.uid)}: active{sessions}", file=out)
        elif args.command == "remove-doctor":
            who = who_from(args)
            print(target.describe(), file=out, flush=True)
            disabling = " and disable the account" if args.disable else ""
            confirm(target, f"remove the doctor with {who.describe()}{disabling}", assume_yes, answers, err)
            uid = Clinic(target).remove_doctor(who, disable=args.disable)
            disabled = ", account disabled" if args.disable else ""
            print(
                f"removed doctor {who.label(uid)}: inactive, claim removed, sessions revoked{disabled}",
                file=out,
            )
        else:
            print(target.describe(), file=out)
            rows = Clinic(target).list()
            for row in rows:
                state = "active" if row["active"] and row["claim"] else "inactive"
                specialty = f" ({row['specialty']})" if row["specialty"] else ""
                print(f"{state:8} {row['uid']}  {row['email']}  {row['displayName']}{specialty}", file=out)
            print(f"{len(rows)} in the directory", file=out)
    except UsageError as error:
        print(f"clinic: {error}", file=err)
        return 2
    except NotFound as error:
        print(f"clinic: {error}", file=err)
        return 1
    except DefaultCredentialsError:
        print("clinic: no Application Default Credentials: run `gcloud auth application-default login`", file=err)
        return 1
    except (FirebaseError, GoogleAPIError, requests.ConnectionError) as error:
        # The class only: the service's text could hold an address or an id the caller did not ask to print.
        print(
            f"clinic: the {'emulators' if os.environ.get(FIRESTORE_EMULATOR) else 'project'} "
            f"could not be reached or refused the request ({type(error).__name__})",
            file=err,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
