"""The storage adapter: the only code that imports Cloud Storage. Objects are streamed, never held whole.

Writes are resumable uploads in 8 MiB chunks; reads are one streamed download each. The Storage emulator
finalises a resumable upload at its first chunk, so uploads of more than one chunk (recordings over
8 MiB) are checked only against Cloud Storage itself; everything else here runs against the emulator.

``open_bucket(name)`` is the Cloud Storage bucket through google-cloud-storage: Application Default
Credentials in production, the Storage emulator where ``STORAGE_EMULATOR_HOST`` is set (the client
then sends no credentials, which the emulator's Cloud Storage API treats as an admin). Download URLs
are V4 signed URLs. In production the signature comes from the function's service account (IAM
``signBlob``: the account needs ``iam.serviceAccounts.signBlob`` on itself); the emulator neither
checks a signature nor its expiry, so there a throwaway local key signs (docs/recordings.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

CHUNK_BYTES = 8 * 1024 * 1024
EMULATOR_HOST = "STORAGE_EMULATOR_HOST"


class TooLarge(Exception):
    """An object grew past the allowed size while it was streamed."""


@dataclass(frozen=True)
class StoredObject:
    """What a stored object is: its size, its SHA-256 (hex) and its content type."""

    size: int
    sha256: str
    content_type: str


class Objects(Protocol):
    """The few operations recordings need on one bucket."""

    def write(self, path: str, chunks: Iterable[bytes], content_type: str, max_bytes: int) -> StoredObject:
        """Stream ``chunks`` into a new object (replacing one there); ``TooLarge`` past ``max_bytes``."""
        ...

    def describe(self, path: str, max_bytes: int) -> StoredObject | None:
        """Read a stored object through once to hash it; None where there is none."""
        ...

    def move(self, source: str, target: str, max_bytes: int) -> StoredObject | None:
        """Rename an object, hashing it on the way (a streamed copy, then the delete); None where ``source``
        does not exist."""
        ...

    def delete(self, path: str) -> bool:
        """Delete an object; False where there was none."""
        ...

    def download_url(self, path: str, expires_at: dt.datetime, now: dt.datetime) -> str:
        """A URL that downloads the object until ``expires_at``, with no other credential."""
        ...


class Digest:
    """A running size and SHA-256 over what passes through ``feed``."""

    def __init__(self, max_bytes: int) -> None:
        self.size, self.max_bytes, self._sha = 0, max_bytes, hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge()
        self._sha.update(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class _Sink:
    """A writable file object that hands each block a download writes to ``take``."""

    def __init__(self, take: Callable[[bytes], object]) -> None:
        self.take = take

    def write(self, block: bytes) -> int:
        self.take(block)
        return len(block)


class CloudStorageObjects:
    """``Objects`` on a google-cloud-storage bucket."""

    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket

    def write(self, path: str, chunks: Iterable[bytes], content_type: str, max_bytes: int) -> StoredObject:
        digest = Digest(max_bytes)
        blob = self.bucket.blob(path, chunk_size=CHUNK_BYTES)
        try:
            with blob.open("wb", content_type=content_type, ignore_flush=True) as sink:
                for chunk in chunks:
                    digest.feed(chunk)
                    sink.write(chunk)
        except TooLarge:
            self.delete(path)  # a partial upload may have been finalised as the writer closed
            raise
        return StoredObject(digest.size, digest.hexdigest(), content_type)

    def _stored(self, path: str, max_bytes: int) -> Any:
        blob = self.bucket.get_blob(path)
        if blob is not None and blob.size is not None and int(blob.size) > max_bytes:
            raise TooLarge()
        return blob

    def describe(self, path: str, max_bytes: int) -> StoredObject | None:
        blob = self._stored(path, max_bytes)
        if blob is None:
            return None
        digest = Digest(max_bytes)
        # One streamed GET (no ranged reads: the Storage emulator ignores Range and would answer the whole
        # object to every chunk's request).
        blob.download_to_file(_Sink(digest.feed))
        return StoredObject(digest.size, digest.hexdigest(), str(blob.content_type or "application/octet-stream"))

    def move(self, source: str, target: str, max_bytes: int) -> StoredObject | None:
        # Streamed rather than a server-side copy: the file is read through once anyway, for its hash, and the
        # Storage emulator has no copyTo/rewriteTo under the JSON API's /storage/v1 path the client uses.
        blob = self._stored(source, max_bytes)
        if blob is None:
            return None
        content_type = str(blob.content_type or "application/octet-stream")
        digest = Digest(max_bytes)
        writer = self.bucket.blob(target, chunk_size=CHUNK_BYTES)
        try:
            with writer.open("wb", content_type=content_type, ignore_flush=True) as sink:

                def take(chunk: bytes) -> None:
                    digest.feed(chunk)
                    sink.write(chunk)

                blob.download_to_file(_Sink(take))
        except TooLarge:
            self.delete(target)
            raise
        self.delete(source)
        return StoredObject(digest.size, digest.hexdigest(), content_type)

    def delete(self, path: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.bucket.blob(path).delete()
        except NotFound:
            return False
        return True

    def download_url(self, path: str, expires_at: dt.datetime, now: dt.datetime) -> str:
        blob = self.bucket.blob(path)
        url: str = blob.generate_signed_url(
            version="v4",
            method="GET",
            expiration=expires_at - now,
            response_disposition="attachment",
            **_signer(),
        )
        return url


@functools.lru_cache(maxsize=1)
def _emulator_credentials() -> Any:
    """A local service-account key: the emulator ignores signatures, but the URL must still be signed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "client_email": "storage-emulator@localhost.invalid",
        "private_key": pem.decode(),
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]


def _signer() -> dict[str, Any]:
    """How ``generate_signed_url`` signs here: a local key on the emulator; else the ambient credentials,
    through IAM ``signBlob`` when they hold no private key (Cloud Functions' own service account)."""
    if os.environ.get(EMULATOR_HOST):
        return {"credentials": _emulator_credentials()}
    import google.auth
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials, _project = google.auth.default()
    if isinstance(credentials, service_account.Credentials):
        return {"credentials": credentials}  # a key file: signed locally
    credentials.refresh(Request())  # type: ignore[no-untyped-call] # the metadata server's token and the account
    return {
        "service_account_email": getattr(credentials, "service_account_email", ""),
        "access_token": credentials.token,
    }


@functools.lru_cache(maxsize=1)
def _client() -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    return storage.Client()


def open_bucket(name: str) -> Objects:
    """The named bucket (one client per instance)."""
    return CloudStorageObjects(_client().bucket(name))
