"""The ``get_join_token`` use case: validate, authorize, sign, audit. Free of the functions SDK."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import store
from .access import Grant, decide_join, parse_appointment_id, role_of
from .config import Settings
from .errors import Unauthenticated, VideoError
from .tokens import issue_token


def join_response(grant: Grant, token: str, settings: Settings) -> dict[str, Any]:
    """The callable's success payload, as in the contract (plus ``serverUrl`` for LiveKit)."""
    config = settings.config
    response: dict[str, Any] = {
        "token": token,
        "roomName": grant.room_name,
        "roomUrl": config.room_url(grant.room_name),
        "provider": config.provider,
        "role": grant.role,
        "expiresAt": grant.expires_at,
    }
    if config.provider == "livekit":
        response["serverUrl"] = f"wss://{config.domain}"
    return response


def get_join_token(
    db: Any,
    *,
    uid: str | None,
    claims: Mapping[str, Any],
    data: Any,
    settings: Callable[[], Settings],
    now: int,
) -> dict[str, Any]:
    """Answer one join request; every request with a well-formed id leaves exactly one audit record.

    Reads: one (the appointment). Writes: one (the audit record), done before the token is returned
    so that no grant ever leaves without its record.
    """
    if uid is None:
        try:
            appointment_id = parse_appointment_id(data)
        except VideoError:
            raise Unauthenticated() from None
        store.record_access(
            db, appointment_id=appointment_id, uid=None, role=None, outcome="denied", reason="unauthenticated"
        )
        raise Unauthenticated()
    appointment_id = parse_appointment_id(data)
    role = None
    try:
        # Fail closed before reading anything when the server cannot sign.
        current = settings()
        appointment = store.read_appointment(db, appointment_id)
        role = role_of(appointment, uid) if appointment is not None else None
        grant = decide_join(appointment, uid, now, current.config)
        token = issue_token(grant, claims, current)
    except VideoError as refusal:
        store.record_access(
            db, appointment_id=appointment_id, uid=uid, role=role, outcome="denied", reason=refusal.reason
        )
        raise
    store.record_access(
        db,
        appointment_id=appointment_id,
        uid=uid,
        role=grant.role,
        outcome="granted",
        reason="ok",
        expires_at=grant.expires_at,
    )
    return join_response(grant, token, current)
