"""The audit log (``videoAccessLog``): one record per decision; it never holds a token or a secret."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from google.api_core.exceptions import Conflict
from google.cloud.firestore import SERVER_TIMESTAMP

from . import direct

ACCESS_LOG = "videoAccessLog"
DEFAULT_AUDIT_RETENTION_DAYS = 2190


def record_access(
    db: Any,
    *,
    appointment_id: str | None,
    uid: str | None,
    role: str | None,
    outcome: str,
    reason: str,
    now: int,
    retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
    expires_at: int | None = None,
    record_id: str | None = None,
    guest_id: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> bool:
    """Write one record; ``expireAt`` (the TTL policy's field) is ``now`` plus the retention.

    With ``record_id`` the record is created only if no record has that id yet (returns False
    then): at most one per id, on any instance. ``guest_id`` names the invitation a record is about (never
    its code or the guest's name); ``extra`` adds fields (a recording's id), never one of these.
    """
    record: dict[str, Any] = {
        "appointmentId": appointment_id,
        "uid": uid,
        "role": role,
        "outcome": outcome,
        "reason": reason,
        "at": SERVER_TIMESTAMP,
        "expireAt": dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(days=retention_days),
    }
    if expires_at is not None:
        record["expiresAt"] = expires_at
    if guest_id is not None:
        record["guestId"] = guest_id
    if extra:
        record.update({name: value for name, value in extra.items() if name not in record})
    if record_id is None:
        direct.add(db, ACCESS_LOG, record)  # the join's hot path: one Commit, built without proto-plus
        return True
    try:
        db.collection(ACCESS_LOG).document(record_id).create(record)
    except Conflict:
        return False
    return True
