"""What happens to invitations beside the callables, on the faithful fake: the trigger ends every invitation to
a room that ends (a withdrawal, a move, a completion) and nothing else; an invited guest's attendance counts,
under their invitation, only while it admits them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import NOW, appointment, serial_transactional
from google.api_core.exceptions import ServiceUnavailable
from google.cloud.firestore import SERVER_TIMESTAMP
from support import fakes
from support.configs import jitsi_config
from support.fakes import FakeDB

from telehealth import lifecycle
from telehealth.config import Settings, SigningKey
from telehealth.providers.base import Deployment
from telehealth.store import appointments, attendance, guests

ROOM, NEW_ROOM = "a" * 32, "b" * 32
CONFIG = jitsi_config()


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDB:
    for module in (appointments, attendance, guests):
        monkeypatch.setattr(module, "transactional", serial_transactional)
    fake = FakeDB()
    fake.put("appointments/a1", appointment())
    return fake


def guest(db: FakeDB, guest_id: str, status: str, room: str = ROOM, uid: str | None = "uid-g") -> None:
    expires = NOW + dt.timedelta(hours=1)
    db.put(
        f"appointments/a1/guests/{guest_id}",
        {
            "kind": "caregiver",
            "name": "Sam",
            "status": status,
            "roomName": room,
            "redeemedBy": uid,
            "expiresAt": expires,
        },
    )


def status(db: FakeDB, guest_id: str) -> str:
    value: str = db.docs[f"appointments/a1/guests/{guest_id}"]["status"]
    return value


def run(db: FakeDB, before: Any, after: Any, failures: list[str] | None = None) -> tuple[Any, list[str]]:
    failures = [] if failures is None else failures
    outcome = lifecycle.on_appointment_written(
        db,
        "a1",
        before,
        after,
        None,
        params={"VIDEO_PROVIDER": "jitsi"},
        config=lambda: CONFIG,
        deployment=Deployment(
            config=lambda: CONFIG,
            settings=lambda: Settings(CONFIG, SigningKey("HS256", b"")),
            secret=lambda name: pytest.fail(f"read {name}"),
        ),
        now=int(NOW.timestamp()),
        on_failure=lambda what, _error: failures.append(what),
    )
    return outcome, failures


CONFIRMED = appointment()


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(appointment(status="cancelled"), id="cancelled: the room is withdrawn"),
        pytest.param(appointment(status="completed"), id="completed: the meeting ends"),
        pytest.param(
            appointment(startTime=NOW + dt.timedelta(hours=2), endTime=NOW + dt.timedelta(hours=3)), id="moved"
        ),
        pytest.param(appointment(type="in_person"), id="made in person"),
        pytest.param(None, id="deleted"),
    ],
)
def test_a_room_that_ends_ends_every_active_invitation_to_it(db: FakeDB, after: dict[str, Any] | None) -> None:
    guest(db, "invited", "invited", uid=None)
    guest(db, "redeemed", "redeemed")
    guest(db, "removed", "removed")
    guest(db, "older", "ended", room="c" * 32)
    if after is None:
        del db.docs["appointments/a1"]
    else:
        db.put("appointments/a1", after)

    outcome, failures = run(db, CONFIRMED, after)

    assert (outcome.invitations_ended, failures) == (2, [])
    assert [status(db, g) for g in ("invited", "redeemed", "removed", "older")] == [
        "ended",
        "ended",
        "removed",
        "ended",
    ]
    assert db.docs["appointments/a1/guests/redeemed"]["endedAt"] is SERVER_TIMESTAMP
    assert "endedAt" not in db.docs["appointments/a1/guests/removed"]
    # Delivered again: nothing left to end.
    assert run(db, CONFIRMED, after)[0].invitations_ended == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(appointment(status="pending", video=None), CONFIRMED, id="the confirmation"),
        pytest.param(CONFIRMED, {**CONFIRMED, "note": "x"}, id="an unrelated change"),
        pytest.param(CONFIRMED, appointment(video={"roomName": ROOM, "doctorJoinedAt": NOW}), id="a stamp in video"),
    ],
)
def test_an_event_that_keeps_the_room_ends_no_invitation(db: FakeDB, before: Any, after: Any) -> None:
    guest(db, "redeemed", "redeemed")
    writes = len(db.writes)
    outcome, _ = run(db, before, after)
    assert (outcome.invitations_ended, status(db, "redeemed")) == (0, "redeemed")
    assert not [path for _, path, _ in db.writes[writes:] if "/guests/" in path]


def test_a_failure_to_end_the_invitations_is_named_and_raised_after_the_withdrawal(
    db: FakeDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest(db, "redeemed", "redeemed")
    cancelled = appointment(status="cancelled")
    db.put("appointments/a1", cancelled)

    def failing(*_args: Any) -> int:
        raise ServiceUnavailable("down")

    monkeypatch.setattr(guests, "end_invitations", failing)
    failures: list[str] = []
    with pytest.raises(ServiceUnavailable):
        run(db, CONFIRMED, cancelled, failures)
    assert failures == ["ending the visit's invitations failed"]
    assert "video" not in db.docs["appointments/a1"]  # the withdrawal came first
    assert status(db, "redeemed") == "redeemed"  # and the retry will end it


# An invited guest's attendance --------------------------------------------------------------------------------


def attend(
    db: FakeDB, event_id: str, kind: str, minute: int, guest_id: str | None = "g1", role: str = "invitee"
) -> bool:
    at = NOW + dt.timedelta(minutes=minute)
    return attendance.record_attendance(db, "a1", ROOM, event_id, kind, role, at, guest_id=guest_id)


def test_a_bound_guests_joins_are_stored_under_their_invitation_and_summarised(db: FakeDB) -> None:
    guest(db, "g1", "redeemed")
    guest(db, "g2", "redeemed")

    assert attend(db, "e1", "joined", 7) is True
    assert attend(db, "e2", "joined", 4) is True  # an earlier join, delivered later, wins
    assert attend(db, "e3", "joined", 9, "g2") is True
    assert attend(db, "e4", "left", 20) is True

    assert db.docs["appointments/a1/attendance/e1"] == {
        "role": "invitee",
        "guestId": "g1",
        "event": "joined",
        "at": NOW + dt.timedelta(minutes=7),
    }
    summary = db.docs["appointments/a1"]["video"]["attendance"]
    assert summary == {
        "guestsJoinedAt": {"g1": NOW + dt.timedelta(minutes=4), "g2": NOW + dt.timedelta(minutes=9)},
        "lastLeftAt": NOW + dt.timedelta(minutes=20),
    }
    assert "patientJoinedAt" not in summary  # a guest is not the patient


@pytest.mark.parametrize(
    ("seed", "why"),
    [
        pytest.param(lambda db: guest(db, "g1", "removed"), "removed", id="a removed guest"),
        pytest.param(lambda db: guest(db, "g1", "ended"), "ended", id="an ended invitation"),
        pytest.param(lambda db: guest(db, "g1", "invited", uid=None), "never redeemed", id="not redeemed"),
        pytest.param(lambda db: guest(db, "g1", "redeemed", room=NEW_ROOM), "another room", id="another room"),
        pytest.param(lambda db: None, "unknown", id="no such invitation"),
    ],
)
def test_a_guest_whose_invitation_no_longer_admits_them_counts_no_more(db: FakeDB, seed: Any, why: str) -> None:
    seed(db)
    writes = len(db.writes)
    assert attend(db, "e1", "joined", 5) is False, why
    assert attend(db, "e2", "left", 6) is False, why
    assert db.writes[writes:] == []


def test_the_patients_attendance_reads_no_invitation(db: FakeDB) -> None:
    assert attend(db, "e1", "joined", 5, guest_id=None, role="guest") is True
    assert db.docs["appointments/a1/attendance/e1"] == {
        "role": "guest",
        "event": "joined",
        "at": NOW + dt.timedelta(minutes=5),
    }


def test_the_summary_folds_a_guests_joins_in_any_order() -> None:
    early, late = NOW, NOW + dt.timedelta(minutes=3)
    one = attendance.summarise(
        attendance.summarise({}, "joined", "invitee", late, "g1"), "joined", "invitee", early, "g1"
    )
    other = attendance.summarise(
        attendance.summarise({}, "joined", "invitee", early, "g1"), "joined", "invitee", late, "g1"
    )
    assert one == other == {"guestsJoinedAt": {"g1": early}}
    assert attendance.summarise({"doctorJoinedAt": early}, "joined", "invitee", late, None) == {"doctorJoinedAt": early}


# Reading invitations --------------------------------------------------------------------------------------------


class BareSnapshot:
    """A snapshot as a client without update times gives it (no ``update_time`` attribute)."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        self.id, self.exists, self._data = "g9", data is not None, data

    def to_dict(self) -> dict[str, Any] | None:
        return self._data


def test_a_stored_invitation_with_odd_fields_reads_as_empty_ones() -> None:
    odd = {"kind": 7, "name": None, "status": ["redeemed"], "roomName": 3, "redeemedBy": "", "expiresAt": "soon"}
    assert guests.guest_of(BareSnapshot(odd)) == guests.Guest("g9", "", "", "", "", 0, None, None)
    assert guests.guest_of(BareSnapshot({"redeemedBy": 42})) == guests.Guest("g9", "", "", "", "", 0, None, None)
    assert guests.guest_of(BareSnapshot(None)) is None


@pytest.mark.parametrize(
    ("lookup", "found"),
    [
        pytest.param({"appointmentId": "a1", "guestId": "g1"}, ("a1", "g1"), id="both"),
        pytest.param({"appointmentId": "a1"}, None, id="no guest id"),
        pytest.param({"guestId": "g1"}, None, id="no appointment id"),
        pytest.param({"appointmentId": "a1", "guestId": 5}, None, id="a guest id that is not text"),
        pytest.param(None, None, id="no lookup"),
    ],
)
def test_a_codes_lookup_leads_somewhere_only_when_whole(db: FakeDB, lookup: dict[str, Any] | None, found: Any) -> None:
    if lookup is not None:
        db.put("guestInvites/h1", lookup)
    assert guests.find_invitation(db, "h1") == found


def test_the_bound_invitation_is_one_documents_query(db: FakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    guest(db, "g1", "redeemed", uid="uid-g")
    guest(db, "g2", "removed", uid="uid-g")
    limits: list[int] = []
    real_limit = fakes.Query.limit
    monkeypatch.setattr(fakes.Query, "limit", lambda self, count: limits.append(count) or real_limit(self, count))
    found = guests.bound_guest(db, "a1", "uid-g")
    assert (found.guest_id if found else None, limits) == ("g1", [1])
    assert guests.bound_guest(db, "a1", "uid-nobody") is None


def test_a_binding_without_a_read_time_is_written_unconditionally(db: FakeDB) -> None:
    guest(db, "g1", "invited", uid=None)
    unread = guests.Guest("g1", "caregiver", "Sam", "invited", ROOM, 0, None, read_at=None)
    assert guests.bind(db, "a1", unread, "uid-g") is True
    stored = db.docs["appointments/a1/guests/g1"]
    assert (stored["status"], stored["redeemedBy"], stored["redeemedAt"]) == ("redeemed", "uid-g", SERVER_TIMESTAMP)
    assert [option for kind, path, option in db.writes if path.endswith("/g1") and kind == "update"] == [None]
