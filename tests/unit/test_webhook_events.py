"""What every provider's webhook verifier shares: timestamps, event ids that are safe and stable."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from telehealth.errors import WebhookRejected as Rejected
from telehealth.providers.events import derived_event_id as _event_id
from telehealth.providers.events import epoch as _epoch
from telehealth.providers.events import safe_event_id as _safe_id


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        pytest.param(1_795_000_000, 1_795_000_000, id="seconds"),
        pytest.param(1_795_000_000_123, 1_795_000_000.123, id="milliseconds"),
        pytest.param(100_000_000_001, 100_000_000.001, id="the first value read as milliseconds"),
        pytest.param(100_000_000_000, 100_000_000_000, id="the last value read as seconds"),
    ],
)
def test_epoch_reads_seconds_and_milliseconds(raw: int, seconds: float) -> None:
    assert _epoch(raw) == dt.datetime.fromtimestamp(seconds, dt.UTC)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        pytest.param(None, "timestamp is not a number", id="missing"),
        pytest.param("1795000000", "timestamp is not a number", id="a string"),
        pytest.param(True, "timestamp is not a number", id="a boolean"),
        pytest.param(10**30, "timestamp out of range", id="beyond any date"),
    ],
)
def test_epoch_refuses_what_is_not_a_time(raw: Any, why: str) -> None:
    with pytest.raises(Rejected) as caught:
        _epoch(raw)
    assert (caught.value.status, caught.value.why) == (400, why)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        pytest.param("EV_abc-123", True, id="plain ids are kept"),
        pytest.param("a" * 128, True, id="128 characters kept"),
        pytest.param("a" * 129, False, id="longer ones hashed"),
        pytest.param("a/b", False, id="a slash is hashed"),
        pytest.param("..", False, id="dots are hashed"),
        pytest.param("caf\u00e9", False, id="non-ASCII is hashed"),
        pytest.param("____", False, id="only underscores (Firestore reserves __x__) are hashed"),
        pytest.param("--", False, id="only dashes are hashed"),
        pytest.param("x" * 200, False, id="200 characters, the most allowed, hashed"),
    ],
)
def test_event_ids_become_safe_document_ids(raw: str, kept: bool) -> None:
    safe = _safe_id(raw)
    assert (safe == raw) == kept
    assert safe.replace("-", "").replace("_", "").isalnum()
    assert len(safe) <= 128
    assert _safe_id(raw) == safe  # stable across re-deliveries


@pytest.mark.parametrize("raw", ["", None, 7, "x" * 201])
def test_a_missing_or_huge_event_id_is_refused(raw: Any) -> None:
    with pytest.raises(Rejected) as caught:
        _safe_id(raw)
    assert (caught.value.status, caught.value.why) == (400, "event id missing or too long")


def test_derived_event_ids_never_change_between_releases() -> None:
    """Stored attendance ids: a re-delivery that straddles a deploy must find the same id (pinned values)."""
    assert _safe_id("a/b") == "c14cddc033f64b9dea80ea675cf280a015e67251"
    assert _event_id("jitsi", "joined", "room", "room@conference/x", "1795000000") == (
        "aea1819dcba0463ba925daf24a1c4ca0ab02402a"
    )


@pytest.mark.parametrize("value", [20260302, None, "yesterday", "2026-13-02T10:00:00Z"])
def test_a_time_that_is_not_iso_8601_is_a_malformed_body(value: Any) -> None:
    from telehealth.providers.events import iso_time

    with pytest.raises(Rejected) as caught:
        iso_time(value, "Timestamp")
    assert (caught.value.status, caught.value.why) == (400, "Timestamp is not an ISO 8601 time")


def test_an_iso_time_keeps_its_offset_and_one_without_is_utc() -> None:
    from telehealth.providers.events import iso_time

    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert iso_time("2026-03-02T12:00:00+02:00", "t") == dt.datetime(2026, 3, 2, 12, 0, tzinfo=plus_two)
    assert iso_time("2026-03-02T12:00:00+02:00", "t").utcoffset() == dt.timedelta(hours=2)
    assert iso_time("2026-03-02T10:00:00", "t") == dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
