"""Bench-only functions: floors to measure the real ones against. Loaded only by firebase.bench.json, never deployed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from firebase_admin import auth, get_app, initialize_app
from firebase_functions import firestore_fn, https_fn
from firebase_functions.core import Change
from google.cloud.firestore_v1 import Client, DocumentSnapshot

try:
    get_app()
except ValueError:
    initialize_app()

_clients: dict[str, Client] = {}


@https_fn.on_call()
def bench_noop_call(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """Does nothing: the round trip of a callable with an auth check and a JSON answer."""
    return {"ok": True, "uid": req.auth.uid if req.auth else None}


@https_fn.on_call()
def bench_read_write_call(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """One document read and one document write, nothing else: the Firestore floor of a join."""
    if "db" not in _clients:
        _clients["db"] = Client(project=get_app().project_id)
    db = _clients["db"]
    snapshot = db.collection("appointments").document(str(req.data["appointmentId"])).get()
    db.collection("benchLog").document().set({"exists": snapshot.exists, "uid": req.auth.uid if req.auth else None})
    return {"ok": True}


_lookups = ThreadPoolExecutor(max_workers=32)


@https_fn.on_call()
def bench_auth_read_write_call(req: https_fn.CallableRequest[Any]) -> dict[str, Any]:
    """The floor of a join that checks revocation: the Auth API lookup overlapping one read, then one write."""
    if "db" not in _clients:
        _clients["db"] = Client(project=get_app().project_id)
    db = _clients["db"]
    token = req.raw_request.headers.get("Authorization", "").removeprefix("Bearer ")
    lookup = _lookups.submit(auth.verify_id_token, token, check_revoked=True)
    snapshot = db.collection("appointments").document(str(req.data["appointmentId"])).get()
    lookup.result()
    db.collection("benchLog").document().set({"exists": snapshot.exists, "uid": req.auth.uid if req.auth else None})
    return {"ok": True}


@firestore_fn.on_document_written(document="benchNoop/{docId}")
def bench_noop_trigger(event: firestore_fn.Event[Change[DocumentSnapshot[Any] | None]]) -> None:
    """Writes one field once: the floor for a trigger that writes back to its document."""
    after = event.data.after
    if after is None or (after.to_dict() or {}).get("done"):
        return
    if "db" not in _clients:
        _clients["db"] = Client(project=get_app().project_id)
    _clients["db"].document(event.document).update({"done": True})
