"""A workaround for the Functions emulator only: it hands triggers non-ASCII ids mangled.

The emulator delivers an id read as UTF-8 decoded as Latin-1 (``café`` arrives as ``cafÃ©``), so
the named document does not exist. Production delivers ids as they are; there the repaired id is
never a different document, because clients cannot create non-ASCII ids (the rules refuse them).
"""

from __future__ import annotations


def candidate_ids(appointment_id: str) -> list[str]:
    """The id an event names, then the same id repaired when it reads as UTF-8 decoded as Latin-1."""
    try:
        repaired = appointment_id.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return [appointment_id]
    return [appointment_id] if repaired == appointment_id else [appointment_id, repaired]
