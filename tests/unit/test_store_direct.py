"""The join's direct Firestore calls: one unary GetDocument for one document, one BatchGetDocuments for
a doctor's two, the same answers as ``get``; and an audit record as one Commit whose Write is exactly
the one ``set`` builds.

The real client runs offline here: its generated API layer is replaced by a stand-in that answers as
Firestore does (its stream answers in reverse order, so an answer matched by position would be wrong)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core.exceptions import NotFound, ServiceUnavailable
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore import SERVER_TIMESTAMP
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.types import BatchGetDocumentsResponse, Document
from support.fakes import FakeDB

from telehealth.store import appointments, audit, direct

PREFIX = "projects/p/databases/(default)/documents/"
WRITTEN = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)


class UnaryApi:
    """Firestore's GetDocument and BatchGetDocuments by document name, and Commit.

    ``error``: every read fails; ``unanswered``: the stream leaves these names out of its answer.
    """

    def __init__(
        self, docs: dict[str, dict[str, Any]], error: Exception | None = None, unanswered: tuple[str, ...] = ()
    ) -> None:
        self.docs, self.error, self.unanswered = docs, error, unanswered
        self.requests: list[tuple[str, Any]] = []
        self.batches: list[tuple[dict[str, Any], Any]] = []
        self.commits: list[tuple[Any, Any]] = []

    def _document(self, name: str) -> Document | None:
        path = name.removeprefix(PREFIX)
        if path not in self.docs:
            return None
        return Document(name=name, fields=_helpers.encode_dict(self.docs[path]), update_time=WRITTEN)

    def batch_get_documents(self, *, request: dict[str, Any], metadata: Any) -> Iterator[BatchGetDocumentsResponse]:
        self.batches.append((request, metadata))
        for name in reversed(request["documents"]):
            if self.error is not None:
                raise self.error
            if name in self.unanswered:
                continue
            document = self._document(name)
            yield BatchGetDocumentsResponse(found=document) if document else BatchGetDocumentsResponse(missing=name)

    def commit(self, *, request: Any, metadata: Any) -> None:
        self.commits.append((request, metadata))

    def get_document(self, *, request: dict[str, str], metadata: Any) -> Document:
        self.requests.append((request["name"], metadata))
        if self.error is not None:
            raise self.error
        document = self._document(request["name"])
        if document is None:
            raise NotFound(f"no {request['name']}")
        return document


def client_with(api: UnaryApi) -> firestore.Client:
    client = firestore.Client(project="p", credentials=AnonymousCredentials())
    client._firestore_api_internal = api
    return client


APPOINTMENT = {"patientId": "p1", "video": {"roomName": "r" * 32, "doctorJoinedAt": WRITTEN}}


def appointment_in(client: firestore.Client) -> dict[str, Any]:
    """The appointment as stored, with a reference field (decoding one needs the client)."""
    return APPOINTMENT | {"doctor": client.collection("doctors").document("d1")}


def test_a_document_is_one_unary_read_by_its_full_name_with_the_clients_metadata() -> None:
    api = UnaryApi({})
    client = client_with(api)
    api.docs["appointments/a1"] = appointment_in(client)

    read = direct.read(client, client.collection("appointments").document("a1"))

    assert read == direct.Read(appointment_in(client), WRITTEN)
    assert [name for name, _ in api.requests] == [PREFIX + "appointments/a1"]
    assert api.requests[0][1] == client._rpc_metadata  # the routing header the client sends


def test_a_missing_document_reads_as_nothing() -> None:
    client = client_with(UnaryApi({}))
    assert direct.read(client, client.collection("appointments").document("gone")) == direct.Read(None, None)


@pytest.mark.parametrize("doctor_exists", [True, False], ids=["entry", "no-entry"])
def test_a_doctors_two_documents_are_one_batch_call_answered_by_name(doctor_exists: bool) -> None:
    docs = {"appointments/a1": APPOINTMENT} | ({"doctors/d1": {"active": True}} if doctor_exists else {})
    api = UnaryApi(docs)
    client = client_with(api)

    context = appointments.read_join_context(client, "a1", "d1")

    assert context == appointments.JoinContext(APPOINTMENT, {"active": True} if doctor_exists else None, WRITTEN)
    assert api.requests == []  # no unary read besides
    assert api.batches == [
        (
            {
                "database": "projects/p/databases/(default)",
                "documents": [PREFIX + "appointments/a1", PREFIX + "doctors/d1"],
            },
            client._rpc_metadata,
        )
    ]


def test_a_missing_appointment_beside_a_doctors_entry_reads_as_nothing() -> None:
    client = client_with(UnaryApi({"doctors/d1": {"active": True}}))
    context = appointments.read_join_context(client, "gone", "d1")
    assert context == appointments.JoinContext(None, {"active": True}, None)


@pytest.mark.parametrize("left_out", ["appointments/a1", "doctors/d1"])
def test_a_batch_that_ends_without_answering_a_document_is_an_error(left_out: str) -> None:
    docs = {"appointments/a1": APPOINTMENT, "doctors/d1": {"active": True}}
    client = client_with(UnaryApi(docs, unanswered=(PREFIX + left_out,)))
    with pytest.raises(direct.UnansweredRead):
        appointments.read_join_context(client, "a1", "d1")


def test_a_patients_join_reads_only_the_appointment() -> None:
    api = UnaryApi({"appointments/a1": APPOINTMENT})
    context = appointments.read_join_context(client_with(api), "a1", None)
    assert context == appointments.JoinContext(APPOINTMENT, None, WRITTEN)
    assert [name for name, _ in api.requests] == [PREFIX + "appointments/a1"]


@pytest.mark.parametrize("doctor_uid", [None, "d1"], ids=["patient", "doctor"])
def test_a_failed_read_is_an_error_not_a_missing_document(doctor_uid: str | None) -> None:
    api = UnaryApi({"appointments/a1": APPOINTMENT}, error=ServiceUnavailable("down"))
    with pytest.raises(ServiceUnavailable):
        appointments.read_join_context(client_with(api), "a1", doctor_uid)


def test_any_other_client_reads_through_get_with_the_same_answers() -> None:
    fake = FakeDB()
    fake.put("appointments/a1", APPOINTMENT)
    fake.put("doctors/d1", {"active": True})
    first, second = direct.read_two(fake, fake.collection("doctors").document("d1"), fake.collection("x").document("y"))
    assert first == direct.Read({"active": True}, fake.times["doctors/d1"])
    assert second == direct.Read(None, None)
    assert direct.read(fake, fake.collection("appointments").document("a1")) == direct.Read(
        APPOINTMENT, fake.times["appointments/a1"]
    )


# add: the audit record's write ---------------------------------------------------------------------------

PATH = PREFIX + "videoAccessLog/abc"
EXPIRES = dt.datetime(2032, 3, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
GRANTED = {
    "appointmentId": "a1",
    "uid": "p1",
    "role": "guest",
    "outcome": "granted",
    "reason": "ok",
    "at": SERVER_TIMESTAMP,
    "expireAt": EXPIRES,
    "expiresAt": 1_772_449_200,
}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(GRANTED, id="granted"),
        pytest.param({**GRANTED, "role": None, "appointmentId": None, "outcome": "denied"}, id="nulls"),
        pytest.param({key: value for key, value in GRANTED.items() if key != "expiresAt"}, id="no-expiry"),
        pytest.param({"on": True, "off": False, "zero": 0, "at": SERVER_TIMESTAMP, "b": SERVER_TIMESTAMP}, id="kinds"),
        pytest.param({"a-b": SERVER_TIMESTAMP, "t": dt.datetime(1969, 7, 20, 20, 17, 40, 5, tzinfo=dt.UTC)}, id="odd"),
    ],
)
def test_the_write_is_exactly_the_one_set_builds(record: dict[str, Any]) -> None:
    (expected,) = _helpers.pbs_for_set_no_merge(PATH, record)
    assert direct.write_for(PATH, record) == expected._pb


@pytest.mark.parametrize(
    "value", [1.5, {"a": 1}, ["x"], b"x", dt.datetime(2026, 1, 1)], ids=["float", "map", "list", "bytes", "naive"]
)
def test_a_value_it_cannot_encode_as_set_would_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match=f"^no direct encoding for a {type(value).__name__}$"):
        direct.write_for(PATH, {"field": value})


def test_an_audit_record_is_one_commit_of_one_write_under_a_fresh_id() -> None:
    api = UnaryApi({})
    client = client_with(api)

    for _ in range(2):
        assert audit.record_access(
            client, appointment_id="a1", uid="p1", role="guest", outcome="granted", reason="ok", now=0
        )

    (first, metadata), (second, _) = api.commits
    assert metadata == client._rpc_metadata
    assert first.database == "projects/p/databases/(default)"
    (write,) = first.writes
    collection, _, doc_id = write.update.name.removeprefix(PREFIX).partition("/")
    assert collection == "videoAccessLog"
    assert len(doc_id) == 20
    assert set(doc_id) <= set(direct._ID_ALPHABET)
    assert second.writes[0].update.name != write.update.name
    assert [transform.field_path for transform in write.update_transforms] == ["at"]
    assert dict(write.update.fields)["reason"].string_value == "ok"


def test_ids_use_only_the_bytes_that_favour_no_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = [bytes([248, 255, 0, 61, 62, 247]) + bytes([249] * 26), bytes(range(16)) + bytes([250] * 16)]
    asked: list[int] = []
    monkeypatch.setattr(direct.secrets, "token_bytes", lambda n: asked.append(n) or draws[len(asked) - 1])
    # 248 and up are skipped; 62 and 247 wrap round to "A" and "9"; the second draw tops the id up to 20
    # exactly, and no third is made.
    assert direct.new_id() == "A9A9" + "ABCDEFGHIJKLMNOP"
    assert asked == [32, 32]


def test_fresh_ids_differ() -> None:
    ids = {direct.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(doc_id) == 20 and set(doc_id) <= set(direct._ID_ALPHABET) for doc_id in ids)
