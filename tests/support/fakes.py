"""One faithful fake Firestore for the unit tests: update-time preconditions, create-only writes, batched
reads in any order, queries on a collection or a collection group (filters, order, limit; read in
transactions too), and transactions whose
writes land together at commit (what mock-firestore cannot do), with failure injection: ``fail_next`` for
the writes a test wants to see fail, ``failure_rate`` for random transient failures (the lifecycle model),
and ``on_write`` listeners that see every write as the event a trigger would get."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import Conflict, FailedPrecondition, NotFound, ServiceUnavailable
from google.cloud.firestore import DELETE_FIELD


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
        self.queries: list[dict[str, Any]] = []  # each query's shape, as Query.stream records it
        self.auto_ids = 0
        # What the next writes do, in order: raise the error (and write nothing), or None: land.
        self.fail_next: list[Exception | None] = []
        # Beyond fail_next: each write, and each transaction's start, fails with ServiceUnavailable at this rate.
        self.failure_rate = 0.0
        self.rng = random.Random(0)  # noqa: S311 - reproducible failure injection, not secrets
        # Called after every write (set, create, update; a transaction's once per write) with what a trigger's
        # event carries: path, the data before (None if created), the data after, the new update time, and
        # the written fields (the whole document for set/create).
        self.on_write: list[Callable[[str, dict[str, Any] | None, dict[str, Any], int, dict[str, Any]], None]] = []

    def check_failure(self) -> None:
        failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is None and self.failure_rate and self.rng.random() < self.failure_rate:
            failure = ServiceUnavailable("injected")
        if failure is not None:
            raise failure

    def written(self, path: str, before: dict[str, Any] | None, changes: dict[str, Any]) -> None:
        for listener in self.on_write:
            listener(path, copy.deepcopy(before), copy.deepcopy(self.docs[path]), self.times[path], changes)

    def collection(self, name: str) -> Collection:
        return Collection(self, name)

    def write_option(self, *, last_update_time: Any) -> Precondition:
        return Precondition(last_update_time)

    def get_all(self, refs: list[Ref]) -> list[Snapshot]:
        return [ref.get() for ref in reversed(refs)]  # no promised order

    def transaction(self) -> Transaction:
        if self.failure_rate and self.rng.random() < self.failure_rate:
            raise ServiceUnavailable("injected")
        self.transactions += 1
        return Transaction(self)

    def collection_group(self, name: str) -> Query:
        return Query(self, name, group=True)

    def put(self, path: str, data: dict[str, Any]) -> None:
        self.clock += 1
        self.docs[path], self.times[path] = copy.deepcopy(data), self.clock


def field_at(document: dict[str, Any], field_path: str) -> tuple[bool, Any]:
    """Whether a (dotted) field is present, and its value."""
    node: Any = document
    for name in field_path.split("."):
        if not isinstance(node, dict) or name not in node:
            return False, None
        node = node[name]
    return True, node


MATCHES: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda value, operand: value == operand,
    "in": lambda value, operand: value in operand,
    ">": lambda value, operand: type(value) is type(operand) and value > operand,
    ">=": lambda value, operand: type(value) is type(operand) and value >= operand,
    "<": lambda value, operand: type(value) is type(operand) and value < operand,
    "<=": lambda value, operand: type(value) is type(operand) and value <= operand,
}


class Query:
    """A query as Firestore answers it, on one collection or a collection group: a document lacking a
    filtered or ordered field is left out, range filters compare within one type; ``stream`` records the
    query's shape in ``db.queries`` (which collection, filters, order and limit), so a test can check it
    against the declared indexes."""

    def __init__(
        self,
        db: FakeDB,
        path: str,
        filters: tuple[tuple[str, str, Any], ...] = (),
        order: str = "",
        count: int = 0,
        *,
        group: bool = False,
    ) -> None:
        self.db, self.path, self.filters, self.order, self.count = db, path, filters, order, count
        self.group = group  # path is then a collection id, matched in any parent

    def _with(self, **changes: Any) -> Query:
        fields = {"filters": self.filters, "order": self.order, "count": self.count} | changes
        return Query(self.db, self.path, **fields, group=self.group)

    def where(self, *, filter: Any) -> Query:
        return self._with(filters=(*self.filters, (filter.field_path, filter.op_string, filter.value)))

    def order_by(self, field_path: str) -> Query:
        return self._with(order=field_path)

    def limit(self, count: int) -> Query:
        return self._with(count=count)

    def _in_scope(self, path: str) -> bool:
        parent = path.rpartition("/")[0]
        return parent.rpartition("/")[2] == self.path if self.group else parent == self.path

    def stream(self) -> list[Snapshot]:
        self.db.queries.append(
            {"collection": self.path, "where": list(self.filters), "order_by": self.order, "limit": self.count}
            | ({"group": True} if self.group else {})
        )
        found = []
        for path in sorted(self.db.docs):
            if not self._in_scope(path):
                continue
            document = self.db.docs[path]
            ordered = not self.order or field_at(document, self.order)[0]
            if ordered and all(self.holds(document, *condition) for condition in self.filters):
                found.append(path)
        if self.order:
            found.sort(key=lambda path: field_at(self.db.docs[path], self.order)[1])
        if self.count:
            found = found[: self.count]
        return [Ref(self.db, path).get() for path in found]

    @staticmethod
    def holds(document: dict[str, Any], field_path: str, op: str, operand: Any) -> bool:
        present, value = field_at(document, field_path)
        return present and MATCHES[op](value, operand)


class Collection:
    def __init__(self, db: FakeDB, path: str) -> None:
        self.db, self.path = db, path

    def where(self, *, filter: Any) -> Query:
        return Query(self.db, self.path).where(filter=filter)

    def order_by(self, field_path: str) -> Query:
        return Query(self.db, self.path).order_by(field_path)

    def limit(self, count: int) -> Query:
        return Query(self.db, self.path).limit(count)

    def stream(self) -> list[Snapshot]:
        return Query(self.db, self.path).stream()

    def document(self, doc_id: str | None = None) -> Ref:
        if doc_id is None:  # an automatic id
            self.db.auto_ids += 1
            doc_id = f"auto{self.db.auto_ids}"
        return Ref(self.db, f"{self.path}/{doc_id}")


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

    def set(self, data: dict[str, Any], *, checked: bool = True) -> None:
        if checked:
            self.db.check_failure()
        before = self.db.docs.get(self.path)
        self.db.writes.append(("set", self.path, None))
        self.db.put(self.path, data)
        self.db.written(self.path, before, data)

    def create(self, data: dict[str, Any], *, checked: bool = True) -> None:
        if checked:
            self.db.check_failure()
        if self.path in self.db.docs:
            raise Conflict("already exists")
        self.db.writes.append(("create", self.path, None))
        self.db.put(self.path, data)
        self.db.written(self.path, None, data)

    def delete(self) -> None:
        self.db.check_failure()
        self.db.writes.append(("delete", self.path, None))
        self.db.docs.pop(self.path, None)
        self.db.times.pop(self.path, None)

    def update(self, changes: dict[str, Any], option: Precondition | None = None, *, checked: bool = True) -> None:
        if checked:
            self.db.check_failure()
        if self.path not in self.db.docs:
            raise NotFound("no document")
        if option is not None and option.last_update_time != self.db.times[self.path]:
            raise FailedPrecondition("changed since")
        before = self.db.docs[self.path]
        data = copy.deepcopy(before)
        apply_field_paths(data, changes)
        self.db.writes.append(("update", self.path, option))
        self.db.put(self.path, data)
        self.db.written(self.path, before, changes)


class Transaction:
    """Serial: reads see the committed state; at commit either every write lands or (a failure) none does."""

    def __init__(self, db: FakeDB) -> None:
        self.db = db
        self.pending: list[Callable[[], None]] = []

    def get(self, ref: Ref | Query) -> list[Snapshot]:
        return ref.stream() if isinstance(ref, Query) else [ref.get()]

    def update(self, ref: Ref, changes: dict[str, Any]) -> None:
        self.pending.append(lambda: ref.update(changes, checked=False))

    def create(self, ref: Ref, data: dict[str, Any]) -> None:
        self.pending.append(lambda: ref.create(data, checked=False))

    def commit(self) -> None:
        self.db.check_failure()
        for write in self.pending:
            write()
