"""The client kit's LiveKit meeting on the demo page, in headless Chromium, in the livekit run."""

from __future__ import annotations

import os

import node_tests
import pytest

pytestmark = pytest.mark.skipif(
    os.environ["MATRIX_PROVIDER"] != "livekit"
    or os.environ["MATRIX_WAITING_ROOM"] != "host"
    or bool(os.environ["MATRIX_CREATES_ROOMS"]),
    reason="the livekit run only",
)


def test_a_livekit_answer_opens_livekits_room_component_which_says_when_the_server_is_unreachable() -> None:
    node_tests.run("livekit-page.mjs")
    assert node_tests.screenshot("livekit-doctor-offline") > 10_000
