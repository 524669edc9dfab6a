"""One faithful fake Firestore for the unit tests: update-time preconditions, create-only writes, batched
reads in any order, transactions whose writes land at commit (what mock-firestore cannot do) and may
read queries, equality queries on one collection, with failure injection (``fail_next``) for the
writes a test wants to see fail."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import Conflict, FailedPrecondition, NotFound
from google.cloud.firestore import DELETE_FIELD
from google.cloud.firestore_v1.base_query import FieldFilter


def apply_field_paths(document: dict[str, Any], changes: dict[str, Any]) -> None:
    """Apply an ``update``'s field paths to a stored dict in place, as Firestore does (``a.b`` nests)."""
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = document
        for name in parents:
            node = node.setdefault(name, {})
        if value is DELETE_FIELD:
            node.pop(leaf, None)
        else:
            node[leaf] = copy.deepcopy(value)


def serial_transactional(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Stands in for ``google.cloud.firestore.transactional`` with a fake whose transactions are serial:
    run the function once, then commit what it wrote."""

    def run(transaction: Any) -> Any:
        result = function(transaction)
        transaction.commit()
        return result

    return run


@dataclass(frozen=True)
class Precondition:
    last_update_time: Any


class Snapshot:
    def __init__(self, ref: Ref, data: dict[str, Any] | None, update_time: int | None) -> None:
        self.reference, self._data, self.update_time = ref, copy.deepcopy(data), update_time
        self.exists = data is not None
        self.id = ref.path.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._data)


class FakeDB:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.times: dict[str, int] = {}
        self.clock = 100
        self.writes: list[tuple[str, str, Any]] = []  # (kind, path, precondition)
        self.transactions = 0
        self.auto_ids = 0
        # What the next writes do, in order: raise the error (and write nothing), or None: land.
        self.fail_next: list[Exception | None] = []

    def check_failure(self) -> None:
        failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            raise failure

    def collection(self, name: str) -> Collection:
        return Collection(self, name)

    def write_option(self, *, last_update_time: Any) -> Precondition:
        return Precondition(last_update_time)

    def get_all(self, refs: list[Ref]) -> list[Snapshot]:
        return [ref.get() for ref in reversed(refs)]  # no promised order

    def transaction(self) -> Transaction:
        self.transactions += 1
        return Transaction(self)

    def put(self, path: str, data: dict[str, Any]) -> None:
        self.clock += 1
        self.docs[path], self.times[path] = copy.deepcopy(data), self.clock


def field_value(data: dict[str, Any], field_path: str) -> Any:
    """A (dotted) field of a document, or None."""
    node: Any = data
    for name in field_path.split("."):
        node = node.get(name) if isinstance(node, dict) else None
    return node


class Query:
    """Equality (``==``, ``in``) filters on the documents directly in one collection, in path order."""

    def __init__(self, db: FakeDB, path: str, filters: tuple[FieldFilter, ...] = (), count: int | None = None) -> None:
        self.db, self.path, self.filters, self.count = db, path, filters, count

    def where(self, *, filter: FieldFilter) -> Query:
        if filter.op_string not in ("==", "in"):
            raise NotImplementedError(f"the fake has no {filter.op_string!r} filter")
        return Query(self.db, self.path, (*self.filters, filter), self.count)

    def limit(self, count: int) -> Query:
        return Query(self.db, self.path, self.filters, count)

    def _matches(self, data: dict[str, Any]) -> bool:
        for spec in self.filters:
            value = field_value(data, spec.field_path)
            if not (value == spec.value if spec.op_string == "==" else value in spec.value):
                return False
        return True

    def stream(self) -> list[Snapshot]:
        prefix = f"{self.path}/"
        paths = sorted(path for path in self.db.docs if path.startswith(prefix) and "/" not in path[len(prefix) :])
        found = [Ref(self.db, path).get() for path in paths if self._matches(self.db.docs[path])]
        return found if self.count is None else found[: self.count]


class Collection:
    def __init__(self, db: FakeDB, path: str) -> None:
        self.db, self.path = db, path

    def document(self, doc_id: str | None = None) -> Ref:
        if doc_id is None:  # an automatic id
            self.db.auto_ids += 1
            doc_id = f"auto{self.db.auto_ids}"
        return Ref(self.db, f"{self.path}/{doc_id}")

    def where(self, *, filter: FieldFilter) -> Query:
        return Query(self.db, self.path).where(filter=filter)

    def stream(self) -> list[Snapshot]:
        return Query(self.db, self.path).stream()


class Ref:
    def __init__(self, db: FakeDB, path: str) -> None:
        self.db, self.path = db, path

    @property
    def id(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def collection(self, name: str) -> Collection:
        return Collection(self.db, f"{self.path}/{name}")

    def get(self) -> Snapshot:
        return Snapshot(self, self.db.docs.get(self.path), self.db.times.get(self.path))

    def set(self, data: dict[str, Any]) -> None:
        self.db.check_failure()
        self.db.writes.append(("set", self.path, None))
        self.db.put(self.path, data)

    def create(self, data: dict[str, Any]) -> None:
        self.db.check_failure()
        if self.path in self.db.docs:
            raise Conflict("already exists")
        self.db.writes.append(("create", self.path, None))
        self.db.put(self.path, data)

    def update(self, changes: dict[str, Any], option: Precondition | None = None) -> None:
        self.db.check_failure()
        if self.path not in self.db.docs:
            raise NotFound("no document")
        if option is not None and option.last_update_time != self.db.times[self.path]:
            raise FailedPrecondition("changed since")
        data = copy.deepcopy(self.db.docs[self.path])
        apply_field_paths(data, changes)
        self.db.writes.append(("update", self.path, option))
        self.db.put(self.path, data)


class Transaction:
    """Serial: reads see the committed state, writes land together at commit."""

    def __init__(self, db: FakeDB) -> None:
        self.db = db
        self.pending: list[Callable[[], None]] = []

    def get(self, ref: Ref | Query) -> list[Snapshot]:
        return ref.stream() if isinstance(ref, Query) else [ref.get()]

    def update(self, ref: Ref, changes: dict[str, Any]) -> None:
        self.pending.append(lambda: ref.update(changes))

    def create(self, ref: Ref, data: dict[str, Any]) -> None:
        self.pending.append(lambda: ref.create(data))

    def commit(self) -> None:
        for write in self.pending:
            write()
