"""The ``get_join_token`` use case: the join window, the waiting room, the token. Free of the functions SDK.

Reads: the appointment (1), plus the caller's directory entry in the same round trip when the caller
holds the doctor claim (2); a caller who is neither doctor nor patient, one query for an invitation
bound to them (1 more). Writes: the audit record (1); with a waiting room also the doctor's first
join (``video.doctorJoinedAt``) and a patient entering the lobby, once each. Where the provider
issues tokens itself, one call to its API (a failure answers ``unavailable``, audited).

An invited guest joins as the patient does (``role: "guest"``, no moderation, no features, the same
waiting room: in ``admit`` mode the patient's admission lets the visit's guests in too) under their
invitation's identity and labelled name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .access import Grant, decide_join, patient_consents_to_recording, waiting_step
from .config import Settings
from .errors import NotJoinable
from .gate import Caller, Granted, Policy, Visit, serve
from .providers import provider_of, room_url
from .store import appointments
from .tokens import guest_participant, issue_token, participant_for, token_expiry, token_features

# Waiting-room steps that refuse the caller for now (the client listens and calls again).
WAITING_REFUSALS = ("waiting_for_doctor", "waiting_for_admission", "admission_denied")


def join_response(grant: Grant, token: str, settings: Settings) -> dict[str, Any]:
    """The callable's success payload, as in the contract, plus the provider's own fields."""
    config = settings.config
    return {
        "token": token,
        "roomName": grant.room_name,
        "roomUrl": room_url(config, grant.room_name),
        "provider": config.provider,
        "role": grant.role,
        "expiresAt": token_expiry(grant, config),
        **provider_of(config).response_extras(config, grant),
    }


def join_step(visit: Visit) -> Granted | None:
    """Decide one join from what was read; None when a waiting-room write lost a race."""
    config = visit.settings.config
    guest = visit.guest
    grant = decide_join(visit.appointment, visit.role or ("guest" if guest else None), visit.now, config)
    assert visit.appointment is not None
    if guest is not None:
        grant = replace(grant, expires_at=min(grant.expires_at, guest.expires_at))
    step = waiting_step(visit.appointment, grant.role, config.waiting_room)
    if step == "join_lobby":
        if guest is not None:
            raise NotJoinable("waiting_for_admission")  # the lobby is the patient's: a guest waits on their admission
        if not appointments.enter_lobby(visit.db, visit.appointment_id, visit.read_at):
            return None
        raise NotJoinable("waiting_for_admission")
    if step in WAITING_REFUSALS:
        raise NotJoinable(step)
    consents = patient_consents_to_recording(visit.appointment)
    grant = replace(grant, features=token_features(grant.role, config, consents))
    who = guest_participant(guest) if guest else participant_for(grant, visit.caller.claims, visit.doctor_entry, config)
    # The token before the doctor's stamp: a provider that cannot issue one (unavailable) leaves the
    # patient waiting for a doctor who is not in yet.
    token = issue_token(grant, who, visit.settings)
    if step == "mark_doctor" and not appointments.mark_doctor_joined(visit.db, visit.appointment_id, visit.read_at):
        return None  # written meanwhile (an admission, a withdrawal): read again, decide again
    return Granted(join_response(grant, token, visit.settings), "ok", token_expiry(grant, config))


def get_join_token(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """Answer one join request (the gate's refusals, then the join's own)."""
    return serve(db, caller=caller, data=data, policy=policy, now=now, step=join_step, admits_guests=True)
