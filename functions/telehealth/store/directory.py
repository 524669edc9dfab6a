"""The clinic's doctor directory (``doctors/{uid}``), written only by ``scripts/clinic``."""

from __future__ import annotations

from typing import Any

DOCTORS = "doctors"


def doctor_ref(db: Any, uid: str) -> Any:
    """The directory entry of a uid (it may not exist)."""
    return db.collection(DOCTORS).document(uid)
