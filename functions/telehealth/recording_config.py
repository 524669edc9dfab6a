"""The recordings' params, checked into ``config.RecordingConfig`` (``VideoConfig.recording``).

Recordings are off until ``VIDEO_RECORDING_BUCKET`` names the Cloud Storage bucket they are kept in.
The rest bounds what is kept and handed out: how long (retention), how big a copy may be and how
long it may take, where a provider's download link may point, how long a download URL lives, and
whether the patient may download too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .config import ParamSpec, RecordingConfig, number, text
from .errors import Misconfigured

BUCKET = "VIDEO_RECORDING_BUCKET"
RETENTION = "VIDEO_RECORDING_RETENTION_DAYS"
PATIENT_ACCESS = "VIDEO_PATIENT_RECORDING_ACCESS"
URL_TTL = "VIDEO_RECORDING_URL_TTL_S"
MAX_MB = "VIDEO_RECORDING_MAX_MB"
COPY_SECONDS = "VIDEO_RECORDING_COPY_S"
DOWNLOAD_HOSTS = "VIDEO_RECORDING_DOWNLOAD_HOSTS"

RECORDING_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(BUCKET, "str", "", "Cloud Storage bucket for recordings; empty: recordings off"),
    ParamSpec(RETENTION, "int", 90, "days a recording (object and record) is kept"),
    ParamSpec(PATIENT_ACCESS, "bool", False, "the patient may download the visit's recordings too"),
    ParamSpec(URL_TTL, "int", 300, "seconds a download URL lives (60 to 3600)"),
    ParamSpec(MAX_MB, "int", 2048, "largest recording copied or kept, in MiB"),
    ParamSpec(COPY_SECONDS, "int", 300, "longest a copy into Storage may take, in seconds (at most 500)"),
    ParamSpec(DOWNLOAD_HOSTS, "str", "", "hosts a provider's download link may name; empty: any https host"),
)

# Cloud Storage bucket names: 3-63 characters (up to 222 with dots), lowercase, digits, -, _ and dots.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_HOST = re.compile(r"[a-z0-9.-]+(:[0-9]{1,5})?")


def _between(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = number(values, name, default)
    if not low <= value <= high:
        raise Misconfigured(f"{name} must be between {low} and {high}")
    return value


def recording_config(values: Mapping[str, Any]) -> RecordingConfig:
    """The recording params, checked (absent: defaults)."""
    bucket = text(values, BUCKET)
    if bucket and (not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket):
        raise Misconfigured(f"{BUCKET} must be a Cloud Storage bucket name (no gs:// prefix)")
    patient_access = values.get(PATIENT_ACCESS, False)
    if not isinstance(patient_access, bool):
        raise Misconfigured(f"{PATIENT_ACCESS} must be true or false")
    hosts = frozenset(part.strip().lower() for part in text(values, DOWNLOAD_HOSTS).split(",") if part.strip())
    if any(not _HOST.fullmatch(host) for host in hosts):
        raise Misconfigured(f"{DOWNLOAD_HOSTS} must be host names (optionally :port), comma-separated")
    return RecordingConfig(
        bucket=bucket,
        retention_days=_between(values, RETENTION, 90, 1, 36500),
        patient_access=patient_access,
        url_ttl_seconds=_between(values, URL_TTL, 300, 60, 3600),
        max_bytes=_between(values, MAX_MB, 2048, 1, 50 * 1024) * 1024 * 1024,
        copy_seconds=_between(values, COPY_SECONDS, 300, 10, 500),
        download_hosts=hosts,
    )
