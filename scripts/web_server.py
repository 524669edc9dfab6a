"""The demo page's server: web/index.html, the bundled client (.cache/web/app.js), and /config.json.

``make dev`` runs it beside the emulators; the browser test starts it on its own. Loopback only.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 5180


def page_config() -> bytes:
    """Where the page finds the emulators (the same variables scripts/with-emulators exports)."""
    return json.dumps(
        {
            "projectId": os.environ.get("GCLOUD_PROJECT", "demo-telehealth"),
            "auth": os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
            "firestore": os.environ.get("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080"),
            "functions": os.environ.get("FUNCTIONS_EMULATOR_HOST", "127.0.0.1:5001"),
        }
    ).encode()


FILES = {
    "/": (ROOT / "web" / "index.html", "text/html; charset=utf-8"),
    "/index.html": (ROOT / "web" / "index.html", "text/html; charset=utf-8"),
    "/app.js": (ROOT / ".cache" / "web" / "app.js", "text/javascript; charset=utf-8"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            self.reply(HTTPStatus.OK, page_config(), "application/json")
        elif path in FILES and FILES[path][0].is_file():
            file, kind = FILES[path]
            self.reply(HTTPStatus.OK, file.read_bytes(), kind)
        else:
            self.reply(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

    def reply(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the emulator log is what a person follows


def start(port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """Serve in a daemon thread; the caller shuts it down."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    # Port 0: the system picks a free one (the browser tests do this); the line below says which.
    port = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"demo page on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
