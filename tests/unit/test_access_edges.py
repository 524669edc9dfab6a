"""access.py's edges, stated as the spec they stand for: the id format and Firestore's reserved ids, the
shape checks on stored times and the server-written ``video`` map."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import NOW, jitsi_config

from telehealth.access import is_appointment_id, join_window, video_field


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        pytest.param("a", True, id="one character"),
        pytest.param("a" * 128, True, id="128 characters"),
        pytest.param("a" * 129, False, id="129 characters"),
        pytest.param("visit-2026_03", True, id="letters, digits, dash, underscore"),
        pytest.param("____", False, id="four underscores: __x__ with an empty x, reserved"),
        pytest.param("__a__", False, id="__a__ is reserved"),
        pytest.param("___", True, id="three underscores are not of the form __x__"),
        pytest.param("__ab", True, id="only starting with __"),
        pytest.param("ab__", True, id="only ending with __"),
        pytest.param("abcd", True, id="four plain characters"),
        pytest.param(".", False, id="a dot"),
        pytest.param("caf\u00e9", False, id="non-ASCII"),
        pytest.param(7, False, id="not a string"),
    ],
)
def test_appointment_ids(value: Any, valid: bool) -> None:
    assert is_appointment_id(value) is valid


@pytest.mark.parametrize(
    "times",
    [
        pytest.param({"startTime": NOW, "endTime": "later"}, id="an end that is not a time"),
        pytest.param({"startTime": "now", "endTime": NOW}, id="a start that is not a time"),
        pytest.param({"startTime": NOW.replace(tzinfo=None), "endTime": NOW}, id="a naive start"),
        pytest.param({"startTime": NOW, "endTime": NOW.replace(tzinfo=None)}, id="a naive end"),
        pytest.param({"startTime": NOW, "endTime": NOW}, id="start equals end"),
    ],
)
def test_times_of_the_wrong_shape_have_no_window(times: dict[str, Any]) -> None:
    assert join_window(times, jitsi_config()) is None


def test_a_window_opens_and_closes_by_the_configured_margins() -> None:
    window = join_window({"startTime": NOW, "endTime": NOW + dt.timedelta(minutes=30)}, jitsi_config())
    assert window is not None
    assert (window.opens_at, window.closes_at) == (int(NOW.timestamp()) - 15 * 60, int(NOW.timestamp()) + 60 * 60)


@pytest.mark.parametrize("video", [None, "junk", ["roomName"], 7])
def test_a_video_field_that_is_not_a_map_holds_nothing(video: Any) -> None:
    assert video_field({"video": video}, "roomName") is None
