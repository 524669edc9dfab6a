"""Recordings against the Storage and Firestore emulators: the storage adapter (streamed writes, hashes,
moves, deletes, signed URLs) and the retention sweep (object and record deleted when due, audited).

The provider-specific paths (LiveKit egress, JaaS uploads, the callables) run in the provider matrix
(tests/matrix/test_recordings_matrix.py), where those providers are deployed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import emulator_api as emu
import pytest
from google.cloud import firestore, storage  # type: ignore[attr-defined]

from telehealth import recording_files
from telehealth.bucket import CHUNK_BYTES, TooLarge, open_bucket
from telehealth.providers import config_from_params

BUCKET = "demo-telehealth.appspot.com"
pytestmark = pytest.mark.skipif("STORAGE_EMULATOR_HOST" not in os.environ, reason="needs the Storage emulator")


@pytest.fixture
def bucket() -> Iterator[Any]:
    raw = storage.Client(project=emu.PROJECT).bucket(BUCKET)
    for blob in raw.list_blobs():
        blob.delete()
    yield raw
    for blob in raw.list_blobs():
        blob.delete()


def names(raw: Any) -> set[str]:
    return {blob.name for blob in raw.list_blobs()}


def test_a_streamed_write_of_many_pieces_is_stored_whole_with_its_hash(bucket: Any) -> None:
    # Under one resumable chunk: the emulator finalises an upload at its first chunk (docs/recordings.md).
    data = os.urandom(CHUNK_BYTES - 123_457)
    pieces = [data[i : i + 1_000_000] for i in range(0, len(data), 1_000_000)]
    stored = open_bucket(BUCKET).write("recordings/a/w", iter(pieces), "video/mp4", len(data))
    assert (stored.size, stored.sha256, stored.content_type) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        "video/mp4",
    )
    blob = bucket.get_blob("recordings/a/w")
    assert (blob.download_as_bytes(), blob.content_type) == (data, "video/mp4")


def test_a_write_past_the_bound_keeps_nothing(bucket: Any) -> None:
    with pytest.raises(TooLarge):
        open_bucket(BUCKET).write("recordings/a/big", iter([b"x" * 600, b"y" * 600]), "video/mp4", 1000)
    assert names(bucket) == set()


def test_a_move_renames_the_egress_file_and_hashes_it_and_a_missing_one_is_none(bucket: Any) -> None:
    data = os.urandom(300_000)
    bucket.blob("recordings/a/r.mp4").upload_from_string(data, content_type="video/mp4")
    objects = open_bucket(BUCKET)
    moved = objects.move("recordings/a/r.mp4", "recordings/a/r", 10**9)
    assert moved is not None
    assert (moved.size, moved.sha256, moved.content_type) == (len(data), hashlib.sha256(data).hexdigest(), "video/mp4")
    assert names(bucket) == {"recordings/a/r"}
    assert objects.move("recordings/a/r.mp4", "recordings/a/r", 10**9) is None
    assert objects.describe("recordings/a/r", 10**9) == moved
    assert objects.describe("recordings/a/none", 10**9) is None
    with pytest.raises(TooLarge):
        objects.describe("recordings/a/r", 1000)


def test_a_delete_says_whether_there_was_an_object(bucket: Any) -> None:
    bucket.blob("recordings/a/d").upload_from_string(b"d")
    objects = open_bucket(BUCKET)
    assert objects.delete("recordings/a/d") is True
    assert objects.delete("recordings/a/d") is False


def test_a_signed_url_downloads_the_object_without_any_other_credential(bucket: Any) -> None:
    bucket.blob("recordings/a/u").upload_from_string(b"the recording", content_type="video/mp4")
    now = dt.datetime.now(dt.UTC)
    url = open_bucket(BUCKET).download_url("recordings/a/u", now + dt.timedelta(minutes=5), now)
    assert "X-Goog-Signature=" in url
    assert "X-Goog-Expires=300" in url
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the emulator's URL
        assert answer.read() == b"the recording"


def test_the_retention_sweep_deletes_object_and_record_when_due_and_audits_it(bucket: Any) -> None:
    emu.reset()
    db: firestore.Client = emu.admin_db()
    now = dt.datetime.now(dt.UTC)
    visit = db.collection("appointments").document("kept")
    for recording_id, delete_at in (("due", now - dt.timedelta(minutes=1)), ("later", now + dt.timedelta(days=1))):
        visit.collection("recordings").document(recording_id).set({"status": "ready", "deleteAt": delete_at})
        bucket.blob(f"recordings/kept/{recording_id}").upload_from_string(recording_id.encode())
    config = config_from_params(
        {"VIDEO_DOMAIN": "meet.example.test", "VIDEO_APP_ID": "demo", "VIDEO_RECORDING_BUCKET": BUCKET}
    )

    report = recording_files.sweep(db, now=now, config=config, objects=open_bucket)

    assert (report.deleted, report.failed) == (1, 0)
    assert names(bucket) == {"recordings/kept/later"}
    assert [doc.id for doc in visit.collection("recordings").stream()] == ["later"]
    (record,) = [doc.to_dict() for doc in db.collection("videoAccessLog").stream()]
    assert (record["outcome"], record["reason"], record["recordingId"], record["uid"]) == (
        "deleted",
        "retention",
        "due",
        None,
    )
    assert recording_files.sweep(db, now=now, config=config, objects=open_bucket).deleted == 0
