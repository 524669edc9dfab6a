"""Guests through the emulators, over real HTTP as real Auth-emulator accounts: the doctor invites, an anonymous
account redeems and joins as a labelled guest after the doctor, a second account and a wrong code are refused
alike, the patient removes the guest and the guest is refused at once, a stranger and the patient cannot invite,
the limit holds (the suite's default: one), and the trigger ends an invitation when its visit is cancelled."""

from __future__ import annotations

from typing import Any

import emulator_api as emu
import jwt
import pytest
from google.cloud import firestore

VISIT = "guest-visit"
INVITE = {"appointmentId": VISIT, "kind": "interpreter", "name": "Ana Lima"}


def book(db: firestore.Client, people: dict[str, emu.User]) -> firestore.DocumentReference:
    """A confirmed video visit whose room the trigger assigned."""
    ref = db.collection("appointments").document(VISIT)
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid))
    emu.wait_for(lambda: (ref.get().to_dict() or {}).get("video"), timeout=30)
    return ref


def visit_documents(db: firestore.Client) -> dict[str, dict[str, Any]]:
    """The visit, its guests and every invitation lookup: what a refusal must leave as it was."""
    ref = db.collection("appointments").document(VISIT)
    found = {ref.path: ref.get().to_dict() or {}}
    for snapshot in [*ref.collection("guests").stream(), *db.collection("guestInvites").stream()]:
        found[snapshot.reference.path] = snapshot.to_dict() or {}
    return found


def reasons(db: firestore.Client) -> list[str]:
    return sorted(str((snap.to_dict() or {}).get("reason")) for snap in db.collection("videoAccessLog").stream())


def join(user: emu.User) -> emu.CallResult:
    return emu.call("get_join_token", {"appointmentId": VISIT}, user.id_token)


def test_an_anonymous_guest_redeems_joins_after_the_doctor_and_is_removed_by_the_patient(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = book(db, people)
    invited = emu.call("invite_guest", INVITE, people["doctor"].id_token)
    assert invited.ok, invited
    code, guest_id = invited.result["inviteCode"], invited.result["guestId"]
    # The suite's params (scripts/demo.env) name the demo page on the Hosting emulator as the join page.
    assert invited.result["inviteUrl"] == f"http://127.0.0.1:5180/#invite={code}"
    guest_ref = ref.collection("guests").document(guest_id)
    assert (guest_ref.get().to_dict() or {})["status"] == "invited"
    assert code not in repr(visit_documents(db))

    guest = emu.sign_in_anonymously()
    redeemed = emu.call("redeem_invite", {"inviteCode": code}, guest.id_token)
    assert redeemed.ok, redeemed
    assert (redeemed.result["appointmentId"], redeemed.result["guestId"]) == (VISIT, guest_id)
    assert (guest_ref.get().to_dict() or {})["redeemedBy"] == guest.uid

    # The patient's waiting room holds the guest until the doctor is in.
    waiting = join(guest)
    assert (waiting.status, waiting.details) == ("FAILED_PRECONDITION", {"reason": "waiting_for_doctor"})
    assert join(people["doctor"]).result["role"] == "moderator"
    joined = join(guest)
    assert joined.ok, joined
    assert (joined.result["role"], joined.result["roomName"]) == ("guest", ref.get().to_dict()["video"]["roomName"])
    claims = jwt.decode(joined.result["token"], emu.local_signing_key(), algorithms=["HS256"], audience="jitsi")
    assert claims["context"]["user"] == {
        "id": f"guest-{guest_id}",
        "name": "Ana Lima · interpreter",
        "email": "",
        "avatar": "",
        "moderator": "false",
    }
    assert set(claims["context"]["features"].values()) == {"false"}

    removed = emu.call("remove_guest", {"appointmentId": VISIT, "guestId": guest_id}, people["patient"].id_token)
    assert removed.result == {"guestId": guest_id, "removed": True}
    before = visit_documents(db)
    refused = join(guest)
    assert (refused.status, refused.details) == ("NOT_FOUND", None)
    again = emu.call("redeem_invite", {"inviteCode": code}, guest.id_token)
    assert (again.status, again.details) == ("NOT_FOUND", None)
    assert visit_documents(db) == before
    assert reasons(db) == sorted(
        [
            "guest_invited",
            "invite_redeemed",
            "waiting_for_doctor",
            "ok",
            "ok",
            "guest_removed",
            "not_found",
            "invite_removed",
        ]
    )
    assert code not in repr([snap.to_dict() for snap in db.collection("videoAccessLog").stream()])


def test_a_second_account_and_a_wrong_code_are_refused_alike_and_bind_nothing(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    book(db, people)
    code = emu.call("invite_guest", INVITE, people["doctor"].id_token).result["inviteCode"]
    assert emu.call("redeem_invite", {"inviteCode": code}, emu.sign_in_anonymously().id_token).ok
    before = visit_documents(db)

    second = emu.sign_in_anonymously()
    taken = emu.call("redeem_invite", {"inviteCode": code}, second.id_token)
    wrong = emu.call("redeem_invite", {"inviteCode": "W" * 32}, second.id_token)

    assert (taken.http_status, taken.status, taken.message, taken.details) == (
        wrong.http_status,
        wrong.status,
        wrong.message,
        wrong.details,
    )
    assert (taken.status, taken.message, taken.details) == ("NOT_FOUND", "Invitation not found.", None)
    assert visit_documents(db) == before
    stranger = join(second)
    assert (stranger.status, stranger.details) == ("NOT_FOUND", None)  # not a guest of the visit


@pytest.mark.parametrize("who", ["patient", "stranger"])
def test_the_patient_and_a_stranger_cannot_invite(db: firestore.Client, people: dict[str, emu.User], who: str) -> None:
    book(db, people)
    before = visit_documents(db)
    answer = emu.call("invite_guest", INVITE, people[who].id_token)
    assert (answer.status, answer.message, answer.details) == ("NOT_FOUND", "Appointment not found.", None)
    assert visit_documents(db) == before
    assert reasons(db) == ["not_found"]


def test_the_guest_limit_holds_and_a_removal_frees_the_place(db: firestore.Client, people: dict[str, emu.User]) -> None:
    book(db, people)
    first = emu.call("invite_guest", INVITE, people["doctor"].id_token)
    assert first.ok, first
    before = visit_documents(db)

    full = emu.call("invite_guest", {**INVITE, "kind": "caregiver"}, people["doctor"].id_token)

    assert (full.status, full.details) == ("FAILED_PRECONDITION", {"reason": "guest_limit", "maxGuests": 1})
    assert visit_documents(db) == before
    removal = {"appointmentId": VISIT, "guestId": first.result["guestId"]}
    assert emu.call("remove_guest", removal, people["doctor"].id_token).ok
    assert emu.call("invite_guest", {**INVITE, "kind": "caregiver"}, people["doctor"].id_token).ok


def test_a_cancelled_visit_ends_its_invitations_through_the_trigger(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = book(db, people)
    invited = emu.call("invite_guest", INVITE, people["doctor"].id_token).result
    guest = emu.sign_in_anonymously()
    assert emu.call("redeem_invite", {"inviteCode": invited["inviteCode"]}, guest.id_token).ok

    ref.update({"status": "cancelled"})

    guest_ref = ref.collection("guests").document(invited["guestId"])
    emu.wait_for(lambda: True if (guest_ref.get().to_dict() or {}).get("status") == "ended" else None, timeout=30)
    refused = join(guest)
    assert (refused.status, refused.details) == ("NOT_FOUND", None)
