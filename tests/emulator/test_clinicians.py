"""Who is a doctor, who may call how often, and which ids exist: through the real emulators and the real CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
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


def clinic(
    *args: str, env: dict[str, str | None] | None = None, stdin: str = "", cli: Path = CLINIC
) -> subprocess.CompletedProcess[str]:
    """Run the admin command as a user would, in a shell holding the emulator variables plus ``env``
    (a None value unsets one), with ``stdin`` as what is typed."""
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(  # noqa: S603
        [str(cli), *args], capture_output=True, text=True, timeout=60, check=False, env=environment, input=stdin
    )


# A shell with no emulator variables and no usable credentials: nothing can reach a real project, and if the
# command tried it would fail at once with exit 1, never with the refusal (exit 2) that these tests expect.
NO_EMULATORS: dict[str, str | None] = {
    "FIRESTORE_EMULATOR_HOST": None,
    "FIREBASE_AUTH_EMULATOR_HOST": None,
    "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/credentials.json",
    "GOOGLE_CLOUD_PROJECT": None,
    "GCLOUD_PROJECT": None,
}


def admin_auth() -> Any:
    import clinic as clinic_module

    return clinic_module.Clinic(clinic_module.resolve_target(emu.PROJECT)).app


def account(uid: str) -> tuple[Any, int, bool]:
    """What the command may change on an account: its claims, when its sessions were last revoked, disabled."""
    user = auth.get_user(uid, app=admin_auth())
    return user.custom_claims, user.tokens_valid_after_timestamp, user.disabled


def verify_email(uid: str) -> None:
    auth.update_user(uid, email_verified=True, app=admin_auth())


def session_revoked(id_token: str) -> bool:
    """Whether an ID token's session was revoked, checked as get_join_token checks it (the Auth emulator does
    not refuse a revoked refresh token, so the ID token from before is what shows a revocation here)."""
    try:
        auth.verify_id_token(id_token, app=admin_auth(), check_revoked=True)
    except auth.RevokedIdTokenError:
        return True
    return False


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

    def test_add_doctor_existing_is_idempotent_keeps_other_claims_and_revokes_only_when_it_grants(
        self, db: firestore.Client
    ) -> None:
        patient = emu.sign_up("twice@test.example", "twice-pass-1")
        verify_email(patient.uid)
        auth.set_custom_user_claims(patient.uid, {"clinic": "north"}, app=admin_auth())
        revoked_at = []
        for expected in ("its earlier sessions revoked", "active\n"):
            time.sleep(1.1)  # revocation times count in whole seconds: a second revocation would show
            result = clinic("add-doctor", "--email", "twice@test.example", "--name", "Dr. Twice", "--existing")
            assert result.returncode == 0, result.stderr
            assert f"updated doctor twice@test.example (uid {patient.uid}): active" in result.stdout
            assert expected in result.stdout
            revoked_at.append(account(patient.uid)[1])
        assert revoked_at[0] == revoked_at[1], "the second run revoked the doctor's sessions again"
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
            pytest.param(
                ["add-doctor", "--email", "x@test.example", "--uid", "u1", "--name", "Dr. X"],
                "not allowed with argument",
                id="both --email and --uid",
            ),
            pytest.param(["add-doctor", "--uid", "a b", "--name", "Dr. X", "--existing"], "--uid", id="bad uid"),
            pytest.param(["add-doctor", "--uid", "u1", "--name", "Dr. X"], "--existing", id="--uid without existing"),
            pytest.param(
                ["--project", "Not A Project", "add-doctor", "--email", "x@test.example", "--name", "Dr. X"],
                "--project",
                id="bad project id",
            ),
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

    @pytest.mark.parametrize(
        "args",
        [
            pytest.param(["remove-doctor", "--email", "ghost@test.example"], id="remove by email"),
            pytest.param(["remove-doctor", "--uid", "no-such-uid"], id="remove by uid"),
            pytest.param(["add-doctor", "--uid", "no-such-uid", "--name", "Dr. G", "--existing"], id="add by uid"),
            pytest.param(
                ["add-doctor", "--email", "ghost@test.example", "--name", "Dr. G", "--existing"],
                id="add --existing for an email with no account",
            ),
        ],
    )
    def test_an_unknown_account_exits_1_and_writes_nothing(self, db: firestore.Client, args: list[str]) -> None:
        result = clinic(*args)
        assert result.returncode == 1
        assert "clinic: no user with that" in result.stderr
        assert "ghost@test.example" not in result.stderr, "the error repeats personal data"
        assert all_documents(db) == {}
        with pytest.raises(auth.UserNotFoundError):
            auth.get_user_by_email("ghost@test.example", app=admin_auth())

    def test_list_shows_the_directory_with_each_state(self, db: firestore.Client) -> None:
        for email, name in (("a@test.example", "Dr. A"), ("b@test.example", "Dr. B")):
            assert clinic("add-doctor", "--email", email, "--name", name).returncode == 0
        assert clinic("remove-doctor", "--email", "b@test.example").returncode == 0
        lines = clinic("list").stdout.splitlines()
        assert lines[0].startswith("acting on the emulators")
        assert [line.split()[0] for line in lines[1:3]] == ["active", "inactive"]
        assert "a@test.example  Dr. A" in lines[1]
        assert lines[-1] == "2 in the directory"


class TestNoDoctorByPreRegistration:
    """Issue 24 (1): whoever registers the doctor's email first must not become the doctor."""

    def test_an_email_someone_registered_beforehand_is_refused_and_nothing_changes(self, db: firestore.Client) -> None:
        squatter = emu.sign_up("dr.lee@clinic.test", "squatter-pass-1")
        before = account(squatter.uid)

        result = clinic("add-doctor", "--email", "dr.lee@clinic.test", "--name", "Dr. Lee")

        assert result.returncode == 2
        assert f"already exists (uid {squatter.uid})" in result.stderr
        assert "--existing" in result.stderr
        assert "dr.lee@clinic.test" not in result.stderr
        assert account(squatter.uid) == before  # no claim, no revocation, not disabled
        assert all_documents(db) == {}
        assert not session_revoked(squatter.id_token)

    @pytest.mark.parametrize("by", ["email", "uid"])
    def test_existing_is_refused_while_the_email_is_not_verified(self, db: firestore.Client, by: str) -> None:
        squatter = emu.sign_up("dr.lee@clinic.test", "squatter-pass-1")
        before = account(squatter.uid)
        who = ["--email", "dr.lee@clinic.test"] if by == "email" else ["--uid", squatter.uid]

        result = clinic("add-doctor", *who, "--name", "Dr. Lee", "--existing")

        assert result.returncode == 2
        assert f"the account (uid {squatter.uid}) has no verified email" in result.stderr
        assert account(squatter.uid) == before
        assert all_documents(db) == {}

    @pytest.mark.parametrize("by", ["email", "uid"])
    def test_a_verified_account_is_shown_its_sessions_revoked_and_then_made_a_doctor(
        self, db: firestore.Client, by: str
    ) -> None:
        user = emu.sign_up("dr.lee@clinic.test", "doctor-pass-1")
        verify_email(user.uid)
        record = auth.get_user(user.uid, app=admin_auth())
        created = dt.datetime.fromtimestamp(record.user_metadata.creation_timestamp / 1000, dt.UTC)
        time.sleep(1.1)  # revocation counts in whole seconds: step past the sign-up's
        who = ["--email", "dr.lee@clinic.test"] if by == "email" else ["--uid", user.uid]

        result = clinic("add-doctor", *who, "--name", "Dr. Lee", "--existing")

        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("acting on the emulators: project demo-telehealth")
        assert f"existing account: uid {user.uid}" in lines
        assert "  sign-in providers: password" in lines
        assert f"  created: {created.isoformat(timespec='seconds')}" in lines
        assert "  email verified: yes" in lines
        assert lines[-1].startswith("updated doctor ")
        assert lines[-1].endswith(f"uid {user.uid}{')' if by == 'email' else ''}: active, its earlier sessions revoked")
        claims, revoked_at, disabled = account(user.uid)
        assert (claims, disabled) == ({"role": "doctor"}, False)
        assert revoked_at > record.tokens_valid_after_timestamp
        # The session from before the grant is dead; a new sign-in carries the claim.
        assert session_revoked(user.id_token)
        fresh = emu.sign_in("dr.lee@clinic.test", "doctor-pass-1")
        assert jwt.decode(fresh.id_token, options={"verify_signature": False})["role"] == "doctor"
        assert db.collection("doctors").document(user.uid).get().to_dict()["active"] is True

    def test_the_sessions_are_revoked_before_the_claim_is_granted(
        self, db: firestore.Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import clinic as clinic_module

        user = emu.sign_up("dr.lee@clinic.test", "doctor-pass-1")
        verify_email(user.uid)
        calls: list[str] = []

        def recorded(name: str) -> Any:
            real = getattr(clinic_module.auth, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                calls.append(name)
                return real(*args, **kwargs)

            return call

        for name in ("revoke_refresh_tokens", "set_custom_user_claims"):
            monkeypatch.setattr(clinic_module.auth, name, recorded(name))
        status = clinic_module.run(
            ["add-doctor", "--email", "dr.lee@clinic.test", "--name", "Dr. Lee", "--existing"], out=io.StringIO()
        )
        assert status == 0
        assert calls == ["revoke_refresh_tokens", "set_custom_user_claims"]


class TestRemoveDoctor:
    def test_remove_by_uid_with_disable_locks_the_account_out_entirely(
        self, db: firestore.Client, people: dict[str, emu.User]
    ) -> None:
        doctor = people["doctor"]
        revoked_before = account(doctor.uid)[1]
        time.sleep(1.1)

        result = clinic("remove-doctor", "--uid", doctor.uid, "--disable")

        assert result.returncode == 0, result.stderr
        assert f"removed doctor uid {doctor.uid}: inactive, claim removed, sessions revoked, account disabled" in (
            result.stdout
        )
        claims, revoked_at, disabled = account(doctor.uid)
        assert (claims, disabled) == (None, True)
        assert revoked_at > revoked_before
        assert db.collection("doctors").document(doctor.uid).get().to_dict()["active"] is False
        with pytest.raises(requests.HTTPError):
            emu.sign_in(doctor.email, "doctor-pass-1")
        # Idempotent: a second run changes nothing and still succeeds.
        assert clinic("remove-doctor", "--uid", doctor.uid, "--disable").returncode == 0
        assert account(doctor.uid)[2] is True

    def test_remove_without_disable_leaves_the_account_able_to_sign_in(
        self, db: firestore.Client, people: dict[str, emu.User]
    ) -> None:
        result = clinic("remove-doctor", "--email", people["doctor"].email)
        assert result.returncode == 0, result.stderr
        assert account(people["doctor"].uid)[0::2] == (None, False)
        assert emu.sign_in(people["doctor"].email, "doctor-pass-1").uid == people["doctor"].uid


ADD = ["add-doctor", "--email", "dr.lee@clinic.test", "--name", "Dr. Lee"]


class TestWhichProject:
    """Issue 24 (3): the command never acts on a real project by surprise."""

    @pytest.mark.parametrize("variable", ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"])
    @pytest.mark.parametrize("emulators", [True, False], ids=["emulator shell", "plain shell"])
    def test_an_ambient_real_project_never_chooses_the_project(
        self, db: firestore.Client, variable: str, emulators: bool
    ) -> None:
        env = {"GOOGLE_CLOUD_PROJECT": None, "GCLOUD_PROJECT": None, variable: "clinic-prod"}
        if not emulators:
            env = NO_EMULATORS | env

        result = clinic(*ADD, env=env)

        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{variable} names clinic-prod, a real project" in result.stderr
        assert "--project" in result.stderr
        assert "acting on" not in result.stdout
        assert all_documents(db) == {}
        with pytest.raises(auth.UserNotFoundError):
            auth.get_user_by_email("dr.lee@clinic.test", app=admin_auth())

    def test_a_real_default_in_firebaserc_never_chooses_the_project(self, tmp_path: Path) -> None:
        """A clinic's own checkout, where `firebase use` put the production project into .firebaserc."""
        (tmp_path / "scripts").mkdir()
        shutil.copy(ROOT / "scripts" / "clinic.py", tmp_path / "scripts" / "clinic.py")
        shutil.copy(ROOT / "firebase.json", tmp_path / "firebase.json")
        (tmp_path / ".firebaserc").write_text(json.dumps({"projects": {"default": "clinic-prod"}}))
        runner = tmp_path / "clinic"
        runner.write_text(f'#!/bin/sh\nexec "{ROOT}/.venv/bin/python" "{tmp_path}/scripts/clinic.py" "$@"\n')
        runner.chmod(0o755)

        result = clinic("list", env=NO_EMULATORS, cli=runner)

        assert result.returncode == 2, result.stdout + result.stderr
        assert ".firebaserc names clinic-prod, a real project" in result.stderr

    @pytest.mark.parametrize(
        "emulator_vars",
        [
            pytest.param({}, id="both emulator variables"),
            pytest.param({"FIREBASE_AUTH_EMULATOR_HOST": None}, id="only Firestore's"),
        ],
    )
    def test_emulator_variables_with_a_real_project_are_refused(
        self, db: firestore.Client, emulator_vars: dict[str, str | None]
    ) -> None:
        result = clinic("--project", "clinic-prod", *ADD, env=emulator_vars)

        assert result.returncode == 2, result.stdout + result.stderr
        assert "FIRESTORE_EMULATOR_HOST" in result.stderr
        assert "acting on" not in result.stdout
        assert all_documents(db) == {}
        with pytest.raises(auth.UserNotFoundError):
            auth.get_user_by_email("dr.lee@clinic.test", app=admin_auth())

    def test_the_emulators_serve_a_demo_project_named_with_project(self, db: firestore.Client) -> None:
        result = clinic(*ADD, "--project", "demo-telehealth", env={"GOOGLE_CLOUD_PROJECT": "clinic-prod"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("acting on the emulators: project demo-telehealth")
        assert auth.get_user_by_email("dr.lee@clinic.test", app=admin_auth()).custom_claims == {"role": "doctor"}

    @pytest.mark.parametrize(
        ("args", "typed"),
        [
            pytest.param(ADD, "", id="add-doctor, nothing typed (no stdin)"),
            pytest.param(ADD, "y\n", id="add-doctor, answered y"),
            pytest.param(ADD, "clinic-pro\n", id="add-doctor, a wrong project id"),
            pytest.param(
                ["remove-doctor", "--uid", "u1", "--disable"], "", id="remove-doctor, nothing typed (no stdin)"
            ),
        ],
    )
    def test_a_real_project_is_changed_only_when_confirmed(self, args: list[str], typed: str) -> None:
        result = clinic("--project", "clinic-prod", *args, env=NO_EMULATORS, stdin=typed)

        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout.startswith("acting on the real project clinic-prod")
        assert "type the project id (clinic-prod) to go ahead" in result.stderr
        assert "not confirmed: nothing was changed" in result.stderr
        assert "Application Default Credentials:" not in result.stderr, "it reached for the project unconfirmed"

    @pytest.mark.parametrize(
        ("args", "typed"),
        [
            pytest.param(["--project", "clinic-prod", "--yes", *ADD], "", id="--yes"),
            pytest.param(["--project", "clinic-prod", *ADD], "clinic-prod\n", id="the project id typed"),
            pytest.param([*ADD, "--project", "clinic-prod", "--yes"], "", id="both after the command"),
        ],
    )
    def test_a_confirmed_real_project_goes_on_to_its_credentials(self, args: list[str], typed: str) -> None:
        """Past the question the command reaches for the project (here: no credentials, so exit 1)."""
        result = clinic(*args, env=NO_EMULATORS, stdin=typed)

        assert result.returncode == 1, result.stdout + result.stderr
        assert "no Application Default Credentials" in result.stderr
        assert "not confirmed" not in result.stderr


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
    reads = emu.UserFirestore(doctor.id_token)
    assert reads.get("appointments/before-removal") == 200
    assert reads.query_equal("appointments", "doctorId", doctor.uid) == (200, 2)
    # Revocation counts in whole seconds (a token issued in the revoking second stays valid): wait until the
    # clock has left the second the token was issued in (at most a second; a deadline, not a fixed sleep).
    issued = jwt.decode(doctor.id_token, options={"verify_signature": False})["iat"]
    emu.wait_for(lambda: time.time() >= issued + 1 or None, timeout=5, interval=0.01)

    assert clinic("remove-doctor", "--email", doctor.email).returncode == 0

    # The same ID token (still holding the claim) is refused by the rules and by the callable.
    assert emu.UserFirestore(doctor.id_token).update("appointments/to-confirm", {"status": "confirmed"}) == 403
    assert reads.get("appointments/before-removal") == 403
    assert reads.query_equal("appointments", "doctorId", doctor.uid) == (403, 0)
    # Refused at once through the directory entry (inactive), whatever the session check last said.
    answer = join(doctor, "before-removal")
    assert (answer.status, answer.details) == ("NOT_FOUND", None)
    assert ("not_found", doctor.uid) in {(r["reason"], r["uid"]) for r in audit(db)}
    # Signing in again gives a token without the claim: a stranger to the appointment.
    fresh = emu.sign_in(doctor.email, "doctor-pass-1")
    assert jwt.decode(fresh.id_token, options={"verify_signature": False}).get("role") is None
    assert join(fresh, "before-removal").status == "NOT_FOUND"
    assert emu.UserFirestore(fresh.id_token).update("appointments/to-confirm", {"status": "confirmed"}) == 403
    # The patient is unaffected.
    assert join(patient, "before-removal").result["role"] == "guest"


def test_a_disabled_patient_is_refused_at_once_without_a_recent_live_check(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    patient = emu.sign_up("disabled@test.example", "disabled-pass-1")
    book(db, "visit", people["doctor"].uid, patient.uid)
    auth.update_user(patient.uid, disabled=True, app=admin_auth())
    answer = join(patient, "visit")
    assert (answer.status, answer.details) == ("UNAUTHENTICATED", None)


def test_a_disabled_patient_with_a_live_check_inside_the_bound_is_let_in_until_it_passes(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    """The documented bound (VIDEO_SESSION_CHECK_S, 60 s by default): the edge past it is a unit test."""
    book(db, "visit", people["doctor"].uid, people["patient"].uid)
    assert join(people["patient"], "visit").ok
    auth.update_user(people["patient"].uid, disabled=True, app=admin_auth())
    assert join(people["patient"], "visit").ok


def test_names_with_control_and_format_characters_come_out_clean(
    db: firestore.Client, people: dict[str, emu.User]
) -> None:
    patient = emu.sign_up("rtl@test.example", "rtl-pass-1", "Pat\u202e\u200b Smith\u0007")
    book(db, "named", people["doctor"].uid, patient.uid)
    token = join(patient, "named").result["token"]
    assert jwt.decode(token, options={"verify_signature": False})["context"]["user"]["name"] == "Pat Smith · patient"
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
