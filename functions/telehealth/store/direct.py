"""The join's Firestore calls made directly on the client's API layer: the same requests, less CPU.

Measured on ``make bench``'s load run (docs/benchmarks.md), where CPU is what a join waits for:

- ``DocumentReference.get`` reads one document through ``BatchGetDocuments``, a server stream, and
  in grpc-python a stream costs about twice the CPU of a unary call: ``read`` makes one unary
  ``GetDocument`` call instead.
- A doctor's two documents are one ``BatchGetDocuments`` call (``read_two``): one stream answering
  both costs less CPU, ours and Firestore's, than two unary calls side by side on two threads (the
  way this module read them before), and less than the client's ``get_all``, which wraps every
  answer in a snapshot (3,000 reads against the emulator, 8 at a time: 1.14-1.18 ms of our CPU per
  read, against 1.44-1.51 ms for the two unary calls and 1.33-1.49 ms for ``get_all``).
- ``DocumentReference.set`` builds its request through proto-plus, about 0.4 ms of CPU for an audit
  record. ``add`` builds the same ``Write`` (the fields, and a server-time transform for each
  ``SERVER_TIMESTAMP``) as plain protobuf and sends it with one ``Commit``.

The answers and the documents written are the client's own (tests/unit/test_store_direct.py compares
them with what the client builds). Retries and timeouts are the API layer's defaults, as the
client's calls have them. Any client that is not the real one (the unit tests' in-memory fakes) gets
the ordinary calls.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud.firestore import SERVER_TIMESTAMP
from google.cloud.firestore_v1 import Client, _helpers
from google.cloud.firestore_v1.field_path import FieldPath
from google.cloud.firestore_v1.types import CommitRequest, Document, DocumentTransform, Value, Write
from google.protobuf.timestamp_pb2 import Timestamp

# The raw protobuf classes behind the client's proto-plus types.
_WRITE, _DOCUMENT, _VALUE, _COMMIT = Write.pb(), Document.pb(), Value.pb(), CommitRequest.pb()
_TRANSFORM = DocumentTransform.FieldTransform.pb()
_REQUEST_TIME = DocumentTransform.FieldTransform.ServerValue.REQUEST_TIME

# Automatic ids as the client makes them: 20 letters and digits, each equally likely, from the operating
# system's randomness. A byte picks a letter only below the largest multiple of 62 (248), so none is favoured.
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ID_LENGTH = 20
_FAIR_BELOW = 256 - 256 % len(_ID_ALPHABET)
_DRAW_BYTES = 32  # about 31 fair bytes each draw: one draw nearly always does


@dataclass(frozen=True)
class Read:
    """A document's fields (None where it does not exist) and when it was last written."""

    data: dict[str, Any] | None
    update_time: Any = None


def _snapshot_read(snapshot: Any) -> Read:
    if snapshot is None or not snapshot.exists:
        return Read(None)
    return Read(snapshot.to_dict() or {}, snapshot.update_time)


def read(db: Any, ref: Any) -> Read:
    """One document: one unary call on the real client (``get`` on any other)."""
    if not isinstance(db, Client):
        return _snapshot_read(ref.get())
    try:
        document = db._firestore_api.get_document(request={"name": ref._document_path}, metadata=db._rpc_metadata)
    except NotFound:
        return Read(None)
    data: dict[str, Any] = _helpers.decode_dict(document.fields, db)  # type: ignore[assignment]  # a map's fields
    return Read(data, document.update_time)


class UnansweredRead(RuntimeError):
    """Firestore's answer to a read named neither the document found nor the document missing."""


def read_two(db: Any, first: Any, second: Any) -> tuple[Read, Read]:
    """Two documents in one ``BatchGetDocuments`` call on the real client (``get_all`` on any other).

    The stream answers each document once, found or missing, in no promised order: the answers are
    matched by name. A stream that fails is an error, and so is one that ends without answering both.
    """
    if not isinstance(db, Client):
        # get_all answers in no promised order: match the snapshots by path.
        found = {snapshot.reference.path: snapshot for snapshot in db.get_all([first, second])}
        return _snapshot_read(found.get(first.path)), _snapshot_read(found.get(second.path))
    names = (first._document_path, second._document_path)
    request = {"database": db._database_string, "documents": list(names)}
    answered: dict[str, Read] = {}
    for response in db._firestore_api.batch_get_documents(request=request, metadata=db._rpc_metadata):
        if response._pb.HasField("found"):
            document = response.found
            data: dict[str, Any] = _helpers.decode_dict(document.fields, db)  # type: ignore[assignment]
            answered[document.name] = Read(data, document.update_time)
        elif response.missing:
            answered[response.missing] = Read(None)
    if any(name not in answered for name in names):
        raise UnansweredRead("BatchGetDocuments ended without answering every document asked for")
    return answered[names[0]], answered[names[1]]


def new_id() -> str:
    """A fresh automatic document id."""
    picked: list[str] = []
    while len(picked) < _ID_LENGTH:
        fair = [byte for byte in secrets.token_bytes(_DRAW_BYTES) if byte < _FAIR_BELOW]
        picked += [_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in fair]
    return "".join(picked[:_ID_LENGTH])


def _value(value: Any) -> Any:
    """A flat field's protobuf value: text, a whole number, a flag, null, or an aware time."""
    if value is None:
        return _VALUE(null_value=0)
    if isinstance(value, bool):
        return _VALUE(boolean_value=value)
    if isinstance(value, int):
        return _VALUE(integer_value=value)
    if isinstance(value, str):
        return _VALUE(string_value=value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        whole = int(value.timestamp() // 1)
        return _VALUE(timestamp_value=Timestamp(seconds=whole, nanos=value.microsecond * 1000))
    raise TypeError(f"no direct encoding for a {type(value).__name__}")


def write_for(path: str, record: Mapping[str, Any]) -> Any:
    """The ``Write`` that ``set(record)`` makes for a flat record: its fields, then server-time transforms."""
    fields = {name: _value(value) for name, value in record.items() if value is not SERVER_TIMESTAMP}
    stamped = [
        _TRANSFORM(field_path=FieldPath(name).to_api_repr(), set_to_server_value=_REQUEST_TIME)
        for name, value in record.items()
        if value is SERVER_TIMESTAMP
    ]
    return _WRITE(update=_DOCUMENT(name=path, fields=fields), update_transforms=stamped)


def add(db: Any, collection: str, record: Mapping[str, Any]) -> None:
    """A new document with an automatic id holding a flat ``record``: one ``Commit`` on the real client."""
    if not isinstance(db, Client):
        db.collection(collection).document().set(dict(record))
        return
    path = f"{db._database_string}/documents/{collection}/{new_id()}"
    request = CommitRequest.wrap(_COMMIT(database=db._database_string, writes=[write_for(path, record)]))
    db._firestore_api.commit(request=request, metadata=db._rpc_metadata)
