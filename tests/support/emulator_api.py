"""Small clients for the local emulator suite, shared by the demo scripts, the emulator tests and the benchmarks.

Imported as ``support.emulator_api`` (tests) or, with tests/support on PYTHONPATH as the Makefile sets it,
as plain ``emulator_api``.

Addresses come from the variables ``scripts/with-emulators`` exports. Admin access to Firestore
uses the real ``google-cloud-firestore`` client (rules do not apply); user access uses the REST API
with an Auth-emulator ID token (rules apply).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from google.cloud import firestore

PROJECT = os.environ.get("GCLOUD_PROJECT", "demo-telehealth")
REGION = "us-central1"
T = TypeVar("T")


def _host(variable: str, default: str) -> str:
    return os.environ.get(variable, default)


def auth_base() -> str:
    return f"http://{_host('FIREBASE_AUTH_EMULATOR_HOST', '127.0.0.1:9099')}"


def firestore_base() -> str:
    return f"http://{_host('FIRESTORE_EMULATOR_HOST', '127.0.0.1:8080')}"


def functions_base() -> str:
    return f"http://{_host('FUNCTIONS_EMULATOR_HOST', '127.0.0.1:5001')}"


_session = requests.Session()


@dataclass(frozen=True)
class User:
    """A signed-up Auth emulator user and a fresh ID token."""

    uid: str
    email: str
    id_token: str


def sign_up(email: str, password: str, display_name: str | None = None) -> User:
    """Create a user in the Auth emulator and sign in (the ID token carries ``name`` when given)."""
    body: dict[str, Any] = {"email": email, "password": password, "returnSecureToken": True}
    if display_name:
        body["displayName"] = display_name
    reply = _session.post(f"{auth_base()}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any", json=body)
    reply.raise_for_status()
    data = reply.json()
    if display_name:
        # signUp ignores displayName for email users on some versions; set it and sign in again.
        _session.post(
            f"{auth_base()}/identitytoolkit.googleapis.com/v1/accounts:update?key=any",
            json={"idToken": data["idToken"], "displayName": display_name, "returnSecureToken": True},
        ).raise_for_status()
        return sign_in(email, password)
    return User(uid=data["localId"], email=email, id_token=data["idToken"])


def sign_in_anonymously() -> User:
    """A new anonymous account in the Auth emulator (as ``signInAnonymously`` makes one), and its ID token."""
    reply = _session.post(
        f"{auth_base()}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any", json={"returnSecureToken": True}
    )
    reply.raise_for_status()
    data = reply.json()
    return User(uid=data["localId"], email="", id_token=data["idToken"])


def make_doctor(email: str, password: str, name: str, specialty: str | None = None) -> User:
    """Make an account an active clinic doctor the way a clinic does (docs/security.md): the doctor's own
    account, its email verified, added with the admin command's own code as `add-doctor --existing` (which
    revokes its sessions), then a fresh sign-in (whose ID token carries the claim). Creates the account first
    if it does not exist."""
    import clinic  # scripts/clinic.py; imported here so that the demo's other users never load the Admin SDK
    from firebase_admin import auth

    try:
        user = sign_in(email, password)
    except requests.HTTPError:
        user = sign_up(email, password)
    admin = clinic.Clinic(clinic.resolve_target(PROJECT))
    auth.update_user(user.uid, email_verified=True, app=admin.app)
    admin.add_doctor(clinic.Who(email=email), name, specialty, existing=True)
    return sign_in(email, password)


def sign_in(email: str, password: str) -> User:
    reply = _session.post(
        f"{auth_base()}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any",
        json={"email": email, "password": password, "returnSecureToken": True},
    )
    reply.raise_for_status()
    data = reply.json()
    return User(uid=data["localId"], email=email, id_token=data["idToken"])


def admin_db() -> firestore.Client:
    """Firestore as admin (bypasses rules) through the real client library."""
    return firestore.Client(project=PROJECT)


def reset() -> None:
    """Empty the Firestore and Auth emulators."""
    _session.delete(
        f"{firestore_base()}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
    ).raise_for_status()
    _session.delete(f"{auth_base()}/emulator/v1/projects/{PROJECT}/accounts").raise_for_status()


@dataclass(frozen=True)
class CallResult:
    """A callable's answer: ``result`` on success, else the error's status, message and details."""

    http_status: int
    result: Any = None
    status: str | None = None
    message: str | None = None
    details: Any = None

    @property
    def ok(self) -> bool:
        return self.status is None


def call(function: str, data: Any, id_token: str | None = None) -> CallResult:
    """Call an HTTPS callable the way the client SDKs do (protocol v1: POST ``{"data": ...}``)."""
    headers = {"Content-Type": "application/json"}
    if id_token:
        headers["Authorization"] = f"Bearer {id_token}"
    reply = _session.post(
        f"{functions_base()}/{PROJECT}/{REGION}/{function}", json={"data": data}, headers=headers, timeout=30
    )
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return CallResult(reply.status_code, None, error.get("status"), error.get("message"), error.get("details"))
    if not reply.ok or not isinstance(body, dict) or "result" not in body:
        # Not the callable's answer: the emulator's own failure (a 500 {"code": "ECONNRESET"} when the
        # function's process hung up, or a page that is not JSON). A status no callable answers, so no
        # test takes it for a success.
        return CallResult(reply.status_code, None, f"HTTP {reply.status_code}", reply.text[:200])
    return CallResult(reply.status_code, body["result"])


def wait_for(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.02) -> T:
    """Poll ``probe`` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing came within {timeout} s")
        time.sleep(interval)


def utc(offset: dt.timedelta = dt.timedelta()) -> dt.datetime:
    """Now plus an offset, whole seconds, timezone-aware."""
    return (dt.datetime.now(dt.UTC) + offset).replace(microsecond=0)


def encode(value: Any) -> dict[str, Any]:
    """A Python value as a Firestore REST ``Value``."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, dt.datetime):
        return {"timestampValue": value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")}
    if isinstance(value, dict):
        return {"mapValue": {"fields": {key: encode(item) for key, item in value.items()}}}
    if isinstance(value, list):
        return {"arrayValue": {"values": [encode(item) for item in value]}}
    raise TypeError(f"cannot encode {type(value).__name__}")


class UserFirestore:
    """Firestore's REST API as a signed-in user (or signed out): security rules apply."""

    def __init__(self, id_token: str | None) -> None:
        self.headers = {"Authorization": f"Bearer {id_token}"} if id_token else {}
        self.base = f"{firestore_base()}/v1/projects/{PROJECT}/databases/(default)/documents"

    def get(self, path: str) -> int:
        return _session.get(f"{self.base}/{path}", headers=self.headers).status_code

    def list(self, collection: str) -> int:
        return _session.get(f"{self.base}/{collection}", headers=self.headers).status_code

    def query_equal(self, collection: str, field: str, value: Any) -> tuple[int, int]:
        """Run ``where field == value``; returns (status, number of documents)."""
        query = {
            "structuredQuery": {
                "from": [{"collectionId": collection}],
                "where": {"fieldFilter": {"field": {"fieldPath": field}, "op": "EQUAL", "value": encode(value)}},
            }
        }
        reply = _session.post(f"{self.base}:runQuery", json=query, headers=self.headers)
        rows = reply.json() if reply.ok else []
        return reply.status_code, sum(1 for row in rows if "document" in row)

    def create(self, collection: str, doc_id: str, fields: dict[str, Any]) -> int:
        body = {"fields": {key: encode(value) for key, value in fields.items()}}
        return _session.post(
            f"{self.base}/{collection}", params={"documentId": doc_id}, json=body, headers=self.headers
        ).status_code

    def update(self, path: str, fields: dict[str, Any], delete: tuple[str, ...] = ()) -> int:
        """Change only the named fields (and delete those in ``delete``), as the SDKs' update() does."""
        body = {"fields": {key: encode(value) for key, value in fields.items()}}
        mask = [*fields, *delete]
        return _session.patch(
            f"{self.base}/{path}",
            params=[("updateMask.fieldPaths", name) for name in mask] + [("currentDocument.exists", "true")],
            json=body,
            headers=self.headers,
        ).status_code

    def delete(self, path: str) -> int:
        return _session.delete(f"{self.base}/{path}", headers=self.headers).status_code


def trigger_runs(function: str) -> tuple[int, int]:
    """How many runs of a function the Functions emulator has begun and ended so far (read from its log).

    A run ends with ``Finished "<function>"``, or with ``Request to function failed`` (the worker's socket
    hung up; the emulator names no function there, so it ends the run begun last, one request at a time under
    FUNCTIONS_EMULATOR_PARALLEL=1). Only ``Finished`` lines count for ``finished_runs``.
    """
    log = os.environ.get("EMULATOR_LOG")
    if not log:
        raise RuntimeError("EMULATOR_LOG is not set: run under scripts/with-emulators")
    begun = ended = 0
    last_begun = ""
    with open(log, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if "Beginning execution of " in line:
                last_begun = line.split("Beginning execution of ", 1)[1].strip()
                begun += last_begun == f'"{REGION}-{function}"'
            elif f'Finished "{REGION}-{function}"' in line or (
                "Request to function failed" in line and last_begun == f'"{REGION}-{function}"'
            ):
                ended += 1
    return begun, ended


def _finished(function: str) -> int:
    log = os.environ.get("EMULATOR_LOG")
    if not log:
        raise RuntimeError("EMULATOR_LOG is not set: run under scripts/with-emulators")
    with open(log, encoding="utf-8", errors="replace") as stream:
        return sum(1 for line in stream if f'Finished "{REGION}-{function}"' in line)


def finished_runs(function: str) -> int:
    """How many runs of a function the Functions emulator has finished so far (read from its log)."""
    return _finished(function)


def wait_for_runs(function: str, at_least: int, timeout: float = 60.0) -> int:
    """Block until the emulator has finished ``at_least`` runs of the function; a barrier, not a sleep."""
    return wait_for(lambda: (lambda n: n if n >= at_least else None)(finished_runs(function)), timeout, 0.05)


def wait_for_no_running_trigger(function: str = "assign_video_room", timeout: float = 30.0) -> int:
    """Block until every run of ``function`` that has begun has finished (cheap: no quiet period)."""
    return wait_for(lambda: (lambda b, f: f if b <= f else None)(*trigger_runs(function)), timeout, 0.05)


def wait_for_quiet_triggers(function: str = "assign_video_room", quiet: float = 1.5, timeout: float = 180.0) -> int:
    """Block until no run of ``function`` is in progress and none has begun or finished for ``quiet`` seconds.

    A test whose writes fire the trigger (several, or one whose own write fires it again) waits here, so that
    none of those runs is still queued or running when the next step counts runs or resets the emulators.
    A run in progress never counts as quiet, however long it takes (a cold worker on a loaded machine can take
    longer than ``quiet``). Writes made while triggers were paused are delivered late (see
    wait_for_trigger_delivery): a quiet period alone does not prove them delivered.
    """
    deadline = time.monotonic() + timeout
    seen, since = trigger_runs(function), time.monotonic()
    while seen[0] > seen[1] or time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{function} still busy after {timeout} s")
        time.sleep(0.1)
        now = trigger_runs(function)
        if now != seen:
            seen, since = now, time.monotonic()
    return seen[1]


def wait_for_trigger_delivery(timeout: float = 120.0) -> str:
    """Write a probe visit and block until the trigger has given it a room; returns the room's name.

    After triggers resume, the Firestore emulator holds the events of writes made while they were paused and
    delivers them only after a back-off (seen: 50 s after a 15-second pause), and new events queue behind
    them: a test whose trigger must answer within its own deadline would pay for it. The probe's event is
    behind all of them, so its room means the queue has moved. The probe stays until the next reset.
    """
    global _paused_since_delivery
    ref = admin_db().collection("appointments").document(f"trigger-probe-{time.monotonic_ns()}")
    ref.set(video_appointment("probe-doctor", "probe-patient"))
    room: str = wait_for(lambda: ((ref.get().to_dict() or {}).get("video") or {}).get("roomName"), timeout, 0.05)
    _paused_since_delivery = False
    return room


_paused_since_delivery = False


def settle_after_pauses() -> None:
    """If triggers were paused since the last probe: wait for their held events, then for quiet triggers.

    Run once per test module (tests/emulator/conftest.py), not after every pause: each probe waits out
    the back-off, so one per module costs seconds where one per pause cost tens of seconds.
    """
    if _paused_since_delivery:
        wait_for_trigger_delivery()
        wait_for_quiet_triggers()


def set_background_triggers(enabled: bool) -> None:
    """Pause or resume Firestore triggers in the Functions emulator (through the emulator hub).

    Resuming reloads the functions (the hub waits for it). Under load that load can fail in the emulator's
    discovery race (see scripts/with_emulators.py: "Failed to load function definition"), which would leave
    the triggers unregistered: then it is asked for again, up to twice. A reload is a functions discovery,
    so it takes the machine-wide discovery lock as the suites' starts do (another suite starting at the
    same moment made it fail).
    """
    from with_emulators import discovery_turn  # scripts/, on PYTHONPATH

    global _paused_since_delivery
    hub = _host("FIREBASE_EMULATOR_HUB", "127.0.0.1:4400")
    verb = "enable" if enabled else "disable"
    _paused_since_delivery = _paused_since_delivery or not enabled
    log = os.environ.get("EMULATOR_LOG")
    for _attempt in range(3):
        mark = os.path.getsize(log) if log else 0
        with discovery_turn() if enabled else contextlib.nullcontext():
            _session.put(f"http://{hub}/functions/{verb}BackgroundTriggers", timeout=60).raise_for_status()
        if not (enabled and log):
            return
        with open(log, encoding="utf-8", errors="replace") as stream:
            stream.seek(mark)
            if "Failed to load function definition" not in stream.read():
                return
    raise RuntimeError("the Functions emulator could not reload the functions when triggers resumed")


class OpCounter:
    """Counts Firestore document reads and (successful) writes a client makes, at its RPC layer."""

    def __init__(self, client: firestore.Client) -> None:
        self.reads = 0
        self.writes = 0
        self.refused = 0  # commits the server refused (a failed precondition, an aborted transaction)
        api = client._firestore_api
        batch_get, get_document, commit = api.batch_get_documents, api.get_document, api.commit

        def counted_batch_get(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request") or args[0]
            self.reads += len(request.get("documents", []))
            return batch_get(*args, **kwargs)

        def counted_get_document(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1  # found or not: a document read either way
            return get_document(*args, **kwargs)

        def counted_commit(*args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request") or args[0]
            try:
                result = commit(*args, **kwargs)
            except Exception:
                self.refused += 1  # a refused commit writes nothing: counted apart
                raise
            # The client's own calls send a dict; the join's audit write (store/direct) a CommitRequest.
            self.writes += len(request.get("writes", []) if isinstance(request, dict) else request.writes)
            return result

        api.batch_get_documents = counted_batch_get
        api.get_document = counted_get_document
        api.commit = counted_commit

    def reset(self) -> None:
        self.reads = self.writes = self.refused = 0


def local_secret(name: str = "VIDEO_SIGNING_KEY") -> str:
    """A secret the emulator's functions use (from functions/.secret.local, written by scripts/setup)."""
    secret_file = Path(__file__).resolve().parents[2] / "functions" / ".secret.local"
    for line in secret_file.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise RuntimeError(f"no {name} in functions/.secret.local; run scripts/setup")


def local_signing_key() -> str:
    """The VIDEO_SIGNING_KEY the emulator's functions use."""
    return local_secret("VIDEO_SIGNING_KEY")


def post_webhook(path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> int:
    """Send a provider webhook to video_events (``path`` after the function, e.g. ``jitsi/events/...``)."""
    url = f"{functions_base()}/{PROJECT}/{REGION}/video_events/{path}"
    return _session.request(method, url, data=body, headers=headers, timeout=30).status_code


def video_appointment(doctor: str, patient: str, **changes: Any) -> dict[str, Any]:
    """A confirmed video appointment whose join window is open now (5 to 35 minutes from now).

    ``changes`` override fields; a value of None removes the field.
    """
    fields = {
        "patientId": patient,
        "doctorId": doctor,
        "type": "video",
        "status": "confirmed",
        "startTime": utc(dt.timedelta(minutes=5)),
        "endTime": utc(dt.timedelta(minutes=35)),
    } | changes
    return {key: value for key, value in fields.items() if value is not None}


# One module under both of its names: plain ``emulator_api`` (tests/support on PYTHONPATH, as the Makefile and
# scripts/with-emulators set it) and ``support.emulator_api`` (tests/ on pytest's pythonpath). Without this, a
# process importing both would hold two sessions and two ``User`` classes.
sys.modules.setdefault("support.emulator_api" if __name__ == "emulator_api" else "emulator_api", sys.modules[__name__])


def doctor_in_appointment(doctor: str, patient: str) -> dict[str, Any]:
    """``video_appointment`` with a room the doctor has joined (so the waiting room lets the patient in)."""
    room = {
        "roomName": "m" * 32,
        "provider": "jitsi",
        "roomUrl": "https://meet.example.test/" + "m" * 32,
        "doctorJoinedAt": utc(),
    }
    return video_appointment(doctor, patient, video=room)
