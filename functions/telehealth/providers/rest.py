"""One way to call a provider's server API: a deadline, no redirects, and the answer's status and first bytes.

A redirect is answered as the failure it is, so credentials in a header are never sent on to another
URL. HTTP errors are answers too (the caller judges them); an unreachable server raises.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 256 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def send(request: urllib.request.Request) -> tuple[int, bytes]:
    """The status and (at most 256 KiB of) the body of the server's answer to ``request``, within the deadline."""
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status), response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(MAX_ANSWER_BYTES)
