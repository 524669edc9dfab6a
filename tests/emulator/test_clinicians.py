"""Who is a doctor, who may call how often, and which ids exist: through the real emulators and the real CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import emulator_api as emu
import jwt
import pytest
import requests
from conftest import all_documents
from firebase_admin import auth
from google.cloud import firestore

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "scripts" / "clinic"


def clinic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLINIC), *args], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def admin_auth() -> Any:
    import clinic as clinic_module

    return clinic_module.Clinic(clinic_module.resolve_target(emu.PROJECT)).app


def book(db: firestore.Client, doc_id: str, doctor: str, patient: str, **changes: Any) -> None:
    room = {
        "roomName": "c" * 32,
        "provider": "jitsi",
        "roomUrl": "https://meet.example.test/" + "c" * 32,
        "doctorJoinedAt": emu.utc(),
    }  # the doctor is in: the waiting room lets the patient in
    db.collection("appointments").document(doc_id).set(emu.video_appointment(doctor, patient, video=room) | changes)


def join(user: emu.User | None, doc_id: str) -> emu.CallResult:
    return emu.call("get_join_token", {"appointmentId": doc_id}, user.id_token if user else None)


def audit(db: firestore.Client) -> list[dict[str, Any]]:
    return [snap.to_dict() or {} for snap in db.collection("videoAccessLog").stream()]


class TestClinicCommand:
    def test_add_doctor_creates_the_account_sets_the_claim_and_the_entry_and_says_where(
        self, db: firestore.Client
    ) -> None:
        result = clinic("add-doctor", "--email", "New.Doc@Clinic.Test", "--name", "Dr.  New", "--specialty", "ENT")
        assert result.returncode == 0, result.stderr
        assert "acting on the emulators: project demo-telehealth" in result.stdout
        assert "created doctor new.doc@clinic.test" in result.stdout
        user = auth.get_user_by_email("new.doc@clinic.test", app=admin_auth())
        assert user.custom_claims == {"role": "doctor"}
        entry = db.collection("doctors").document(user.uid).get().to_dict()
        assert (entry["displayName"], entry["active"], entry["specialty"]) == ("Dr. New", True, "ENT")

    def test_add_doctor_is_idempotent_and_keeps_other_claims(self, db: firestore.Client) -> None:
        patient = emu.sign_up("twice@test.example", "twice-pass-1")
        auth.set_custom_user_claims(patient.uid, {"clinic": "north"}, app=admin_auth())
        for expected in ("updated", "updated"):
            result = clinic("add-doctor", "--email", "twice@test.example", "--name", "Dr. Twice")
            assert result.returncode == 0, result.stderr
            assert f"{expected} doctor twice@test.example (uid {patient.uid})" in result.stdout
        assert auth.get_user(patient.uid, app=admin_auth()).custom_claims == {"clinic": "north", "role": "doctor"}
        assert [snap.id for snap in db.collection("doctors").stream()] == [patient.uid]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            pytest.param(["add-doctor", "--email", "not-an-email", "--name", "Dr. X"], "--email", id="bad email"),
            pytest.param(["add-doctor", "--email", "x@test.example", "--name", "  "], "--name", id="blank name"),
            pytest.param(["add-doctor", "--email", "x@test.example", "--name", "Dr.\u202eX"], "--name", id="RTL name"),
            pytest.param(["add-doctor", "--email", "x@test.example", "--name", "D" * 81], "80", id="long name"),
            pytest.param(["remove-doctor", "--email", "nobody"], "--email", id="remove: bad email"),
        ],
    )
    def test_bad_input_exits_2_with_a_message_and_writes_nothing(
        self, db: firestore.Client, args: list[str], message: str
    ) -> None:
        result = clinic(*args)
        assert result.returncode == 2
        assert message in result.stderr
        assert all_documents(db) == {}
        with pytest.raises(auth.UserNotFoundError):
            auth.get_user_by_email("x@test.example", app=admin_auth())

    def test_removing_an_unknown_account_exits_1(self, db: firestore.Client) -> None:
        result = clinic("remove-doctor", "--email", "ghost@test.example")
        assert (result.returncode, "no user with email ghost@test.example" in result.stderr) == (1, True)
        assert all_documents(db) == {}

    def test_list_shows_the_directory_with_each_state(self, db: firestore.Client) -> None:
        for email, name in (("a@test.example", "Dr. A"), ("b@test.example", "Dr. B")):
            assert clinic("add-doctor", "--email", email, "--name", name).returncode == 0
        assert clinic("remove-doctor", "--email", "b@test.example").returncode == 0
        lines = clinic("list").stdout.splitlines()
        assert lines[0].startswith("acting on the emulators")
        assert [line.split()[0] for line in lines[1:3]] == ["active", "inactive"]
        assert "a@test.example  Dr. A" in lines[1]
        assert lines[-1] == "2 in the directory"


def test_the_impersonation_from_the_review_is_refused_at_every_step(db: firestore.Client) -> None:
    """Account A books with account B's uid as doctorId; B tries to confirm and to get a moderator token."""
    patient = emu.sign_up("victim-a@test.example", "patient-pass-1")
    impostor = emu.sign_up("impostor-b@test.example", "impostor-pass-1", "Dr. Fake")
    start = emu.utc(dt.timedelta(minutes=5))
    booking = {
        "patientId": patient.uid,
        "doctorId": impostor.uid,
        "type": "video",
        "status": "pending",
        "startTime": start,
        "endTime": start + dt.timedelta(minutes=30),
    }
    assert emu.UserFirestore(patient.id_token).create("appointments", "fake", booking) == 403
    assert all_documents(db) == {}

    # Even a booking a server wrote, confirmed, with a room, gives B nothing.
    book(db, "server-written", impostor.uid, patient.uid, status="pending")
    assert emu.UserFirestore(impostor.id_token).update("appointments/server-written", {"status": "confirmed"}) == 403
    book(db, "server-written", impostor.uid, patient.uid)
    answer = join(impostor, "server-written")
    assert (answer.status, answer.details) == ("NOT_FOUND", None)
    [record] = audit(db)
    assert (record["uid"], record["role"], record["reason"]) == (impostor.uid, None, "not_found")


def test_a_removed_doctor_is_locked_out_of_rules_and_tokens_at_once(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    doctor, patient = people["doctor"], people["patient"]
    book(db, "before-removal", doctor.uid, patient.uid)
    book(db, "to-confirm", doctor.uid, patient.uid, status="pending", video=None)
    assert join(doctor, "before-removal").result["role"] == "moderator"
    # Revocation counts in whole seconds (a token issued in the revoking second stays valid): wait until the
    # clock has left the second the token was issued in (at most a second; a deadline, not a fixed sleep).
    issued = jwt.decode(doctor.id_token, options={"verify_signature": False})["iat"]
    emu.wait_for(lambda: time.time() >= issued + 1 or None, timeout=5, interval=0.01)

    assert clinic("remove-doctor", "--email", doctor.email).returncode == 0

    # The same ID token (still holding the claim) is refused by the rules and by the callable.
    assert emu.UserFirestore(doctor.id_token).update("appointments/to-confirm", {"status": "confirmed"}) == 403
    answer = join(doctor, "before-removal")
    assert (answer.status, answer.details) == ("UNAUTHENTICATED", None)
    assert ("session_revoked", doctor.uid) in {(r["reason"], r["uid"]) for r in audit(db)}
    # Signing in again gives a token without the claim: a stranger to the appointment.
    fresh = emu.sign_in(doctor.email, "doctor-pass-1")
    assert jwt.decode(fresh.id_token, options={"verify_signature": False}).get("role") is None
    assert join(fresh, "before-removal").status == "NOT_FOUND"
    assert emu.UserFirestore(fresh.id_token).update("appointments/to-confirm", {"status": "confirmed"}) == 403
    # The patient is unaffected.
    assert join(patient, "before-removal").result["role"] == "guest"


def test_a_disabled_patient_gets_unauthenticated_at_once(db: firestore.Client, people: dict[str, emu.User]) -> None:
    book(db, "visit", people["doctor"].uid, people["patient"].uid)
    assert join(people["patient"], "visit").ok
    auth.update_user(people["patient"].uid, disabled=True, app=admin_auth())
    answer = join(people["patient"], "visit")
    assert (answer.status, answer.details) == ("UNAUTHENTICATED", None)


def test_names_with_control_and_format_characters_come_out_clean(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    patient = emu.sign_up("rtl@test.example", "rtl-pass-1", "Pat\u202e\u200b Smith\u0007")
    book(db, "named", people["doctor"].uid, patient.uid)
    token = join(patient, "named").result["token"]
    assert jwt.decode(token, options={"verify_signature": False})["context"]["user"]["name"] == "Pat Smith"
    doctor_token = join(people["doctor"], "named").result["token"]
    assert jwt.decode(doctor_token, options={"verify_signature": False})["context"]["user"]["name"] == "Dr. Who"


def test_a_signed_out_flood_writes_nothing(db: firestore.Client, people: dict[str, emu.User]) -> None:
    book(db, "visit", people["doctor"].uid, people["patient"].uid)
    before = all_documents(db)
    answers = {emu.call("get_join_token", {"appointmentId": f"made-up-{n}"}).status for n in range(150)}
    answers |= {emu.call("get_join_token", {"appointmentId": "visit"}).status for _ in range(50)}
    assert answers == {"UNAUTHENTICATED"}
    assert all_documents(db) == before


def test_one_account_calling_200_times_in_a_minute_gets_exactly_the_limit_through(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    book(db, "visit", people["doctor"].uid, people["patient"].uid)
    # One rate_limited record per account and clock minute (its id holds the minute): note the minute each
    # refused call was sent and answered in, rather than sleeping to the start of a minute and hoping the
    # 200 calls fit in what is left of it (on a loaded machine they did not, once).
    statuses, minutes = [], []
    for _ in range(200):
        sent = int(time.time()) // 60
        statuses.append(join(people["patient"], "visit"))
        minutes.append((sent, int(time.time()) // 60))

    granted = [a for a in statuses if a.ok]
    limited = [a for a in statuses if a.status == "RESOURCE_EXHAUSTED"]
    assert (len(granted), len(limited)) == (20, 180)
    assert all(isinstance(a.details["retryAfter"], int) and 1 <= a.details["retryAfter"] <= 60 for a in limited)
    records = audit(db)
    assert sorted(r["reason"] for r in records if r["reason"] != "rate_limited") == ["ok"] * 20
    refused = [span for answer, span in zip(statuses, minutes, strict=True) if not answer.ok]
    surely = {sent for sent, answered in refused if sent == answered}  # minutes a refusal certainly fell in
    maybe = {minute for span in refused for minute in span}
    limited_ids = [snap.id for snap in db.collection("videoAccessLog").stream() if snap.get("reason") == "rate_limited"]
    recorded = {int(record_id.split("-")[1]) for record_id in limited_ids}  # rate_limited-<minute>-<uid hash>
    assert len(recorded) == len(limited_ids)
    assert surely <= recorded <= maybe, (surely, recorded, maybe)
    assert len(recorded) == 1 or len(maybe) > 1  # more than one record only when the run crossed a minute
    # Another account is not slowed down by this one.
    assert join(people["doctor"], "visit").ok


IDS = [
    "x",
    "A-b_9",
    "z" * 128,
    "z" * 129,
    "caf\u00e9",
    "a\u00a0b",
    "a\u200bb",
    "a\u202eb",
    "\u0430ppt",
    "a.b",
    "a b",
    "__reserved__",
]


@pytest.mark.parametrize("doc_id", IDS, ids=[repr(i)[:24] for i in IDS])
def test_the_rules_and_the_callable_agree_on_every_id(
    db: firestore.Client, people: dict[str, emu.User], doc_id: str
) -> None:
    start = emu.utc(dt.timedelta(days=1))
    booking = {
        "patientId": people["patient"].uid,
        "doctorId": people["doctor"].uid,
        "type": "video",
        "status": "pending",
        "startTime": start,
        "endTime": start + dt.timedelta(minutes=30),
    }
    created = emu.UserFirestore(people["patient"].id_token).create("appointments", doc_id, booking)
    answer = join(people["patient"], doc_id)

    assert created in (200, 400, 403)
    if created == 200:
        assert (answer.status, answer.details) == ("FAILED_PRECONDITION", {"reason": "not_confirmed"})
    else:
        assert answer.status == "INVALID_ARGUMENT"
        assert not any(path.startswith("appointments/") for path in all_documents(db))


def test_the_trigger_gives_a_room_to_a_server_written_id_its_conditional_write_cannot_handle(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    ref = db.collection("appointments").document("caf\u00e9-visit")
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending"))
    ref.update({"status": "confirmed"})

    def room() -> str | None:
        video = (ref.get().to_dict() or {}).get("video")
        return video.get("roomName") if isinstance(video, dict) else None

    assert len(emu.wait_for(room, timeout=30)) == 32


def test_the_emulator_log_holds_no_error_from_our_code_for_malformed_bodies(people: dict[str, emu.User]) -> None:
    """Malformed bodies are refused by the functions SDK before our code runs; nothing of ours logs them."""
    url = f"{emu.functions_base()}/{emu.PROJECT}/{emu.REGION}/get_join_token"
    log = Path(os.environ["EMULATOR_LOG"])
    start = len(log.read_text(errors="replace"))
    for body in (b"not json", b'"a string"', b"[" * 200 + b"]" * 200, b'{"data": {"appointmentId": "x"}, "extra": 1}'):
        reply = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert reply.status_code in (400, 500)
    new = log.read_text(errors="replace")[start:]
    assert "join failed" not in new
    assert "room lifecycle failed" not in new
