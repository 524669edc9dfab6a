"""Guests on the faithful fake Firestore (transactions, queries, preconditions), with a frozen clock: the doctor
invites, an account redeems once, a bound guest joins as the patient does under their own identity and label,
the doctor or the patient removes them; every refusal's exact code and that it wrote nothing but its audit."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from conftest import DOCTOR, DOCTOR_CLAIMS, DOCTOR_ENTRY, HMAC_SECRET, NOW, NOW_S, PATIENT, STRANGER, appointment
from google.cloud.firestore import SERVER_TIMESTAMP
from support.callables import audit_records, policy
from support.configs import jitsi_config
from support.fakes import FakeDB, serial_transactional

from telehealth import gate, guests, join, lobby
from telehealth.config import VideoConfig
from telehealth.errors import VideoError, error_code
from telehealth.ratelimit import RateLimiter
from telehealth.store import guests as guest_store

GUEST, OTHER = "uid-anonymous-guest", "uid-anonymous-other"
ANONYMOUS = {"firebase": {"sign_in_provider": "anonymous"}}
CALLERS = {
    "doctor": gate.Caller(DOCTOR, DOCTOR_CLAIMS),
    "patient": gate.Caller(PATIENT, {}),
    "stranger": gate.Caller(STRANGER, {}),
    "claimless doctor": gate.Caller(DOCTOR, {}),
    "guest": gate.Caller(GUEST, ANONYMOUS),
    "other": gate.Caller(OTHER, ANONYMOUS),
}
START_S, END_S = NOW_S + 5 * 60, NOW_S + 35 * 60
OPENS_S, CLOSES_S = START_S - 15 * 60, END_S + 30 * 60
ROOM = "a" * 32
INVITE = {"appointmentId": "a1", "kind": "interpreter", "name": "Ana Lima"}
UseCase = Callable[..., dict[str, Any]]


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDB:
    """The seeded visit (confirmed, its room, the doctor already in) and the doctor's directory entry."""
    monkeypatch.setattr(guest_store, "transactional", serial_transactional)
    fake = FakeDB()
    fake.put(f"doctors/{DOCTOR}", dict(DOCTOR_ENTRY))
    fake.put("appointments/a1", appointment())
    return fake


def call(
    db: FakeDB,
    use_case: UseCase,
    who: str,
    data: Any,
    *,
    config: VideoConfig | None = None,
    now: int = NOW_S,
    **seams: Any,
) -> dict[str, Any]:
    return use_case(db, caller=CALLERS[who], data=data, policy=policy(config, **seams), now=now)


def refusal(db: FakeDB, use_case: UseCase, who: str, data: Any, **options: Any) -> VideoError:
    with pytest.raises(VideoError) as raised:
        call(db, use_case, who, data, **options)
    return raised.value


def stored(db: FakeDB) -> dict[str, Any]:
    """Everything but the audit log: what a refusal must leave as it was."""
    return {path: doc for path, doc in db.docs.items() if not path.startswith("videoAccessLog/")}


def invite(db: FakeDB, config: VideoConfig | None = None, **changes: Any) -> dict[str, Any]:
    return call(db, guests.invite_guest, "doctor", {**INVITE, **changes}, config=config)


def redeem(db: FakeDB, code: str, who: str = "guest", **options: Any) -> dict[str, Any]:
    return call(db, guests.redeem_invite, who, {"inviteCode": code}, **options)


def guest_doc(db: FakeDB, guest_id: str) -> dict[str, Any]:
    return db.docs[f"appointments/a1/guests/{guest_id}"]


def bound_guest(db: FakeDB, config: VideoConfig | None = None) -> dict[str, Any]:
    """An invitation, redeemed by GUEST."""
    invited = invite(db, config)
    redeem(db, invited["inviteCode"], config=config)
    return invited


# Inviting -----------------------------------------------------------------------------------------------------


def test_the_doctor_invites_and_only_the_codes_hash_is_stored(db: FakeDB) -> None:
    answer = invite(db)

    assert set(answer) == {"guestId", "inviteCode", "inviteUrl", "expiresAt"}
    code, guest_id = answer["inviteCode"], answer["guestId"]
    assert len(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))) == 24  # 192 bits from secrets
    assert (answer["inviteUrl"], answer["expiresAt"]) == (None, CLOSES_S)  # no join page: no link
    assert guest_doc(db, guest_id) == {
        "kind": "interpreter",
        "name": "Ana Lima",
        "status": "invited",
        "invitedAt": SERVER_TIMESTAMP,
        "redeemedBy": None,
        "roomName": ROOM,
        "expiresAt": dt.datetime.fromtimestamp(CLOSES_S, dt.UTC),
    }
    digest = hashlib.sha256(code.encode()).hexdigest()
    assert db.docs[f"guestInvites/{digest}"] == {
        "appointmentId": "a1",
        "guestId": guest_id,
        "expireAt": dt.datetime.fromtimestamp(CLOSES_S, dt.UTC),
    }
    assert code not in repr(db.docs)
    [record] = audit_records(db)
    assert {key: record[key] for key in ("appointmentId", "uid", "role", "outcome", "reason", "guestId")} == {
        "appointmentId": "a1",
        "uid": DOCTOR,
        "role": "moderator",
        "outcome": "granted",
        "reason": "guest_invited",
        "guestId": guest_id,
    }
    assert "Ana" not in repr(record)


def test_every_code_is_new(db: FakeDB) -> None:
    three = jitsi_config(max_guests=3)
    codes = {invite(db, three)["inviteCode"] for _ in range(3)}
    assert len(codes) == 3


def test_the_link_is_the_join_page_with_the_code_in_its_fragment(db: FakeDB) -> None:
    answer = invite(db, jitsi_config(join_page_url="https://clinic.test/visit"))
    assert answer["inviteUrl"] == f"https://clinic.test/visit#invite={answer['inviteCode']}"


def test_the_doctor_may_invite_before_the_window_opens(db: FakeDB) -> None:
    answer = call(db, guests.invite_guest, "doctor", INVITE, now=OPENS_S - 24 * 3600)
    assert answer["expiresAt"] == CLOSES_S


def test_a_name_loses_control_and_format_characters(db: FakeDB) -> None:
    answer = invite(db, name="  Ana\u200b \u202eLima\n ")
    assert guest_doc(db, answer["guestId"])["name"] == "Ana Lima"


def visit(**changes: Any) -> dict[str, Any]:
    return appointment(**changes)


INVITE_REFUSALS = [
    pytest.param("patient", INVITE, None, NOW_S, "not-found", "not_found", None, id="the patient cannot invite"),
    pytest.param("stranger", INVITE, None, NOW_S, "not-found", "not_found", None, id="a stranger cannot invite"),
    pytest.param("claimless doctor", INVITE, None, NOW_S, "not-found", "not_found", None, id="doctorId, no claim"),
    pytest.param("guest", INVITE, None, NOW_S, "not-found", "not_found", None, id="an anonymous account"),
    pytest.param(
        "doctor", INVITE, visit(type="in_person"), NOW_S, "failed-precondition", "not_video", {}, id="in person"
    ),
    pytest.param(
        "doctor", INVITE, visit(status="pending"), NOW_S, "failed-precondition", "not_confirmed", {}, id="pending"
    ),
    pytest.param("doctor", INVITE, visit(video=None), NOW_S, "failed-precondition", "room_not_ready", {}, id="no room"),
    pytest.param(
        "doctor", INVITE, visit(endTime=None), NOW_S, "failed-precondition", "bad_schedule", {}, id="no end time"
    ),
    pytest.param(
        "doctor", INVITE, None, CLOSES_S - 59, "failed-precondition", "too_late", {"closesAt": CLOSES_S}, id="too late"
    ),
]


@pytest.mark.parametrize(("who", "data", "seeded", "now", "code", "reason", "details"), INVITE_REFUSALS)
def test_invitation_refusals_are_exact_and_write_only_their_audit(
    db: FakeDB,
    who: str,
    data: dict[str, Any],
    seeded: dict[str, Any] | None,
    now: int,
    code: str,
    reason: str,
    details: dict[str, Any] | None,
) -> None:
    if seeded is not None:
        db.put("appointments/a1", seeded)
    before = stored(db)
    refused = refusal(db, guests.invite_guest, who, data, now=now)
    assert (error_code(refused), refused.reason) == (code, reason)
    assert refused.details() == (None if details is None else {"reason": reason, **details})
    assert stored(db) == before
    assert [(r["outcome"], r["reason"]) for r in audit_records(db)] == [("denied", reason)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"kind": "nurse"}, "kind", id="an unknown kind"),
        pytest.param({"kind": None}, "kind", id="no kind"),
        pytest.param({"kind": ["interpreter"]}, "kind", id="a list"),
        pytest.param({"name": ""}, "name", id="an empty name"),
        pytest.param({"name": " \u200b\t"}, "name", id="nothing printable"),
        pytest.param({"name": "A" * 61}, "name", id="61 characters"),
        pytest.param({"name": "A" * 2000}, "name", id="2000 characters"),
        pytest.param({"name": 7}, "name", id="a number"),
        pytest.param({"appointmentId": "a/1"}, "appointmentId", id="a malformed id"),
    ],
)
def test_a_malformed_invitation_is_refused_before_anything_is_read(
    db: FakeDB, changes: dict[str, Any], field: str
) -> None:
    before = dict(db.docs)
    refused = refusal(db, guests.invite_guest, "doctor", {**INVITE, **changes})
    assert (error_code(refused), getattr(refused, "field", None)) == ("invalid-argument", field)
    assert db.docs == before  # no audit record either


def test_sixty_characters_is_a_name(db: FakeDB) -> None:
    assert invite(db, name="A" * 60)["guestId"]


def test_a_name_is_read_up_to_a_thousand_characters_before_it_is_cleaned(db: FakeDB) -> None:
    answer = invite(db, jitsi_config(max_guests=2), name="Ana" + " " * 997)
    assert guest_doc(db, answer["guestId"])["name"] == "Ana"
    refused = refusal(db, guests.invite_guest, "doctor", {**INVITE, "name": "Ana" + " " * 998})
    assert (error_code(refused), getattr(refused, "field", None)) == ("invalid-argument", "name")


def test_the_doctor_may_invite_until_a_minute_before_the_window_closes(db: FakeDB) -> None:
    assert call(db, guests.invite_guest, "doctor", INVITE, now=CLOSES_S - 60)["expiresAt"] == CLOSES_S


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_the_guest_limit_holds(db: FakeDB, limit: int) -> None:
    config = jitsi_config(max_guests=limit)
    for _ in range(limit):
        invite(db, config)
    before = stored(db)
    refused = refusal(db, guests.invite_guest, "doctor", INVITE, config=config)
    assert (error_code(refused), refused.details()) == (
        "failed-precondition",
        {"reason": "guest_limit", "maxGuests": limit},
    )
    assert stored(db) == before


def test_a_removed_guest_frees_their_place(db: FakeDB) -> None:
    first = invite(db)
    call(db, guests.remove_guest, "patient", {"appointmentId": "a1", "guestId": first["guestId"]})
    assert invite(db, kind="caregiver")["guestId"] != first["guestId"]


def test_an_invitation_to_a_room_the_visit_no_longer_holds_takes_no_place(db: FakeDB) -> None:
    invite(db)
    db.put("appointments/a1", appointment(video={"roomName": "b" * 32, "doctorJoinedAt": NOW}))
    assert invite(db)["expiresAt"] == CLOSES_S


def test_an_invitation_that_lost_a_race_reads_the_visit_again(db: FakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    real = guest_store.create_invitation
    reads: list[str] = []
    answers: list[Any] = [("stale", None)]
    monkeypatch.setattr(
        guest_store, "create_invitation", lambda *a: answers.pop() if answers else reads.append("again") or real(*a)
    )
    assert invite(db)["guestId"]
    assert reads == ["again"]


def test_a_visit_withdrawn_while_inviting_is_refused_on_the_read_again(db: FakeDB) -> None:
    """The transaction sees the stored visit: a room that changed since the gate's read is stale."""
    invitation = guest_store.Invitation("interpreter", "Ana", "z" * 32, CLOSES_S, "0" * 64)
    assert guest_store.create_invitation(db, "a1", invitation, 1, NOW_S) == ("stale", None)
    db.put("appointments/a1", appointment(status="cancelled"))
    invitation = guest_store.Invitation("interpreter", "Ana", ROOM, CLOSES_S, "0" * 64)
    assert guest_store.create_invitation(db, "a1", invitation, 1, NOW_S) == ("stale", None)
    assert not any("/guests/" in path or path.startswith("guestInvites/") for path in db.docs)


# Redeeming ----------------------------------------------------------------------------------------------------


def test_an_anonymous_account_redeems_the_invitation_once(db: FakeDB) -> None:
    invited = invite(db)
    answer = redeem(db, invited["inviteCode"])

    assert answer == {
        "appointmentId": "a1",
        "guestId": invited["guestId"],
        "kind": "interpreter",
        "opensAt": OPENS_S,
        "expiresAt": CLOSES_S,
    }
    doc = guest_doc(db, invited["guestId"])
    assert (doc["status"], doc["redeemedBy"], doc["redeemedAt"]) == ("redeemed", GUEST, SERVER_TIMESTAMP)
    record = audit_records(db)[-1]
    assert {key: record[key] for key in ("appointmentId", "uid", "role", "outcome", "reason", "guestId")} == {
        "appointmentId": "a1",
        "uid": GUEST,
        "role": "invitee",
        "outcome": "granted",
        "reason": "invite_redeemed",
        "guestId": invited["guestId"],
    }
    assert invited["inviteCode"] not in repr(audit_records(db))


def test_the_same_account_may_open_its_link_again_and_nothing_changes(db: FakeDB) -> None:
    invited = bound_guest(db)
    path = f"appointments/a1/guests/{invited['guestId']}"
    written = db.times[path]
    assert redeem(db, invited["inviteCode"])["guestId"] == invited["guestId"]
    assert db.times[path] == written


def removed(db: FakeDB, code: str, guest_id: str) -> None:
    call(db, guests.remove_guest, "doctor", {"appointmentId": "a1", "guestId": guest_id})


def moved(db: FakeDB, code: str, guest_id: str) -> None:
    db.put("appointments/a1", appointment(video={"roomName": "b" * 32, "doctorJoinedAt": NOW}))


def cancelled(db: FakeDB, code: str, guest_id: str) -> None:
    db.put("appointments/a1", appointment(status="cancelled", video=None))


def taken(db: FakeDB, code: str, guest_id: str) -> None:
    redeem(db, code, "other")


def ended(db: FakeDB, code: str, guest_id: str) -> None:
    guest_store.end_invitations(db, "a1", ROOM)


def holding_another(db: FakeDB, code: str, guest_id: str) -> None:
    redeem(db, invite(db, jitsi_config(max_guests=2))["inviteCode"])


def nothing(db: FakeDB, code: str, guest_id: str) -> None:
    pass


def visit_deleted(db: FakeDB, code: str, guest_id: str) -> None:
    del db.docs["appointments/a1"]


def invitation_deleted(db: FakeDB, code: str, guest_id: str) -> None:
    del db.docs[f"appointments/a1/guests/{guest_id}"]


def times_broken(db: FakeDB, code: str, guest_id: str) -> None:
    db.put("appointments/a1", appointment(endTime=None))


@pytest.mark.parametrize(
    ("before", "who", "now", "reason", "wrong_code"),
    [
        pytest.param(taken, "guest", NOW_S, "invite_taken", False, id="a second account"),
        pytest.param(nothing, "guest", NOW_S, "invite_not_found", True, id="a wrong code"),
        pytest.param(removed, "guest", NOW_S, "invite_removed", False, id="a removed guest's code"),
        pytest.param(nothing, "guest", CLOSES_S, "invite_expired", False, id="an expired code"),
        pytest.param(moved, "guest", NOW_S, "invite_ended", False, id="the visit moved: a new room"),
        pytest.param(cancelled, "guest", NOW_S, "invite_ended", False, id="the visit was cancelled"),
        pytest.param(ended, "guest", NOW_S, "invite_ended", False, id="the trigger ended it"),
        pytest.param(nothing, "patient", NOW_S, "invite_participant", False, id="the patient"),
        pytest.param(nothing, "doctor", NOW_S, "invite_participant", False, id="the doctor"),
        pytest.param(holding_another, "guest", NOW_S, "already_a_guest", False, id="a guest of the visit already"),
        pytest.param(visit_deleted, "guest", NOW_S, "invite_not_found", False, id="the visit is gone"),
        pytest.param(invitation_deleted, "guest", NOW_S, "invite_not_found", False, id="the invitation is gone"),
        pytest.param(times_broken, "guest", NOW_S, "invite_ended", False, id="the visit's times are unusable"),
    ],
)
def test_every_unusable_code_gets_the_same_not_found_and_binds_nothing(
    db: FakeDB, before: Callable[[FakeDB, str, str], None], who: str, now: int, reason: str, wrong_code: bool
) -> None:
    invited = invite(db, jitsi_config(max_guests=2))
    before(db, invited["inviteCode"], invited["guestId"])
    code = "W" * 32 if wrong_code else invited["inviteCode"]
    untouched = stored(db)
    records = len(audit_records(db))

    refused = refusal(db, guests.redeem_invite, who, {"inviteCode": code}, now=now, config=jitsi_config(max_guests=2))

    assert (error_code(refused), refused.message, refused.details()) == ("not-found", "Invitation not found.", None)
    assert stored(db) == untouched
    [record] = audit_records(db)[records:]
    assert (record["outcome"], record["reason"], record["appointmentId"]) == (
        "denied",
        reason,
        None if wrong_code else "a1",
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="no code"),
        pytest.param({"inviteCode": 42}, id="a number"),
        pytest.param({"inviteCode": "short"}, id="too short"),
        pytest.param({"inviteCode": "a" * 129}, id="too long"),
        pytest.param({"inviteCode": "a/" * 16}, id="a slash"),
        pytest.param({"inviteCode": "a" * 31 + "="}, id="padding"),
        pytest.param(["code"], id="not an object"),
    ],
)
def test_a_malformed_code_is_refused_before_anything_is_read(db: FakeDB, data: Any) -> None:
    invite(db)
    before = dict(db.docs)
    refused = refusal(db, guests.redeem_invite, "guest", data)
    assert (error_code(refused), getattr(refused, "field", None)) == ("invalid-argument", "inviteCode")
    assert db.docs == before


def test_redemptions_are_rate_limited_per_account_apart_from_joins(db: FakeDB) -> None:
    invited = invite(db)
    limiter = RateLimiter(2)
    for _ in range(2):
        refusal(db, guests.redeem_invite, "guest", {"inviteCode": "W" * 32}, redeem_limiter=limiter)
    records = len(audit_records(db))

    limited = refusal(db, guests.redeem_invite, "guest", {"inviteCode": invited["inviteCode"]}, redeem_limiter=limiter)

    assert (error_code(limited), limited.details()) == ("resource-exhausted", {"retryAfter": 60})
    assert guest_doc(db, invited["guestId"])["status"] == "invited"
    [record] = audit_records(db)[records:]
    assert (record["reason"], record["appointmentId"]) == ("rate_limited", None)
    # Another account's tries are its own, and the limited account's joins use another limit.
    assert redeem(db, invited["inviteCode"], "other", redeem_limiter=limiter)["guestId"] == invited["guestId"]
    join_limit = RateLimiter(1)
    refused = refusal(
        db, join.get_join_token, "guest", {"appointmentId": "a1"}, limiter=join_limit, redeem_limiter=limiter
    )
    assert error_code(refused) == "not-found"  # through the join's own limit: not bound, a stranger


def test_a_revoked_session_cannot_redeem(db: FakeDB) -> None:
    invited = invite(db)
    refused = refusal(db, guests.redeem_invite, "guest", {"inviteCode": invited["inviteCode"]}, session_live=False)
    assert (error_code(refused), refused.reason) == ("unauthenticated", "session_revoked")
    assert guest_doc(db, invited["guestId"])["redeemedBy"] is None


def test_two_accounts_racing_for_one_code_bind_one(db: FakeDB, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other account's binding lands between this request's read and its write: its precondition fails,
    it reads again and finds the invitation taken."""
    invited = invite(db)
    real_bind = guest_store.bind
    raced: list[str] = []

    def bind_after_the_other(db_: Any, appointment_id: str, guest: Any, uid: str) -> bool:
        if not raced:
            raced.append("other")
            assert real_bind(db_, appointment_id, guest, OTHER)
        return real_bind(db_, appointment_id, guest, uid)

    monkeypatch.setattr(guest_store, "bind", bind_after_the_other)
    refused = refusal(db, guests.redeem_invite, "guest", {"inviteCode": invited["inviteCode"]})
    assert (error_code(refused), refused.reason) == ("not-found", "invite_taken")
    assert guest_doc(db, invited["guestId"])["redeemedBy"] == OTHER


# Removing -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "by"), [("doctor", "doctor"), ("patient", "patient")])
def test_the_doctor_or_the_patient_removes_a_guest(db: FakeDB, who: str, by: str) -> None:
    invited = bound_guest(db)
    data = {"appointmentId": "a1", "guestId": invited["guestId"]}
    assert call(db, guests.remove_guest, who, data) == {"guestId": invited["guestId"], "removed": True}
    doc = guest_doc(db, invited["guestId"])
    assert (doc["status"], doc["removedBy"], doc["removedAt"]) == ("removed", by, SERVER_TIMESTAMP)
    record = audit_records(db)[-1]
    assert (record["role"], record["reason"], record["guestId"]) == (
        "moderator" if who == "doctor" else "guest",
        "guest_removed",
        invited["guestId"],
    )


def test_removing_a_guest_twice_changes_nothing_more(db: FakeDB) -> None:
    invited = bound_guest(db)
    data = {"appointmentId": "a1", "guestId": invited["guestId"]}
    call(db, guests.remove_guest, "patient", data)
    written = dict(db.times)
    assert call(db, guests.remove_guest, "doctor", data) == {"guestId": invited["guestId"], "removed": True}
    assert {path: at for path, at in db.times.items() if not path.startswith("videoAccessLog/")} == {
        path: at for path, at in written.items() if not path.startswith("videoAccessLog/")
    }
    record = audit_records(db)[-1]
    assert (record["reason"], record["guestId"], record["role"]) == (
        "guest_already_removed",
        invited["guestId"],
        "moderator",
    )


@pytest.mark.parametrize(
    ("who", "guest_id", "code", "reason", "message"),
    [
        pytest.param("stranger", None, "not-found", "not_found", "Appointment not found.", id="a stranger"),
        pytest.param("claimless doctor", None, "not-found", "not_found", "Appointment not found.", id="no claim"),
        pytest.param("guest", None, "not-found", "not_found", "Appointment not found.", id="the guest themselves"),
        pytest.param("doctor", "nobody", "not-found", "guest_not_found", "Invitation not found.", id="no such guest"),
        pytest.param(
            "patient", "a/b", "invalid-argument", "invalid_argument", "guestId must be a guest's id.", id="bad id"
        ),
    ],
)
def test_removal_refusals_are_exact_and_write_only_their_audit(
    db: FakeDB, who: str, guest_id: str | None, code: str, reason: str, message: str
) -> None:
    invited = bound_guest(db)
    before = stored(db)
    records = len(audit_records(db))
    data = {"appointmentId": "a1", "guestId": guest_id or invited["guestId"]}
    refused = refusal(db, guests.remove_guest, who, data)
    assert (error_code(refused), refused.reason, refused.message) == (code, reason, message)
    assert stored(db) == before
    assert [r["reason"] for r in audit_records(db)[records:]] == ([] if code == "invalid-argument" else [reason])


# Joining as a guest -------------------------------------------------------------------------------------------


def claims_of(answer: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(
        answer["token"], HMAC_SECRET, algorithms=["HS256"], audience="jitsi", options={"verify_exp": False}
    )
    return decoded


def test_a_bound_guest_joins_after_the_doctor_as_a_labelled_guest_without_any_feature(db: FakeDB) -> None:
    config = jitsi_config(doctor_features={"recording", "transcription"})
    db.put(
        "appointments/a1",
        appointment(video={"roomName": ROOM, "doctorJoinedAt": NOW, "recordingConsent": {"consent": True}}),
    )
    invited = bound_guest(db, config)

    answer = call(db, join.get_join_token, "guest", {"appointmentId": "a1"}, config=config)

    assert (answer["role"], answer["roomName"], answer["expiresAt"]) == ("guest", ROOM, NOW_S + 3600)
    user = claims_of(answer)["context"]["user"]
    assert user == {
        "id": f"guest-{invited['guestId']}",
        "name": "Ana Lima · interpreter",
        "email": "",
        "avatar": "",
        "moderator": "false",
    }
    assert set(claims_of(answer)["context"]["features"].values()) == {"false"}
    record = audit_records(db)[-1]
    assert (record["uid"], record["role"], record["reason"], record["guestId"], record["expiresAt"]) == (
        GUEST,
        "invitee",
        "ok",
        invited["guestId"],
        NOW_S + 3600,
    )


def test_a_guests_email_never_goes_into_the_token(db: FakeDB) -> None:
    config = jitsi_config(include_email=True)
    invited = invite(db, config, kind="caregiver", name="Sam")
    CALLERS["verified"] = gate.Caller(GUEST, {"email": "sam@example.test", "email_verified": True, "name": "Dr. Sam"})
    try:
        call(db, guests.redeem_invite, "verified", {"inviteCode": invited["inviteCode"]}, config=config)
        answer = call(db, join.get_join_token, "verified", {"appointmentId": "a1"}, config=config)
    finally:
        del CALLERS["verified"]
    user = claims_of(answer)["context"]["user"]
    assert (user["name"], user["email"]) == ("Sam · caregiver", "")  # the invited name, not the profile's


def test_an_invitation_admits_until_the_second_it_expires(db: FakeDB) -> None:
    invited = bound_guest(db)
    expires = NOW + dt.timedelta(minutes=20)
    db.put(f"appointments/a1/guests/{invited['guestId']}", {**guest_doc(db, invited["guestId"]), "expiresAt": expires})
    last = int(expires.timestamp()) - 1
    assert call(db, join.get_join_token, "guest", {"appointmentId": "a1"}, now=last)["expiresAt"] == last + 1
    refused = refusal(db, join.get_join_token, "guest", {"appointmentId": "a1"}, now=last + 1)
    assert (error_code(refused), refused.reason) == ("not-found", "not_found")


def test_a_guests_token_never_outlives_the_invitation(db: FakeDB) -> None:
    invited = bound_guest(db)
    db.put(
        f"appointments/a1/guests/{invited['guestId']}",
        {**guest_doc(db, invited["guestId"]), "expiresAt": NOW + dt.timedelta(minutes=20)},
    )
    answer = call(db, join.get_join_token, "guest", {"appointmentId": "a1"})
    assert answer["expiresAt"] == NOW_S + 20 * 60


@pytest.mark.parametrize(
    ("mode", "video", "reason"),
    [
        pytest.param("host", {}, "waiting_for_doctor", id="host: before the doctor"),
        pytest.param("admit", {"doctorJoinedAt": NOW}, "waiting_for_admission", id="admit: not admitted"),
        pytest.param("admit", {"deniedAt": NOW}, "admission_denied", id="admit: the patient was denied"),
    ],
)
def test_a_guest_waits_in_the_patients_waiting_room_and_writes_nothing(
    db: FakeDB, mode: str, video: dict[str, Any], reason: str
) -> None:
    config = jitsi_config(waiting_room=mode)
    invited = bound_guest(db, config)
    db.put("appointments/a1", appointment(video={"roomName": ROOM, "guestsInvited": True, **video}))
    before = stored(db)
    refused = refusal(db, join.get_join_token, "guest", {"appointmentId": "a1"}, config=config)
    assert (error_code(refused), refused.details()) == ("failed-precondition", {"reason": reason})
    assert stored(db) == before  # in admit mode, no lobby entry: the lobby is the patient's
    assert audit_records(db)[-1]["guestId"] == invited["guestId"]


@pytest.mark.parametrize(
    ("mode", "video"),
    [
        pytest.param("off", {}, id="no waiting room"),
        pytest.param("admit", {"admittedAt": NOW}, id="admit: the patient was admitted"),
    ],
)
def test_a_guest_is_let_in_when_the_patient_would_be(db: FakeDB, mode: str, video: dict[str, Any]) -> None:
    config = jitsi_config(waiting_room=mode)
    bound_guest(db, config)
    db.put("appointments/a1", appointment(video={"roomName": ROOM, "guestsInvited": True, **video}))
    assert call(db, join.get_join_token, "guest", {"appointmentId": "a1"}, config=config)["role"] == "guest"


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(
            lambda db, g: call(db, guests.remove_guest, "patient", {"appointmentId": "a1", "guestId": g}), id="removed"
        ),
        pytest.param(lambda db, g: guest_store.end_invitations(db, "a1", ROOM), id="ended"),
    ],
)
def test_a_guest_is_refused_at_once_when_their_invitation_no_longer_admits_them(
    db: FakeDB, after: Callable[[FakeDB, str], Any]
) -> None:
    invited = bound_guest(db)
    after(db, invited["guestId"])
    before = stored(db)
    refused = refusal(db, join.get_join_token, "guest", {"appointmentId": "a1"})
    assert (error_code(refused), refused.reason, refused.details()) == ("not-found", "not_found", None)
    assert stored(db) == before
    record = audit_records(db)[-1]
    assert (record["role"], record["guestId"], record["outcome"]) == ("invitee", invited["guestId"], "denied")


def test_after_a_move_a_former_guest_is_refused_as_a_stranger(db: FakeDB) -> None:
    # The new room's map has had no invitation: the join does not look for one (its audit names no guest).
    invited = bound_guest(db)
    moved(db, "", invited["guestId"])
    before, queries = stored(db), len(db.queries)
    refused = refusal(db, join.get_join_token, "guest", {"appointmentId": "a1"})
    assert (error_code(refused), refused.reason, refused.details()) == ("not-found", "not_found", None)
    assert (stored(db), db.queries[queries:]) == (before, [])
    record = audit_records(db)[-1]
    assert (record["role"], "guestId" in record, record["outcome"]) == (None, False, "denied")


def test_an_invitation_admits_only_to_its_own_visit(db: FakeDB) -> None:
    bound_guest(db)
    db.put("appointments/a2", appointment())
    refused = refusal(db, join.get_join_token, "guest", {"appointmentId": "a2"})
    assert error_code(refused) == "not-found"


def test_the_patients_and_the_doctors_joins_never_look_for_an_invitation(
    db: FakeDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guest_store, "bound_guest", lambda *_a: pytest.fail("looked for an invitation"))
    assert call(db, join.get_join_token, "patient", {"appointmentId": "a1"})["role"] == "guest"
    assert call(db, join.get_join_token, "doctor", {"appointmentId": "a1"})["role"] == "moderator"


def test_the_first_invitation_marks_the_rooms_map_and_the_next_ones_leave_it(db: FakeDB) -> None:
    assert "guestsInvited" not in db.docs["appointments/a1"]["video"]
    two = jitsi_config(max_guests=2)
    video = dict(db.docs["appointments/a1"]["video"])
    invite(db, two)
    assert db.docs["appointments/a1"]["video"] == {**video, "guestsInvited": True}
    marked_at = db.times["appointments/a1"]
    invite(db, two, name="Second Guest", kind="caregiver")
    assert db.times["appointments/a1"] == marked_at  # no second write of the appointment


def test_a_strangers_join_to_a_visit_without_invitations_looks_for_none(db: FakeDB) -> None:
    before = stored(db)
    refused = refusal(db, join.get_join_token, "stranger", {"appointmentId": "a1"})
    assert (error_code(refused), refused.reason) == ("not-found", "not_found")
    assert db.queries == []  # the appointment's map has no guestsInvited: no guest query
    assert stored(db) == before


def test_a_strangers_join_to_a_visit_with_invitations_looks_and_is_refused(db: FakeDB) -> None:
    bound_guest(db)
    before, queries = stored(db), len(db.queries)
    refused = refusal(db, join.get_join_token, "stranger", {"appointmentId": "a1"})
    assert (error_code(refused), refused.reason) == ("not-found", "not_found")
    assert [query["collection"] for query in db.queries[queries:]] == ["appointments/a1/guests"]
    assert stored(db) == before
    assert audit_records(db)[-1]["role"] is None


def test_a_bound_guest_of_a_map_without_the_mark_is_a_stranger(db: FakeDB) -> None:
    # Only the backend writes the map, and always with the mark once invited; without it, no guest is looked for.
    bound_guest(db)
    db.put("appointments/a1", appointment(video={"roomName": ROOM}))
    before = stored(db)
    refused = refusal(db, join.get_join_token, "guest", {"appointmentId": "a1"})
    assert (error_code(refused), refused.reason) == ("not-found", "not_found")
    assert stored(db) == before
    assert "guestId" not in audit_records(db)[-1]


def test_the_other_callables_treat_a_bound_guest_as_a_stranger(db: FakeDB) -> None:
    admit = jitsi_config(waiting_room="admit")
    bound_guest(db, admit)
    for use_case, data in (
        (guests.invite_guest, INVITE),
        (lobby.set_recording_consent, {"appointmentId": "a1", "consent": True}),
        (lobby.admit_patient, {"appointmentId": "a1", "admit": True}),
    ):
        refused = refusal(db, use_case, "guest", data, config=admit)
        assert error_code(refused) == "not-found"
        record = audit_records(db)[-1]
        assert (record["uid"], record["role"], "guestId" in record) == (GUEST, None, False)
