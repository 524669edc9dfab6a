"""Downloads from a provider's pre-authenticated link (against the link stand-in), and the recording params."""

from __future__ import annotations

import http.server
import socket
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from standins import RecordingLink, serve
from support.configs import params_for, video_config

from telehealth import links
from telehealth.errors import Misconfigured
from telehealth.recording_config import recording_config

FILE = b"\x00\x00\x00\x18ftypmp42" + b"m" * 3_000_000


@pytest.fixture
def link() -> Iterator[str]:
    RecordingLink.files, RecordingLink.fetched = {"par-1": FILE}, []
    with serve(RecordingLink) as url:
        yield url


def host_of(url: str) -> frozenset[str]:
    return frozenset({url.removeprefix("http://")})


def test_a_listed_loopback_link_downloads_whole_in_chunks_without_credentials(link: str) -> None:
    download = links.open_link(f"{link}/par-1", host_of(link), len(FILE), 30)
    chunks = list(download.chunks)
    assert (b"".join(chunks), download.content_type) == (FILE, "video/mp4")
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= links.CHUNK_BYTES
    assert RecordingLink.fetched == ["par-1"]


def test_an_expired_link_is_refused_for_good(link: str) -> None:
    with pytest.raises(links.LinkRefused) as refused:
        links.open_link(f"{link}/par-gone", host_of(link), len(FILE), 30)
    assert (refused.value.why, str(refused.value)) == ("link_refused", "link_refused")


def test_a_link_to_a_host_not_listed_is_refused_before_any_request(link: str) -> None:
    with pytest.raises(links.LinkRefused) as refused:
        links.open_link(f"{link}/par-1", frozenset({"objectstorage.example.test"}), len(FILE), 30)
    assert refused.value.why == "link_not_allowed"
    assert RecordingLink.fetched == []


def test_a_file_announced_larger_than_the_bound_is_refused_before_its_body(link: str) -> None:
    with pytest.raises(links.LinkRefused) as refused:
        links.open_link(f"{link}/par-1", host_of(link), len(FILE) - 1, 30)
    assert refused.value.why == "too_large"


class Answering(http.server.BaseHTTPRequestHandler):
    status: ClassVar[int] = 500
    headers_out: ClassVar[dict[str, str]] = {}

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        for name, value in type(self).headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_the_links_content_type_is_kept() -> None:
    Answering.status, Answering.headers_out = 200, {"Content-Type": "video/webm"}
    with serve(Answering) as url:
        download = links.open_link(f"{url}/x", host_of(url), 100, 30)
        assert (download.content_type, b"".join(download.chunks)) == ("video/webm", b"")


@pytest.mark.parametrize(
    ("status", "headers", "error", "why"),
    [
        pytest.param(500, {}, links.LinkUnavailable, None, id="a server error: worth a retry"),
        pytest.param(503, {}, links.LinkUnavailable, None, id="unavailable: worth a retry"),
        pytest.param(429, {}, links.LinkUnavailable, None, id="throttled: worth a retry"),
        pytest.param(403, {}, links.LinkRefused, "link_refused", id="forbidden: final"),
        pytest.param(302, {"Location": "http://169.254.169.254/"}, links.LinkRefused, "link_refused", id="a redirect"),
    ],
)
def test_each_answer_of_the_link_is_final_or_worth_a_retry(
    status: int, headers: dict[str, str], error: type[Exception], why: str | None
) -> None:
    Answering.status, Answering.headers_out = status, headers
    with serve(Answering) as url, pytest.raises(error) as raised:
        links.open_link(f"{url}/x", host_of(url), 100, 30)
    if why is not None:
        assert getattr(raised.value, "why", None) == why


def test_an_unreachable_link_is_worth_a_retry() -> None:
    with pytest.raises(links.LinkUnavailable):
        links.open_link("http://127.0.0.1:9/x", frozenset({"127.0.0.1:9"}), 100, 30)


def test_a_link_that_never_answers_gives_up_at_the_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The listener takes the connection (the kernel's backlog) and never answers: only the read timeout ends it.
    monkeypatch.setattr(links, "READ_TIMEOUT_SECONDS", 0.2)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(links.LinkUnavailable):
            links.open_link(f"http://127.0.0.1:{port}/x", frozenset({f"127.0.0.1:{port}"}), 100, 30)
        assert time.monotonic() - started < 10


def test_a_download_past_its_deadline_stops(link: str) -> None:
    download = links.open_link(f"{link}/par-1", host_of(link), len(FILE), 0)
    with pytest.raises(links.LinkUnavailable):
        list(download.chunks)


ALLOWED: list[Any] = [
    pytest.param("https://objectstorage.example.test/p/x", frozenset(), True, id="https, no list"),
    pytest.param(
        "https://objectstorage.example.test/p/x", frozenset({"objectstorage.example.test"}), True, id="listed"
    ),
    pytest.param("https://evil.example.test/p/x", frozenset({"objectstorage.example.test"}), False, id="not listed"),
    pytest.param("http://objectstorage.example.test/p/x", frozenset(), False, id="http"),
    pytest.param(
        "http://objectstorage.example.test/x", frozenset({"objectstorage.example.test"}), False, id="http host"
    ),
    pytest.param("http://127.0.0.1:8000/x", frozenset({"127.0.0.1:8000"}), True, id="http to a listed loopback"),
    pytest.param("http://127.0.0.1:8000/x", frozenset(), False, id="http to an unlisted loopback"),
    pytest.param("https://user:pw@objectstorage.example.test/x", frozenset(), False, id="credentials in the URL"),
    pytest.param("https://user@objectstorage.example.test/x", frozenset(), False, id="a user in the URL"),
    pytest.param(
        "https://objectstorage.example.test:8443/x", frozenset({"objectstorage.example.test:8443"}), True, id="port"
    ),
    pytest.param("file:///etc/passwd", frozenset(), False, id="a file"),
    pytest.param("ftp://objectstorage.example.test/x", frozenset(), False, id="ftp"),
    pytest.param("https:///x", frozenset(), False, id="no host"),
    pytest.param("https://[::1/x", frozenset(), False, id="not a URL"),
]


@pytest.mark.parametrize(("url", "hosts", "allowed"), ALLOWED)
def test_only_https_links_to_listed_hosts_are_followed(url: str, hosts: frozenset[str], allowed: bool) -> None:
    assert links.allowed(url, hosts) is allowed


@pytest.mark.parametrize(
    ("header", "content_type"),
    [
        ("video/mp4", "video/mp4"),
        ("Video/MP4; codecs=avc1", "video/mp4"),
        ("audio/ogg; codecs=opus; rate=48000", "audio/ogg"),
        ("x-test/y-z", "x-test/y-z"),
        ("application/octet-stream", "application/octet-stream"),
        (None, "video/mp4"),
        ("", "video/mp4"),
        ("video/", "video/mp4"),
        ("text/html\r\nX-Injected: 1", "video/mp4"),
        ("vidéo/mp4", "video/mp4"),
        ("video/" + "x" * 200, "video/mp4"),
        ("video/" + "x" * 94, "video/" + "x" * 94),
        ("video/" + "x" * 95, "video/mp4"),
    ],
)
def test_the_stored_content_type_is_a_plain_type_or_mp4(header: str | None, content_type: str) -> None:
    assert links.plain_content_type(header) == content_type


def test_the_recording_params_default_to_off_and_are_checked_by_name() -> None:
    defaults = recording_config({})
    assert (defaults.enabled, defaults.retention_days, defaults.url_ttl_seconds) == (False, 90, 300)
    assert (defaults.max_bytes, defaults.copy_seconds, defaults.patient_access) == (2048 * 1024 * 1024, 300, False)
    chosen = video_config(
        domain="meet.clinic.test",
        app_id="a",
        recording_bucket="clinic-recordings.example",
        retention_days=30,
        patient_recording_access=True,
        recording_url_ttl=60,
        recording_max_mb=1,
        recording_copy_seconds=500,
        download_hosts=" Objectstorage.example.test , 127.0.0.1:80 ",
    ).recording
    assert (chosen.bucket, chosen.retention_days, chosen.patient_access) == ("clinic-recordings.example", 30, True)
    assert (chosen.url_ttl_seconds, chosen.max_bytes, chosen.copy_seconds) == (60, 1024 * 1024, 500)
    assert chosen.download_hosts == frozenset({"objectstorage.example.test", "127.0.0.1:80"})


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"recording_bucket": "gs://clinic"}, "VIDEO_RECORDING_BUCKET must be a Cloud Storage bucket name"),
        ({"recording_bucket": "Clinic"}, "VIDEO_RECORDING_BUCKET must be a Cloud Storage bucket name"),
        ({"recording_bucket": "a..b"}, "VIDEO_RECORDING_BUCKET must be a Cloud Storage bucket name"),
        ({"recording_bucket": "ab"}, "VIDEO_RECORDING_BUCKET must be a Cloud Storage bucket name"),
        ({"retention_days": 0}, "VIDEO_RECORDING_RETENTION_DAYS must be between 1 and 36500"),
        ({"recording_url_ttl": 59}, "VIDEO_RECORDING_URL_TTL_S must be between 60 and 3600"),
        ({"recording_url_ttl": 3601}, "VIDEO_RECORDING_URL_TTL_S must be between 60 and 3600"),
        ({"recording_max_mb": 0}, "VIDEO_RECORDING_MAX_MB must be between 1 and 51200"),
        ({"recording_copy_seconds": 501}, "VIDEO_RECORDING_COPY_S must be between 10 and 500"),
        ({"patient_recording_access": "yes"}, "VIDEO_PATIENT_RECORDING_ACCESS must be true or false"),
        ({"download_hosts": "https://x.test"}, "VIDEO_RECORDING_DOWNLOAD_HOSTS must be host names"),
    ],
)
def test_a_recording_param_that_does_not_fit_fails_closed_by_name(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(Misconfigured) as refused:
        recording_config(params_for(**settings))
    assert refused.value.problem.startswith(problem)
