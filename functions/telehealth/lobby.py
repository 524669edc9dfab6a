"""The doctor's admission (``admit_patient``) and the patient's recording consent (``set_recording_consent``).

Both pass the gate every callable passes, act only for the appointment's own doctor or patient
(anyone else: ``not-found``), write only inside ``video`` (conditionally on the appointment being
unchanged since it was read), and leave one audit record. A withdrawn consent also stops and discards
every recording of the visit still running (``recordings.discard_active``). Free of the functions SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .access import Role
from .errors import AppointmentNotFound, InvalidArgument, NotJoinable, ProviderCallFailed, ProviderUnavailable
from .gate import Caller, Granted, Policy, Visit, serve
from .recordings import discard_active
from .rooms import room_of
from .store import appointments

Write = Callable[[Any, str, bool, Any], bool]


def flag(data: Any, name: str) -> bool:
    """A boolean field of the request, or ``invalid-argument`` naming it."""
    if not isinstance(data, Mapping) or not isinstance(data.get(name), bool):
        raise InvalidArgument(name)
    return bool(data[name])


def _check_field(name: str) -> Callable[[Any], None]:
    def check(data: Any) -> None:
        flag(data, name)

    return check


def _step(
    data: Any, name: str, answer: str, acting_role: Role, write: Write, reasons: tuple[str, str]
) -> Callable[[Visit], Granted | None]:
    """The decision both share; ``write`` records the caller's answer, conditionally on the read."""

    def step(visit: Visit) -> Granted | None:
        value = flag(data, name)
        if visit.appointment is None or visit.role != acting_role:
            raise AppointmentNotFound()
        if visit.appointment.get("type") != "video":
            raise NotJoinable("not_video")
        if visit.appointment.get("status") != "confirmed":
            raise NotJoinable("not_confirmed")
        if room_of(visit.appointment) is None:
            raise NotJoinable("room_not_ready")
        if acting_role == "moderator" and visit.settings.config.waiting_room != "admit":
            raise NotJoinable("admission_off")
        if not write(visit.db, visit.appointment_id, value, visit.read_at):
            return None
        return Granted({answer: value}, reasons[0] if value else reasons[1])

    return step


def admit_patient(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """The appointment's active doctor lets the waiting patient in, or turns them away (``admit`` mode only)."""
    reasons = ("patient_admitted", "patient_denied")
    step = _step(data, "admit", "admitted", "moderator", appointments.record_admission, reasons)
    return serve(db, caller=caller, data=data, policy=policy, now=now, step=step, check_input=_check_field("admit"))


def set_recording_consent(db: Any, *, caller: Caller | None, data: Any, policy: Policy, now: int) -> dict[str, Any]:
    """The appointment's patient says yes or no to recording; the doctor's next token follows it, and a no
    stops what is being recorded at once (nothing of it is kept)."""
    reasons = ("consent_given", "consent_withdrawn")
    step = _step(data, "consent", "consent", "guest", appointments.record_consent, reasons)
    answer = serve(db, caller=caller, data=data, policy=policy, now=now, step=step, check_input=_check_field("consent"))
    if answer["consent"] is False and policy.deployment is not None and caller is not None:
        appointment_id = str(data["appointmentId"])  # checked by the gate
        try:
            discard_active(
                db, appointment_id, policy.deployment, policy.objects, now, caller.uid, policy.audit_retention_days
            )
        except ProviderCallFailed:
            raise ProviderUnavailable() from None  # the no is recorded; calling again retries the stop
    return answer
