"""Reads of known documents: one unary GetDocument each on the real client, the two of a doctor's join side
by side; the same answers as ``get`` (fields and update time, or nothing for a missing document).

The real client runs offline here: its generated API layer is replaced by a stand-in that answers as
Firestore does and has no ``batch_get_documents`` (a read through the stream fails)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from google.api_core.exceptions import NotFound, ServiceUnavailable
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.types import Document
from support.fakes import FakeDB

from telehealth.store import appointments, reads

PREFIX = "projects/p/databases/(default)/documents/"
WRITTEN = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)


class UnaryApi:
    """Firestore's GetDocument by document name; optionally waits until ``together`` calls are in flight."""

    def __init__(self, docs: dict[str, dict[str, Any]], together: int = 1, error: Exception | None = None) -> None:
        self.docs, self.error = docs, error
        self.requests: list[tuple[str, Any]] = []
        self._barrier = threading.Barrier(together, timeout=5) if together > 1 else None

    def get_document(self, *, request: dict[str, str], metadata: Any) -> Document:
        self.requests.append((request["name"], metadata))
        if self._barrier is not None:
            self._barrier.wait()  # BrokenBarrierError: the reads did not overlap
        if self.error is not None:
            raise self.error
        path = request["name"].removeprefix(PREFIX)
        if path not in self.docs:
            raise NotFound(f"no {path}")
        return Document(name=request["name"], fields=_helpers.encode_dict(self.docs[path]), update_time=WRITTEN)


def client_with(api: UnaryApi) -> firestore.Client:
    client = firestore.Client(project="p", credentials=AnonymousCredentials())
    client._firestore_api_internal = api
    return client


APPOINTMENT = {"patientId": "p1", "video": {"roomName": "r" * 32, "doctorJoinedAt": WRITTEN}}


def test_a_document_is_one_unary_read_by_its_full_name_with_the_clients_metadata() -> None:
    api = UnaryApi({"appointments/a1": APPOINTMENT})
    client = client_with(api)

    read = reads.read(client, client.collection("appointments").document("a1"))

    assert read == reads.Read(APPOINTMENT, WRITTEN)
    assert [name for name, _ in api.requests] == [PREFIX + "appointments/a1"]
    assert api.requests[0][1] == client._rpc_metadata  # the routing header the client sends


def test_a_missing_document_reads_as_nothing() -> None:
    client = client_with(UnaryApi({}))
    assert reads.read(client, client.collection("appointments").document("gone")) == reads.Read(None, None)


@pytest.mark.parametrize("doctor_exists", [True, False], ids=["entry", "no-entry"])
def test_a_doctors_two_documents_are_read_at_the_same_time_and_answered_in_order(doctor_exists: bool) -> None:
    docs = {"appointments/a1": APPOINTMENT} | ({"doctors/d1": {"active": True}} if doctor_exists else {})
    api = UnaryApi(docs, together=2)
    client = client_with(api)

    context = appointments.read_join_context(client, "a1", "d1")

    assert context == appointments.JoinContext(APPOINTMENT, {"active": True} if doctor_exists else None, WRITTEN)
    assert sorted(name for name, _ in api.requests) == [PREFIX + "appointments/a1", PREFIX + "doctors/d1"]


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
    first, second = reads.read_two(fake, fake.collection("doctors").document("d1"), fake.collection("x").document("y"))
    assert first == reads.Read({"active": True}, fake.times["doctors/d1"])
    assert second == reads.Read(None, None)
    assert reads.read(fake, fake.collection("appointments").document("a1")) == reads.Read(
        APPOINTMENT, fake.times["appointments/a1"]
    )
