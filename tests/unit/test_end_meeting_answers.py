"""``providers.jitsi.classify_end_meeting_answer``: what an answer to Jitsi's ``POST /end-meeting`` means.

Only jitsi-meet's ``mod_muc_end_meeting`` itself ends a meeting or says there is none, and its answers have
empty bodies; Prosody's router answers a request no module takes with its own HTML 404 page ("Unknown host",
or the module never loaded because net.url is missing) while the room stays live. Measured on a real
Prosody 0.12.3 (tests/prosody).
"""

from __future__ import annotations

import pytest
from standins import ROUTER_404_PAGE

from telehealth.errors import Misconfigured, ProviderCallFailed, ProviderMisconfigured
from telehealth.providers import jitsi


@pytest.mark.parametrize(
    ("status", "body", "meaning"),
    [
        pytest.param(200, b"", "ended", id="the module destroyed the room"),
        pytest.param(404, b"", "not_running", id="the module has no such room"),
        pytest.param(404, b"\r\n", "not_running", id="an empty body with a line end"),
    ],
)
def test_the_modules_own_answers(status: int, body: bytes, meaning: str) -> None:
    assert jitsi.classify_end_meeting_answer(status, body) == meaning


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(404, ROUTER_404_PAGE, id="Prosody's router: unknown host, or the module not loaded"),
        pytest.param(404, b"Error processing request: Not Found.", id="the router without mod_http_errors"),
        pytest.param(404, b"<html><body>nginx</body></html>", id="a proxy's 404 page"),
        pytest.param(200, b"<!DOCTYPE html><title>Jitsi Meet</title>", id="a web page, not the module"),
    ],
)
def test_a_page_is_not_the_module_and_names_the_settings(status: int, body: bytes) -> None:
    with pytest.raises(ProviderMisconfigured) as raised:
        jitsi.classify_end_meeting_answer(status, body)
    assert raised.value.status == status
    problem = raised.value.problem
    assert problem == jitsi.JITSI_NOT_THE_MODULE.format(status=status)
    for setting in ("VIDEO_SERVER_API_URL", "http_default_host", "muc_mapper_domain_base", "net.url"):
        assert setting in problem
    assert body.decode() not in problem  # nothing the server sent is repeated in the log


def test_a_refused_token_names_the_settings() -> None:
    with pytest.raises(ProviderMisconfigured) as raised:
        jitsi.classify_end_meeting_answer(401, b"")
    assert raised.value.status == 401
    for setting in (
        "muc_mapper_domain_base",
        "asap_key_server",
        "app_secret",
        "VIDEO_APP_ID",
        "prosody_password_public_key_repo_url",
        "VIDEO_JITSI_END_KEY_ID",
        "Invalid or incorrect alg",
    ):
        assert setting in raised.value.problem


def test_a_named_misconfiguration_is_both_a_failed_ending_and_unusable_settings() -> None:
    """The trigger logs a ``Misconfigured`` by its problem, and a caller catching ``ProviderCallFailed`` sees it."""
    error = ProviderMisconfigured(401, "x")
    assert isinstance(error, ProviderCallFailed)
    assert isinstance(error, Misconfigured)
    assert str(error) == "x"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(400, b"", id="no conference (a proxy dropped the query)"),
        pytest.param(403, b"", id="forbidden"),
        pytest.param(307, b"", id="a redirect"),
        pytest.param(411, b"", id="length required"),
        pytest.param(500, b"", id="server error"),
        pytest.param(503, b"<html>down</html>", id="unavailable"),
        pytest.param(204, b"", id="an empty success that is not the module's 200"),
    ],
)
def test_anything_else_fails_to_be_retried(status: int, body: bytes) -> None:
    with pytest.raises(ProviderCallFailed) as raised:
        jitsi.classify_end_meeting_answer(status, body)
    assert type(raised.value) is ProviderCallFailed
    assert raised.value.status == status
    assert str(raised.value) == f"the provider answered {status}"
