"""Reads of known documents, each one unary ``GetDocument`` call.

The client's ``DocumentReference.get`` and ``get_all`` ask through ``BatchGetDocuments``, a server
stream; in grpc-python a stream costs about twice the CPU of a unary call, and a join's read is half
its Firestore work (``make bench``: docs/benchmarks.md). So the join reads its documents with
``GetDocument``, the second one (the doctor's directory entry) at the same time as the first. The
answer is the same: the document's fields and when it was last written, or nothing where it does not
exist. A client that is not the real one (the unit tests' in-memory fakes) reads through ``get``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud.firestore_v1 import Client, _helpers

# A request reads at most one document here while its own thread reads the other; one worker per
# concurrent request of an instance (functions/main.py SERVING) keeps a doctor's two reads side by side.
_SECOND_READS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="second-read")


@dataclass(frozen=True)
class Read:
    """A document's fields (None where it does not exist) and when it was last written."""

    data: dict[str, Any] | None
    update_time: Any = None


def _snapshot_read(snapshot: Any) -> Read:
    if snapshot is None or not snapshot.exists:
        return Read(None)
    return Read(snapshot.to_dict() or {}, getattr(snapshot, "update_time", None))


def read(db: Any, ref: Any) -> Read:
    """One document: one unary call on the real client (``get`` on any other)."""
    if not isinstance(db, Client):
        return _snapshot_read(ref.get())
    try:
        # The client's own request for this document (its path, its routing and auth metadata),
        # with the generated client's default retries and timeout, as ``get`` has them.
        document = db._firestore_api.get_document(request={"name": ref._document_path}, metadata=db._rpc_metadata)
    except NotFound:
        return Read(None)
    data: dict[str, Any] = _helpers.decode_dict(document.fields, db)  # type: ignore[assignment]  # a map's fields
    return Read(data, document.update_time)


def read_two(db: Any, first: Any, second: Any) -> tuple[Read, Read]:
    """Two documents at once: the second on a worker thread while this one reads the first."""
    if not isinstance(db, Client):
        # get_all answers in no promised order: match the snapshots by path.
        found = {snapshot.reference.path: snapshot for snapshot in db.get_all([first, second])}
        return _snapshot_read(found.get(first.path)), _snapshot_read(found.get(second.path))
    pending = _SECOND_READS.submit(read, db, second)
    return read(db, first), pending.result()
