"""Shared fixtures for the fast tests: a frozen clock, configs, keys, an in-memory Firestore."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter
from mockfirestore import AlreadyExists, MockFirestore
from mockfirestore._helpers import get_by_path
from mockfirestore.collection import CollectionReference
from mockfirestore.document import DocumentReference
from mockfirestore.query import Query
from support.callables import DOCTOR, DOCTOR_CLAIMS, HMAC_SECRET, PATIENT, STRANGER  # noqa: F401 - re-exported
from support.configs import jitsi_config
from support.fakes import apply_field_paths, serial_transactional  # noqa: F401 - the tests import it from here

from telehealth.config import Settings
from telehealth.providers import build_settings

# A fixed instant every test measures from: 2026-03-02 10:00:00 UTC.
NOW = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC)
NOW_S = int(NOW.timestamp())
DOCTOR_ENTRY = {"displayName": "Dr. Ada", "active": True, "specialty": "General practice"}


def _create(self: DocumentReference, data: dict[str, Any]) -> None:
    """``create`` as Firestore does it: only when the document does not exist yet."""
    if self.get().exists:
        raise AlreadyExists(f"Document already exists: {self.path}")
    self.set(data)


_plain_update = DocumentReference.update


def _update(self: DocumentReference, data: dict[str, Any], option: Any = None) -> None:
    """``update`` with dotted field paths, as Firestore does them; preconditions are not modelled here."""
    dotted = {key: value for key, value in data.items() if "." in key}
    _plain_update(self, {key: value for key, value in data.items() if "." not in key})
    # The stored dict itself, not a snapshot's copy.
    apply_field_paths(get_by_path(self._data, self._path), dotted)


def _filtering(plain: Any) -> Any:
    """``where(filter=FieldFilter(...))``, as the real client takes it, on mock-firestore's positional where."""

    def where(
        self: Any, field: str | None = None, op: str | None = None, value: Any = None, *, filter: Any = None
    ) -> Any:
        if isinstance(filter, FieldFilter):
            field, op, value = filter.field_path, filter.op_string, filter.value
        return plain(self, field, op, value)

    return where


# mock-firestore lacks what the real client has and store.py uses: a reference's path, create(),
# update() with dotted paths and an option, write_option(), and where() with a FieldFilter.
CollectionReference.where = _filtering(CollectionReference.where)  # type: ignore[method-assign]
Query.where = _filtering(Query.where)  # type: ignore[method-assign]
DocumentReference.path = property(lambda self: "/".join(self._path))  # type: ignore[attr-defined]
DocumentReference.create = _create  # type: ignore[attr-defined]
DocumentReference.update = _update  # type: ignore[method-assign]
MockFirestore.write_option = lambda self, **_: object()  # type: ignore[attr-defined]


def appointment(**overrides: Any) -> dict[str, Any]:
    """A confirmed video appointment from NOW+5 min to NOW+35 min with a room the doctor has joined."""
    base: dict[str, Any] = {
        "patientId": PATIENT,
        "doctorId": DOCTOR,
        "type": "video",
        "status": "confirmed",
        "startTime": NOW + dt.timedelta(minutes=5),
        "endTime": NOW + dt.timedelta(minutes=35),
        "video": {
            "roomName": "a" * 32,
            "provider": "jitsi",
            "roomUrl": "https://meet.clinic.test/" + "a" * 32,
            "doctorJoinedAt": NOW - dt.timedelta(minutes=1),
        },
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


@pytest.fixture
def settings() -> Settings:
    return build_settings(jitsi_config(), HMAC_SECRET)


@pytest.fixture
def db() -> MockFirestore:
    """An in-memory Firestore with the clinic's doctor in the directory."""
    fake = MockFirestore()
    fake.collection("doctors").document(DOCTOR).set(dict(DOCTOR_ENTRY))
    return fake


def snapshot(db: MockFirestore) -> dict[str, Any]:
    """Every stored document by collection, deep-copied, to compare before/after.

    mock-firestore leaves an empty dict behind when a missing document is read, and an empty
    subcollection inside a document when one is queried; neither is a write.
    """
    return {
        name: {key: _without_empty_subcollections(doc) for key, doc in docs.items() if doc != {}}
        for name, docs in db._data.items()
        if any(doc != {} for doc in docs.values())
    }


SUBCOLLECTIONS = ("attendance", "guests", "recordings")


def _without_empty_subcollections(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in doc.items() if not (key in SUBCOLLECTIONS and value == {})}
