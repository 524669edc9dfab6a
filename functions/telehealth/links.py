"""Downloads from a provider's pre-authenticated link: checked URL, no redirects, bounded in size and time.

The link is a credential of its own (whoever holds it can fetch the recording until it expires), so it
is never logged or stored where a client can read it. Only ``https`` links are followed, to the hosts
``VIDEO_RECORDING_DOWNLOAD_HOSTS`` names where it names any (a listed loopback host may be ``http``,
for the tests' stand-in). A refusal by the link's server (4xx) is final; a server error, a broken
connection or a deadline passed is worth another try (``LinkUnavailable``).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .providers.rest import _NoRedirects

CHUNK_BYTES = 1024 * 1024
READ_TIMEOUT_SECONDS = 30
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_OPENER = urllib.request.build_opener(_NoRedirects)


class LinkRefused(Exception):
    """The link is unusable for good; ``why`` is ``link_not_allowed``, ``link_refused`` (a 4xx: expired, or a
    redirect) or ``too_large``."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class LinkUnavailable(Exception):
    """The download failed in a way another try may not: a 5xx or 429, a broken connection, the deadline (no
    message: it is logged by its class only)."""


@dataclass(frozen=True)
class Download:
    """An open download: its content type and its body, in chunks, within the deadline."""

    content_type: str
    chunks: Iterator[bytes]


def allowed(url: str, hosts: frozenset[str]) -> bool:
    """Whether a link may be followed: https (to a listed host, where hosts are listed), or http to a
    listed loopback host."""
    try:
        parts = urllib.parse.urlsplit(url)
        named = parts.hostname
    except ValueError:
        return False
    if parts.username or parts.password or not named:
        return False
    listed = parts.netloc.lower() in hosts or named in hosts
    if parts.scheme == "https":
        return listed or not hosts
    return parts.scheme == "http" and listed and named in LOOPBACK


def plain_content_type(raw: str | None) -> str:
    """``type/subtype`` of a Content-Type header, or ``video/mp4`` (what the providers record) when unusable."""
    value = (raw or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = value.partition("/")
    plain_kind = kind.isascii() and kind.replace("-", "").isalnum()
    if plain_kind and subtype.isascii() and all(ch.isalnum() or ch in "-+." for ch in subtype) and len(value) <= 100:
        return value if subtype else "video/mp4"
    return "video/mp4"


def _body(response: Any, deadline: float) -> Iterator[bytes]:
    with response:
        while True:
            if time.monotonic() > deadline:
                raise LinkUnavailable()  # the deadline passed
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, urllib.error.URLError):
                raise LinkUnavailable() from None
            if not chunk:
                return
            yield chunk


def open_link(url: str, hosts: frozenset[str], max_bytes: int, seconds: int) -> Download:
    """Start the download of ``url``; raises ``LinkRefused`` or ``LinkUnavailable`` as above."""
    if not allowed(url, hosts):
        raise LinkRefused("link_not_allowed")
    deadline = time.monotonic() + seconds
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - scheme checked above
    try:
        response = _OPENER.open(request, timeout=READ_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code >= 500 or error.code == 429:
            raise LinkUnavailable() from None
        raise LinkRefused("link_refused") from None  # expired, refused, or a redirect
    except (OSError, urllib.error.URLError):
        raise LinkUnavailable() from None
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        response.close()
        raise LinkRefused("too_large")
    return Download(plain_content_type(response.headers.get("Content-Type")), _body(response, deadline))
