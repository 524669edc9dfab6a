"""An in-memory bucket with the storage adapter's operations (``telehealth.bucket.Objects``), for unit tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from telehealth.bucket import StoredObject, TooLarge


class FakeObjects:
    """Objects by path (bytes and content type); ``fail_next`` makes the next operations raise, in order."""

    def __init__(self, files: dict[str, bytes] | None = None, content_type: str = "video/mp4") -> None:
        self.files: dict[str, tuple[bytes, str]] = {path: (data, content_type) for path, data in (files or {}).items()}
        self.deleted: list[str] = []
        self.urls: list[tuple[str, dt.datetime, dt.datetime]] = []
        self.fail_next: list[Exception] = []

    def _check(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def write(self, path: str, chunks: Iterable[bytes], content_type: str, max_bytes: int) -> StoredObject:
        self._check()
        data = b""
        for chunk in chunks:
            data += chunk
            if len(data) > max_bytes:
                raise TooLarge()
        self.files[path] = (data, content_type)
        return StoredObject(len(data), hashlib.sha256(data).hexdigest(), content_type)

    def describe(self, path: str, max_bytes: int) -> StoredObject | None:
        self._check()
        if path not in self.files:
            return None
        data, content_type = self.files[path]
        if len(data) > max_bytes:
            raise TooLarge()
        return StoredObject(len(data), hashlib.sha256(data).hexdigest(), content_type)

    def move(self, source: str, target: str, max_bytes: int) -> StoredObject | None:
        if source not in self.files:
            return None
        data, content_type = self.files[source]
        stored = self.write(target, [data], content_type, max_bytes)
        self.delete(source)
        return stored

    def delete(self, path: str) -> bool:
        self._check()
        self.deleted.append(path)
        return self.files.pop(path, None) is not None

    def download_url(self, path: str, expires_at: dt.datetime, now: dt.datetime) -> str:
        self._check()
        self.urls.append((path, expires_at, now))
        return f"https://storage.test/{path}?expires={int(expires_at.timestamp())}"
