"""The storage adapter on an in-memory stand-in of google-cloud-storage's bucket and blob (the real client against
the Storage emulator is tested in tests/emulator/test_recordings.py): streamed writes, hashes, bounds, moves,
deletes, and how a download URL is signed on the emulator and in production."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import google.auth
import pytest
from google.api_core.exceptions import NotFound
from google.oauth2 import service_account

from telehealth import bucket
from telehealth.bucket import CHUNK_BYTES, CloudStorageObjects, StoredObject, TooLarge

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


class Blob:
    """A blob as the adapter uses one: a streamed writer, a streamed download, delete, a signed URL."""

    def __init__(self, store: Bucket, name: str, chunk_size: int | None = None) -> None:
        self.store, self.name, self.chunk_size = store, name, chunk_size
        data, content_type = store.objects.get(name, (b"", None))
        self.size: int | None = len(data) if name in store.objects else None
        self.content_type = content_type

    @contextmanager
    def open(self, mode: str, *, content_type: str, ignore_flush: bool) -> Iterator[Any]:
        assert (mode, ignore_flush, self.chunk_size) == ("wb", True, CHUNK_BYTES)
        written: list[bytes] = []

        class Writer:
            def write(self, chunk: bytes) -> None:
                written.append(chunk)

        try:
            yield Writer()
        finally:  # as the real writer does: closing finalises what was written, even when the block raised
            self.store.objects[self.name] = (b"".join(written), content_type)

    def download_to_file(self, sink: Any) -> None:
        data = self.store.objects[self.name][0]
        for start in range(0, len(data), 1000):
            assert sink.write(data[start : start + 1000]) == len(data[start : start + 1000])

    def delete(self) -> None:
        if self.name not in self.store.objects:
            raise NotFound("no such object")
        del self.store.objects[self.name]

    def generate_signed_url(self, **options: Any) -> str:
        self.store.signed.append((self.name, options))
        return f"https://storage.test/{self.name}?signed"


class Bucket:
    def __init__(self, objects: dict[str, tuple[bytes, str | None]] | None = None) -> None:
        self.objects = dict(objects or {})
        self.signed: list[tuple[str, dict[str, Any]]] = []

    def blob(self, name: str, chunk_size: int | None = None) -> Blob:
        return Blob(self, name, chunk_size)

    def get_blob(self, name: str) -> Blob | None:
        return Blob(self, name) if name in self.objects else None


DATA = bytes(range(256)) * 20


def test_a_write_streams_every_chunk_and_answers_its_size_hash_and_type() -> None:
    raw = Bucket()
    stored = CloudStorageObjects(raw).write("recordings/a/r", iter([DATA[:100], DATA[100:]]), "video/mp4", len(DATA))
    assert stored == StoredObject(len(DATA), hashlib.sha256(DATA).hexdigest(), "video/mp4")
    assert raw.objects == {"recordings/a/r": (DATA, "video/mp4")}


def test_a_write_past_the_bound_raises_and_leaves_no_object() -> None:
    raw = Bucket()
    with pytest.raises(TooLarge):
        CloudStorageObjects(raw).write("recordings/a/r", iter([b"x" * 10, b"y"]), "video/mp4", 10)
    assert raw.objects == {}


def test_a_write_of_exactly_the_bound_is_kept() -> None:
    raw = Bucket()
    assert CloudStorageObjects(raw).write("recordings/a/r", iter([b"x" * 10]), "video/mp4", 10).size == 10


@pytest.mark.parametrize(("content_type", "answered"), [("video/mp4", "video/mp4"), (None, "application/octet-stream")])
def test_describe_reads_an_object_through_once_for_its_hash(content_type: str | None, answered: str) -> None:
    objects = CloudStorageObjects(Bucket({"recordings/a/r": (DATA, content_type)}))
    assert objects.describe("recordings/a/r", len(DATA)) == StoredObject(
        len(DATA), hashlib.sha256(DATA).hexdigest(), answered
    )
    assert objects.describe("recordings/a/none", len(DATA)) is None
    with pytest.raises(TooLarge):
        objects.describe("recordings/a/r", len(DATA) - 1)


def test_a_move_copies_hashes_and_deletes_the_source_and_a_missing_source_is_none() -> None:
    raw = Bucket({"recordings/a/r.mp4": (DATA, "video/mp4")})
    objects = CloudStorageObjects(raw)
    moved = objects.move("recordings/a/r.mp4", "recordings/a/r", len(DATA))
    assert moved == StoredObject(len(DATA), hashlib.sha256(DATA).hexdigest(), "video/mp4")
    assert raw.objects == {"recordings/a/r": (DATA, "video/mp4")}
    assert objects.move("recordings/a/r.mp4", "recordings/a/r", len(DATA)) is None


def test_a_move_without_a_type_stores_the_generic_one() -> None:
    raw = Bucket({"recordings/a/r.mp4": (DATA, None)})
    moved = CloudStorageObjects(raw).move("recordings/a/r.mp4", "recordings/a/r", len(DATA))
    assert moved is not None
    assert raw.objects["recordings/a/r"][1] == "application/octet-stream"


def test_a_move_past_the_bound_keeps_the_source_and_no_target() -> None:
    raw = Bucket({"recordings/a/r.mp4": (DATA, "video/mp4")})
    with pytest.raises(TooLarge):
        CloudStorageObjects(raw).move("recordings/a/r.mp4", "recordings/a/r", len(DATA) - 1)
    assert list(raw.objects) == ["recordings/a/r.mp4"]


class Growing(Bucket):
    """A bucket whose object's stored size says less than its download gives (it grew meanwhile)."""

    def get_blob(self, name: str) -> Blob | None:
        blob = super().get_blob(name)
        if blob is not None:
            blob.size = 1
        return blob


def test_a_move_whose_object_is_larger_than_it_said_stops_at_the_bound_and_deletes_the_target() -> None:
    raw = Growing({"recordings/a/r.mp4": (DATA, "video/mp4")})
    with pytest.raises(TooLarge):
        CloudStorageObjects(raw).move("recordings/a/r.mp4", "recordings/a/r", 1500)
    assert list(raw.objects) == ["recordings/a/r.mp4"]


def test_delete_says_whether_there_was_an_object() -> None:
    objects = CloudStorageObjects(Bucket({"recordings/a/r": (DATA, "video/mp4")}))
    assert objects.delete("recordings/a/r") is True
    assert objects.delete("recordings/a/r") is False


def test_a_download_url_is_a_v4_get_url_for_the_time_left_as_an_attachment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bucket, "_signer", lambda: {"credentials": "signer"})
    raw = Bucket({"recordings/a/r": (DATA, "video/mp4")})
    url = CloudStorageObjects(raw).download_url("recordings/a/r", NOW + dt.timedelta(seconds=300), NOW)
    assert url == "https://storage.test/recordings/a/r?signed"
    assert raw.signed == [
        (
            "recordings/a/r",
            {
                "version": "v4",
                "method": "GET",
                "expiration": dt.timedelta(seconds=300),
                "response_disposition": "attachment",
                "credentials": "signer",
            },
        )
    ]


def test_on_the_emulator_one_local_key_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9199")
    monkeypatch.setattr(google.auth, "default", pytest.fail)
    first, second = bucket._signer(), bucket._signer()
    assert first["credentials"] is second["credentials"]
    assert isinstance(first["credentials"], service_account.Credentials)
    assert first["credentials"].service_account_email == "storage-emulator@localhost.invalid"
    assert set(first) == {"credentials"}


def test_in_production_a_key_file_signs_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    key_file = bucket._emulator_credentials()  # any service-account key will do
    monkeypatch.setattr(google.auth, "default", lambda: (key_file, "project"))
    assert bucket._signer() == {"credentials": key_file}


class MetadataCredentials:
    """The function's own account as the metadata server gives it: no private key, a token after refresh."""

    service_account_email = "default"
    token: str | None = None

    def refresh(self, _request: Any) -> None:
        self.service_account_email, self.token = "functions@clinic.iam.gserviceaccount.com", "access-token"


def test_in_production_without_a_key_the_account_signs_through_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(google.auth, "default", lambda: (MetadataCredentials(), "project"))
    assert bucket._signer() == {
        "service_account_email": "functions@clinic.iam.gserviceaccount.com",
        "access_token": "access-token",
    }


def test_open_bucket_opens_the_named_bucket_on_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import storage  # type: ignore[attr-defined]

    made: list[str] = []

    class Client:
        def __init__(self) -> None:
            made.append("client")

        def bucket(self, name: str) -> Bucket:
            raw = Bucket()
            raw.objects[name] = (b"", None)
            return raw

    bucket._client.cache_clear()
    monkeypatch.setattr(storage, "Client", Client)
    try:
        first, second = bucket.open_bucket("clinic-recordings"), bucket.open_bucket("other")
        assert isinstance(first, CloudStorageObjects)
        assert list(first.bucket.objects) == ["clinic-recordings"]
        assert list(second.bucket.objects) == ["other"]
        assert made == ["client"]
    finally:
        bucket._client.cache_clear()
