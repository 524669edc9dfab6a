"""Recordings' files: provider events settling the metadata and queueing a copy, the copy job, the retention sweep.

On the faithful fake Firestore and an in-memory bucket; the download link is a fake ``open_link`` (the real one
is tested against the loopback link stand-in in test_links).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import NOW, appointment, serial_transactional
from google.cloud.firestore import SERVER_TIMESTAMP
from support.configs import video_config
from support.fakes import FakeDB
from support.stored_objects import FakeObjects

from telehealth import links, recording_files
from telehealth.config import VideoConfig
from telehealth.providers.base import RecordingEvent
from telehealth.recording_files import consent_covers, job_id
from telehealth.store import recordings as store

BUCKET = "clinic-recordings"
ROOM = "r" * 32
LINK = "https://objectstorage.example.test/p/par-token/recording.mp4"
RECORDING = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
STARTED = NOW - dt.timedelta(minutes=20)
ENDED = NOW - dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "transactional", serial_transactional)


def config(provider: str = "livekit", **settings: Any) -> VideoConfig:
    values: dict[str, Any] = {"provider": provider, "app_id": "APIclinic", "recording_bucket": BUCKET}
    values["domain"] = "lk.clinic.test" if provider == "livekit" else "8x8.vc"
    if provider == "jaas":
        values["key_id"] = "kid"
    return video_config(**{**values, **settings})


def seeded(consent: Any = None, recording: dict[str, Any] | None = None) -> FakeDB:
    db = FakeDB()
    video: dict[str, Any] = {"roomName": ROOM, "provider": "livekit"}
    if consent is not None:
        video["recordingConsent"] = consent
    db.put("appointments/a1", appointment(video=video))
    if recording is not None:
        db.put("appointments/a1/recordings/rec1", recording)
    return db


def meta(db: FakeDB, recording_id: str = "rec1") -> dict[str, Any] | None:
    return db.docs.get(f"appointments/a1/recordings/{recording_id}")


def jobs(db: FakeDB) -> dict[str, dict[str, Any]]:
    return {path.split("/", 1)[1]: data for path, data in db.docs.items() if path.startswith("videoRecordingJobs/")}


def audits(db: FakeDB, appointment_id: str = "a1") -> list[tuple[str, str, str]]:
    """The audit records of the backend's own acts on recordings (each of the appointment, without a caller)."""
    rows = [data for path, data in db.docs.items() if path.startswith("videoAccessLog/")]
    assert all((row["appointmentId"], row["uid"], row["role"]) == (appointment_id, None, None) for row in rows)
    return sorted((row["outcome"], row["reason"], row["recordingId"]) for row in rows)


def in_bucket(objects: FakeObjects) -> Any:
    """The bucket opener the use cases get: only the configured bucket exists."""

    def open_bucket(name: str) -> FakeObjects:
        assert name == BUCKET
        return objects

    return open_bucket


def ended(complete: bool = True, written: str = "recordings/a1/rec1.mp4", egress: str = "EG_1") -> RecordingEvent:
    return RecordingEvent("EV_1", ROOM, "ended", egress, NOW, STARTED, ENDED, complete, written)


def uploaded(started: dt.datetime | None = STARTED, link: str = LINK) -> RecordingEvent:
    return RecordingEvent("key-1", ROOM, "uploaded", "session-1", NOW, started, ENDED, link=link)


@pytest.mark.parametrize("status", ["recording", "processing"])
def test_an_ended_egress_queues_the_check_of_its_file(status: str) -> None:
    db = seeded(recording={"status": status, "providerRecordingId": "EG_1"})
    assert recording_files.on_recording_event(db, ended(), config(), in_bucket(FakeObjects()), NOW) is True
    assert meta(db) == {"status": "processing", "providerRecordingId": "EG_1", "endedAt": ENDED}
    assert jobs(db) == {
        job_id("a1", "rec1"): {
            "appointmentId": "a1",
            "recordingId": "rec1",
            "source": "object",
            "path": "recordings/a1/rec1.mp4",
            "queuedAt": NOW,
        }
    }


def test_a_file_reported_outside_the_recordings_own_path_is_not_taken() -> None:
    db = seeded(recording={"status": "recording", "providerRecordingId": "EG_1"})
    recording_files.on_recording_event(
        db, ended(written="recordings/other/x.mp4"), config(), in_bucket(FakeObjects()), NOW
    )
    assert jobs(db)[job_id("a1", "rec1")]["path"] == "recordings/a1/rec1"


def test_a_failed_egress_keeps_nothing_and_is_recorded_as_failed() -> None:
    db = seeded(recording={"status": "recording", "providerRecordingId": "EG_1"})
    objects = FakeObjects({"recordings/a1/rec1.mp4": b"partial"})
    assert recording_files.on_recording_event(db, ended(complete=False), config(), in_bucket(objects), NOW) is True
    assert meta(db) == {
        "status": "failed",
        "providerRecordingId": "EG_1",
        "reason": "provider_failed",
        "endedAt": ENDED,
    }
    assert objects.files == {}
    assert jobs(db) == {}
    assert audits(db) == [("failed", "provider_failed", "rec1")]


def test_the_file_of_a_discarded_recording_is_deleted_when_its_egress_ends() -> None:
    db = seeded(recording={"status": "discarded", "providerRecordingId": "EG_1", "reason": "consent_withdrawn"})
    objects = FakeObjects({"recordings/a1/rec1.mp4": RECORDING})
    assert recording_files.on_recording_event(db, ended(), config(), in_bucket(objects), NOW) is True
    assert objects.files == {}
    assert sorted(objects.deleted) == ["recordings/a1/rec1", "recordings/a1/rec1.mp4"]
    assert (meta(db) or {})["status"] == "discarded"
    assert jobs(db) == {}


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "incomplete"])
@pytest.mark.parametrize(
    ("recording", "settings"),
    [
        pytest.param({"status": "ready", "providerRecordingId": "EG_1"}, {}, id="stored already: a re-delivery"),
        pytest.param({"status": "failed", "providerRecordingId": "EG_1"}, {}, id="failed already"),
        pytest.param({"status": "recording", "providerRecordingId": "EG_2"}, {}, id="not an egress of ours"),
        pytest.param({"status": "recording", "providerRecordingId": "EG_1"}, {"recording_bucket": ""}, id="off"),
    ],
)
def test_an_ended_egress_that_is_not_ours_to_settle_changes_nothing(
    recording: dict[str, Any], settings: dict[str, Any], complete: bool
) -> None:
    db = seeded(recording=recording)
    before = dict(db.docs)
    objects = FakeObjects({"recordings/a1/rec1": RECORDING})
    event = ended(complete=complete)
    assert recording_files.on_recording_event(db, event, config(**settings), in_bucket(objects), NOW) is False
    assert db.docs == before
    assert (objects.deleted, list(objects.files)) == ([], ["recordings/a1/rec1"])


def test_each_recording_has_one_job_id_of_its_own() -> None:
    ids = {job_id("a1", "rec1"), job_id("a1_x", "y"), job_id("a1", "x_y"), job_id("a1", "rec2")}
    assert len(ids) == 4
    assert all(len(one) == 40 and int(one, 16) >= 0 for one in ids)
    assert job_id("a1", "rec1") == job_id("a1", "rec1")


CONSENT: list[Any] = [
    pytest.param(
        {"consent": True, "at": STARTED - dt.timedelta(minutes=1)}, STARTED, True, id="given before the start"
    ),
    pytest.param({"consent": True, "at": STARTED}, STARTED, True, id="given at the start"),
    pytest.param({"consent": True, "at": STARTED + dt.timedelta(seconds=1)}, STARTED, False, id="answered again since"),
    pytest.param({"consent": False, "at": STARTED - dt.timedelta(minutes=1)}, STARTED, False, id="a no"),
    pytest.param({"consent": True, "at": NOW}, None, True, id="a yes, start unknown"),
    pytest.param({"consent": "true", "at": NOW}, None, False, id="not the boolean"),
    pytest.param({"consent": True}, STARTED, False, id="no time"),
    pytest.param(None, None, False, id="no answer"),
]


@pytest.mark.parametrize(("consent", "started", "covered"), CONSENT)
def test_consent_covers_a_recording_only_when_it_stood_from_before_the_start(
    consent: Any, started: dt.datetime | None, covered: bool
) -> None:
    visit = appointment(video={"roomName": ROOM, **({"recordingConsent": consent} if consent is not None else {})})
    assert consent_covers(visit, started) is covered


def test_a_consented_upload_is_recorded_and_its_copy_queued_without_the_link_in_the_metadata() -> None:
    db = seeded(consent={"consent": True, "at": STARTED - dt.timedelta(minutes=1)})
    assert recording_files.on_recording_event(db, uploaded(), config("jaas"), in_bucket(FakeObjects()), NOW) is True
    recorded = meta(db, "session-1") or {}
    assert {key: value for key, value in recorded.items() if key != "createdAt"} == {
        "provider": "jaas",
        "providerRecordingId": "session-1",
        "startedAt": STARTED,
        "endedAt": ENDED,
        "patientAccess": False,
        "deleteAt": NOW + dt.timedelta(days=90),
        "status": "processing",
    }
    assert LINK not in str(recorded)
    assert jobs(db)[job_id("a1", "session-1")] == {
        "appointmentId": "a1",
        "recordingId": "session-1",
        "source": "link",
        "link": LINK,
        "queuedAt": NOW,
    }


@pytest.mark.parametrize(
    ("consent", "event", "status", "reason"),
    [
        pytest.param({"consent": False, "at": STARTED}, uploaded(), "discarded", "no_consent", id="withdrawn"),
        pytest.param(
            {"consent": True, "at": STARTED + dt.timedelta(minutes=5)},
            uploaded(),
            "discarded",
            "no_consent",
            id="withdrawn and given again while it ran",
        ),
        pytest.param(
            {"consent": True, "at": STARTED - dt.timedelta(minutes=1)},
            uploaded(link="http://objectstorage.example.test/p/x"),
            "failed",
            "link_not_allowed",
            id="a link that is not https",
        ),
    ],
)
def test_an_upload_the_consent_does_not_cover_or_whose_link_is_refused_is_not_copied(
    consent: Any, event: RecordingEvent, status: str, reason: str
) -> None:
    db = seeded(consent=consent)
    assert recording_files.on_recording_event(db, event, config("jaas"), in_bucket(FakeObjects()), NOW) is True
    recorded = meta(db, "session-1") or {}
    assert (recorded["status"], recorded["reason"]) == (status, reason)
    assert jobs(db) == {}
    assert audits(db) == [(status, reason, "session-1")]
    assert recording_files.on_recording_event(db, event, config("jaas"), in_bucket(FakeObjects()), NOW) is False


def test_an_upload_redelivered_queues_one_copy_and_one_for_a_room_nobody_holds_records_nothing() -> None:
    db = seeded(consent={"consent": True, "at": STARTED})
    assert recording_files.on_recording_event(db, uploaded(), config("jaas"), in_bucket(FakeObjects()), NOW) is True
    before = dict(db.docs)
    assert recording_files.on_recording_event(db, uploaded(), config("jaas"), in_bucket(FakeObjects()), NOW) is False
    assert db.docs == before
    stranger = RecordingEvent("key-2", "z" * 32, "uploaded", "session-2", NOW, STARTED, ENDED, link=LINK)
    assert recording_files.on_recording_event(db, stranger, config("jaas"), in_bucket(FakeObjects()), NOW) is False
    assert db.docs == before


@pytest.mark.parametrize("status", ["ready", "failed", "discarded"])
def test_an_upload_redelivered_after_it_was_settled_queues_nothing(status: str) -> None:
    db = seeded(consent={"consent": True, "at": STARTED})
    db.put("appointments/a1/recordings/session-1", {"status": status})
    before = dict(db.docs)
    assert recording_files.on_recording_event(db, uploaded(), config("jaas"), in_bucket(FakeObjects()), NOW) is False
    assert db.docs == before


def test_an_upload_whose_copy_job_was_lost_is_queued_again_on_redelivery() -> None:
    db = seeded(consent={"consent": True, "at": STARTED})
    recording_files.on_recording_event(db, uploaded(), config("jaas"), in_bucket(FakeObjects()), NOW)
    db.docs.pop(f"videoRecordingJobs/{job_id('a1', 'session-1')}")
    assert recording_files.on_recording_event(db, uploaded(), config("jaas"), in_bucket(FakeObjects()), NOW) is True
    assert list(jobs(db)) == [job_id("a1", "session-1")]


class Link:
    """A fake ``open_link``: serves ``body`` in two chunks, or raises ``error``; records what it was asked."""

    def __init__(self, body: bytes = RECORDING, error: Exception | None = None) -> None:
        self.body, self.error, self.asked = body, error, []

    def __call__(self, url: str, hosts: frozenset[str], max_bytes: int, seconds: int) -> links.Download:
        self.asked.append((url, hosts, max_bytes, seconds))
        if self.error is not None:
            raise self.error

        def chunks() -> Iterator[bytes]:
            yield self.body[:1000]
            yield self.body[1000:]

        return links.Download("video/mp4", chunks())


def queued(db: FakeDB, source: str, **job: Any) -> dict[str, Any]:
    db.put("appointments/a1/recordings/rec1", {"status": "processing", "providerRecordingId": "p1"})
    fields = {"appointmentId": "a1", "recordingId": "rec1", "source": source, "queuedAt": NOW, **job}
    fields = {name: value for name, value in fields.items() if value is not None}
    db.put(f"videoRecordingJobs/{job_id('a1', 'rec1')}", fields)
    return fields


def run_job(db: FakeDB, job: dict[str, Any], objects: FakeObjects, link: Link | None = None, **settings: Any) -> Any:
    return recording_files.run_job(
        db, job_id("a1", "rec1"), job, config(**settings), NOW, in_bucket(objects), link or Link()
    )


def test_a_link_job_copies_the_file_and_records_its_size_hash_and_type() -> None:
    db, objects, link = seeded(), FakeObjects(), Link()
    job = queued(db, "link", link=LINK)
    assert run_job(db, job, objects, link, download_hosts="objectstorage.example.test").outcome == "stored"
    assert link.asked == [(LINK, frozenset({"objectstorage.example.test"}), 2048 * 1024 * 1024, 300)]
    assert objects.files == {"recordings/a1/rec1": (RECORDING, "video/mp4")}
    assert meta(db) == {
        "status": "ready",
        "providerRecordingId": "p1",
        "bytes": len(RECORDING),
        "sha256": hashlib.sha256(RECORDING).hexdigest(),
        "contentType": "video/mp4",
        "storedAt": SERVER_TIMESTAMP,
    }
    assert jobs(db) == {}
    assert audits(db) == [("stored", "recording_stored", "rec1")]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(links.LinkRefused("link_refused"), "link_refused", id="refused or expired at the link"),
        pytest.param(links.LinkRefused("too_large"), "too_large", id="announced too large"),
        pytest.param(links.LinkRefused("link_not_allowed"), "link_not_allowed", id="not allowed"),
    ],
)
def test_a_link_that_refuses_for_good_fails_the_recording_and_ends_the_job(error: Exception, reason: str) -> None:
    db, objects = seeded(), FakeObjects()
    job = queued(db, "link", link=LINK)
    assert run_job(db, job, objects, Link(error=error)) == recording_files.JobOutcome("failed", reason)
    assert ((meta(db) or {})["status"], (meta(db) or {})["reason"]) == ("failed", reason)
    assert (objects.files, jobs(db)) == ({}, {})
    assert audits(db) == [("failed", reason, "rec1")]


def test_a_link_that_may_answer_later_raises_for_a_retry_and_keeps_the_job() -> None:
    db, objects = seeded(), FakeObjects()
    job = queued(db, "link", link=LINK)
    with pytest.raises(links.LinkUnavailable):
        run_job(db, job, objects, Link(error=links.LinkUnavailable("503")))
    assert (meta(db) or {})["status"] == "processing"
    assert list(jobs(db)) == [job_id("a1", "rec1")]


def test_a_link_older_than_a_day_is_not_tried() -> None:
    db, objects, link = seeded(), FakeObjects(), Link()
    job = queued(db, "link", link=LINK, queuedAt=NOW - dt.timedelta(hours=24, seconds=1))
    assert run_job(db, job, objects, link) == recording_files.JobOutcome("failed", "link_expired")
    assert link.asked == []
    assert ((meta(db) or {})["status"], jobs(db)) == ("failed", {})
    assert audits(db) == [("failed", "link_expired", "rec1")]


@pytest.mark.parametrize(
    "queued_at", [NOW - dt.timedelta(hours=24), None], ids=["exactly a day old", "no time: as if just queued"]
)
def test_a_link_up_to_a_day_old_is_still_tried(queued_at: dt.datetime | None) -> None:
    db, objects, link = seeded(), FakeObjects(), Link()
    job = queued(db, "link", link=LINK, queuedAt=queued_at)
    assert run_job(db, job, objects, link).outcome == "stored"
    assert len(link.asked) == 1


def test_a_download_past_the_bound_keeps_nothing() -> None:
    db, objects = seeded(), FakeObjects()
    job = queued(db, "link", link=LINK)
    outcome = run_job(db, job, objects, Link(body=b"x" * (1024 * 1024 + 1)), recording_max_mb=1)
    assert outcome == recording_files.JobOutcome("failed", "too_large")
    assert (objects.files, jobs(db)) == ({}, {})
    assert (meta(db) or {})["status"] == "failed"


def test_an_egress_file_past_the_bound_is_deleted() -> None:
    db, objects = seeded(), FakeObjects({"recordings/a1/rec1": b"x" * (1024 * 1024 + 1)})
    job = queued(db, "object", path="recordings/a1/rec1")
    assert run_job(db, job, objects, recording_max_mb=1) == recording_files.JobOutcome("failed", "too_large")
    assert (objects.files, jobs(db)) == ({}, {})
    assert audits(db) == [("failed", "too_large", "rec1")]


def test_an_object_job_moves_the_egress_file_to_the_recordings_path_and_hashes_it() -> None:
    db, objects = seeded(), FakeObjects({"recordings/a1/rec1.mp4": RECORDING})
    job = queued(db, "object", path="recordings/a1/rec1.mp4")
    assert run_job(db, job, objects).outcome == "stored"
    assert objects.files == {"recordings/a1/rec1": (RECORDING, "video/mp4")}
    assert (meta(db) or {})["sha256"] == hashlib.sha256(RECORDING).hexdigest()


@pytest.mark.parametrize("path", ["recordings/a1/rec1", "recordings/a1/rec1.mp4"], ids=["named so", "moved before"])
def test_an_object_job_finds_a_file_already_at_the_recordings_path(path: str) -> None:
    db, objects = seeded(), FakeObjects({"recordings/a1/rec1": RECORDING})
    job = queued(db, "object", path=path)
    assert run_job(db, job, objects).outcome == "stored"
    assert (meta(db) or {})["bytes"] == len(RECORDING)
    assert objects.files == {"recordings/a1/rec1": (RECORDING, "video/mp4")}  # never moved onto itself
    assert objects.deleted == []


@pytest.mark.parametrize(
    "queued_at", [NOW, NOW - dt.timedelta(hours=1), None], ids=["just queued", "an hour ago", "no time"]
)
def test_a_missing_egress_file_is_waited_for(queued_at: dt.datetime | None) -> None:
    db, objects = seeded(), FakeObjects()
    job = queued(db, "object", path="recordings/a1/rec1.mp4", queuedAt=queued_at)
    with pytest.raises(FileNotFoundError):
        run_job(db, job, objects)
    assert (meta(db) or {})["status"] == "processing"
    assert list(jobs(db)) == [job_id("a1", "rec1")]


def test_a_missing_egress_file_is_given_up_on_after_an_hour() -> None:
    db, objects = seeded(), FakeObjects()
    late = queued(db, "object", path="recordings/a1/rec1.mp4", queuedAt=NOW - dt.timedelta(hours=1, seconds=1))
    assert run_job(db, late, objects) == recording_files.JobOutcome("failed", "file_missing")
    assert audits(db) == [("failed", "file_missing", "rec1")]


@pytest.mark.parametrize(
    ("recording", "settings"),
    [
        pytest.param({"status": "discarded"}, {}, id="discarded meanwhile"),
        pytest.param(None, {}, id="deleted meanwhile"),
        pytest.param({"status": "processing"}, {"recording_bucket": ""}, id="recordings switched off"),
    ],
)
def test_a_job_no_longer_needed_copies_nothing_and_ends(
    recording: dict[str, Any] | None, settings: dict[str, Any]
) -> None:
    db, objects, link = seeded(), FakeObjects(), Link()
    job = queued(db, "link", link=LINK)
    if recording is None:
        db.docs.pop("appointments/a1/recordings/rec1")
    else:
        db.docs["appointments/a1/recordings/rec1"] = recording
    assert run_job(db, job, objects, link, **settings).outcome == "nothing"
    assert (link.asked, objects.files, jobs(db)) == ([], {}, {})


def test_a_recording_that_stopped_being_wanted_during_the_copy_leaves_no_file() -> None:
    db, objects = seeded(), FakeObjects()
    job = queued(db, "link", link=LINK)

    class Discarding(Link):
        def __call__(self, *args: Any) -> links.Download:
            db.docs["appointments/a1/recordings/rec1"]["status"] = "discarded"
            return super().__call__(*args)

    assert run_job(db, job, objects, Discarding()).outcome == "nothing"
    assert (objects.files, jobs(db)) == ({}, {})
    assert (meta(db) or {})["status"] == "discarded"


def test_the_sweep_deletes_what_is_due_object_first_and_audits_each() -> None:
    db = FakeDB()
    for recording_id, delete_at in (
        ("old", NOW - dt.timedelta(seconds=1)),
        ("now", NOW),
        ("new", NOW + dt.timedelta(1)),
    ):
        db.put(f"appointments/a1/recordings/{recording_id}", {"status": "ready", "deleteAt": delete_at})
    objects = FakeObjects({f"recordings/a1/{name}": b"x" for name in ("old", "now", "new")})
    report = recording_files.sweep(db, now=NOW, config=config(), objects=in_bucket(objects))
    assert (report.deleted, report.failed) == (2, 0)
    assert list(objects.files) == ["recordings/a1/new"]
    assert [path for path in db.docs if "/recordings/" in path] == ["appointments/a1/recordings/new"]
    assert audits(db) == [("deleted", "retention", "now"), ("deleted", "retention", "old")]


def test_a_sweep_goes_on_past_failures_keeps_those_records_and_reports_them() -> None:
    db = FakeDB()
    for recording_id in ("a", "b", "c"):
        db.put(f"appointments/v{recording_id}/recordings/{recording_id}", {"deleteAt": NOW - dt.timedelta(days=1)})
    objects = FakeObjects()
    objects.fail_next = [OSError("storage down"), OSError("still down")]
    failures: list[str] = []
    report = recording_files.sweep(
        db, now=NOW, config=config(), objects=in_bucket(objects), on_failure=lambda a, _e: failures.append(a)
    )
    assert (report.deleted, report.failed, failures) == (1, 2, ["va", "vb"])
    assert [path for path in db.docs if "/recordings/" in path] == [
        "appointments/va/recordings/a",
        "appointments/vb/recordings/b",
    ]
    assert audits(db, "vc") == [("deleted", "retention", "c")]


def test_the_sweep_is_bounded_per_run_and_does_nothing_with_recordings_off() -> None:
    db = FakeDB()
    for n in range(5):
        db.put(f"appointments/a1/recordings/r{n}", {"deleteAt": NOW - dt.timedelta(minutes=n)})
    objects = FakeObjects()
    off = recording_files.sweep(db, now=NOW, config=config(recording_bucket=""), objects=in_bucket(objects))
    assert (off.deleted, len(db.docs)) == (0, 5)
    assert recording_files.sweep(db, now=NOW, config=config(), objects=in_bucket(objects), limit=2).deleted == 2
    assert sorted(path.rsplit("/", 1)[1] for path in db.docs if "/recordings/" in path) == ["r0", "r1", "r2"]


def test_one_sweep_deletes_at_most_two_hundred() -> None:
    db = FakeDB()
    for n in range(201):
        db.put(f"appointments/a1/recordings/r{n:03}", {"deleteAt": NOW - dt.timedelta(seconds=n)})
    report = recording_files.sweep(db, now=NOW, config=config(), objects=in_bucket(FakeObjects()))
    assert report.deleted == 200
    assert [path for path in db.docs if "/recordings/" in path] == ["appointments/a1/recordings/r000"]
