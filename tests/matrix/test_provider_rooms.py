"""Rooms created at the provider, through the real trigger and callable on the emulators: the enablex, vonage and
livekit-rooms runs, each provider's server API a loopback stand-in (tests/standins.py) that checks each request as
the provider does.

The runs' params (tests/matrix/provider_matrix.py) point ``VIDEO_SERVER_API_URL`` at the stand-in's port; Vonage's
is HTTPS (its client speaks nothing else), with a throw-away certificate the matrix makes and hands to the functions
in that run only (``REQUESTS_CA_BUNDLE`` in its .env). The repair sweep is a scheduled function, which the Functions
emulator runs only beside the Pub/Sub emulator (not started here): its tests run ``repair.sweep`` in this process,
against the same Firestore emulator, with the run's deployment rebuilt from its .env and secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import emulator_api as emu
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from google.cloud import firestore
from livekit.api import TokenVerifier
from provider_matrix import LOOPBACK_API, LOOPBACK_CERT, LOOPBACK_KEY, SOURCE
from standins import EnableX, LiveKitRoomService, VonageVideo, serve
from support import samples
from vonage_http_client import Auth, HttpClient
from vonage_video import Video
from vonage_video.models import TokenOptions, TokenRole

from telehealth import repair
from telehealth.providers import build_settings, config_from_params, param_specs
from telehealth.providers.base import Deployment

RUN = os.environ["MATRIX_RUN"]
pytestmark = pytest.mark.skipif(RUN not in ("enablex", "vonage", "livekit-rooms"), reason="the runs creating rooms")
KEY_FILE = Path(os.environ["MATRIX_KEY_FILE"])
PORT = int(LOOPBACK_API.rsplit(":", 1)[1])
FAILED_CREATION = "creating the room at the provider failed"
SECOND, MINUTE = dt.timedelta(seconds=1), dt.timedelta(minutes=1)


def deployed_params() -> dict[str, str]:
    """The params this run deployed (the laid-out functions folder's .env)."""
    lines = (SOURCE / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def matrix_deployment() -> Deployment:
    """This run's deployment as the functions build it: its .env values typed as each param declares them, its key
    and secrets from the matrix's files."""
    raw, values = deployed_params(), {}
    for spec in param_specs():
        text = raw.get(spec.name)
        if text is not None:
            values[spec.name] = text == "true" if spec.kind == "bool" else int(text) if spec.kind == "int" else text
    config, key = config_from_params(values), KEY_FILE.read_text()
    secrets = {"VIDEO_SIGNING_KEY": key, "VIDEO_WEBHOOK_SECRET": (KEY_FILE.parent / "webhook-secret").read_text()}
    return Deployment(config=lambda: config, settings=lambda: build_settings(config, key), secret=secrets.__getitem__)


@dataclass
class Provider:
    """One run's stand-in: what the tests ask of it, whatever the provider."""

    serve: Any
    rooms: Any  # the provider room ids it holds now
    deleted: Any  # what it was asked to delete, in order
    fail_creation: Any  # (bool) refuse room creation with a 503, or stop refusing
    check_token: Any  # (answer, role, video) -> None: the provider would take this answer's token
    calls: list[str] = field(default_factory=list)


def enablex() -> Provider:
    params = deployed_params()
    EnableX.reset(params["VIDEO_APP_ID"], KEY_FILE.read_text())

    def fail(on: bool) -> None:
        EnableX.fail_rooms_with = 503 if on else None

    def check(answer: emu.CallResult, role: str, video: dict[str, Any]) -> None:
        issued = [t for t in EnableX.tokens if t["token"] == answer.result["token"]]
        wanted = {"moderator": "moderator", "guest": "participant"}[role]
        assert [(t["room_id"], t["role"]) for t in issued] == [(video["providerRoomId"], wanted)]
        assert answer.result["roomId"] == video["providerRoomId"]

    return Provider(lambda: serve(EnableX, PORT), lambda: list(EnableX.rooms), lambda: EnableX.deleted, fail, check)


def vonage_provider() -> Provider:
    params = deployed_params()
    key: Any = serialization.load_pem_private_key(KEY_FILE.read_bytes(), None)
    public = key.public_key()
    VonageVideo.reset(
        params["VIDEO_APP_ID"],
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )

    def fail(on: bool) -> None:
        VonageVideo.fail_with = 503 if on else None

    def check(answer: emu.CallResult, role: str, video: dict[str, Any]) -> None:
        result = answer.result
        assert (result["sessionId"], result["applicationId"]) == (video["providerRoomId"], params["VIDEO_APP_ID"])
        ours = jwt.decode(result["token"], public, algorithms=["RS256"])
        # The vonage package's own generator, for the same session, role, connection data and expiry.
        package_role = {"moderator": TokenRole.MODERATOR, "guest": TokenRole.PUBLISHER}[role]
        assert json.loads(ours["connection_data"])["identity"] == {"moderator": "doctor", "guest": "patient"}[role]
        client = Video(HttpClient(Auth(application_id=params["VIDEO_APP_ID"], private_key=KEY_FILE.read_text())))
        options = TokenOptions(
            session_id=video["providerRoomId"],
            role=package_role,
            connection_data=ours["connection_data"],
            exp=ours["exp"],
        )
        theirs = jwt.decode(client.generate_client_token(options), public, algorithms=["RS256"])
        assert {k: v for k, v in ours.items() if k not in ("iat", "jti")} == {
            k: v for k, v in theirs.items() if k not in ("iat", "jti")
        }

    return Provider(
        lambda: serve(VonageVideo, PORT, tls=(LOOPBACK_CERT, LOOPBACK_KEY)),
        lambda: VonageVideo.sessions,
        lambda: VonageVideo.disconnected,
        fail,
        check,
    )


def livekit() -> Provider:
    LiveKitRoomService.reset("APImatrix", KEY_FILE.read_text(), live=set())

    def fail(on: bool) -> None:
        LiveKitRoomService.fail_create_with = 503 if on else None

    def check(answer: emu.CallResult, role: str, video: dict[str, Any]) -> None:
        grant = TokenVerifier("APImatrix", KEY_FILE.read_text()).verify(answer.result["token"]).video
        assert grant is not None
        assert (grant.room, grant.room_admin) == (video["roomName"], role == "moderator")
        assert LiveKitRoomService.sids[video["roomName"]] == video["providerRoomId"]

    def rooms() -> list[str]:
        return [LiveKitRoomService.sids[name] for name in sorted(LiveKitRoomService.live or ())]

    return Provider(lambda: serve(LiveKitRoomService, PORT), rooms, lambda: LiveKitRoomService.deleted, fail, check)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """This run's stand-in, listening on the port its server API URL names."""
    made = {"enablex": enablex, "vonage": vonage_provider, "livekit-rooms": livekit}[RUN]()
    if RUN == "vonage":  # the sweep runs here: this process trusts the stand-in's certificate as the functions do
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(LOOPBACK_CERT))
    server: AbstractContextManager[str] = made.serve()
    with server:
        yield made


def video_of(ref: Any) -> dict[str, Any]:
    stored: dict[str, Any] = (ref.get().to_dict() or {}).get("video") or {}
    return stored


def confirm(db: firestore.Client, people: dict[str, emu.User], name: str) -> Any:
    """A visit its doctor confirms (its window open now); returns it once the trigger runs are over."""
    ref = db.collection("appointments").document(name)
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending"))
    ref.update({"status": "confirmed"})
    emu.wait_for(lambda: video_of(ref).get("roomName"), timeout=30)
    emu.wait_for_quiet_triggers()
    return ref


def join(user: emu.User, name: str) -> emu.CallResult:
    return emu.call("get_join_token", {"appointmentId": name}, user.id_token)


def failures_logged() -> int:
    return Path(os.environ["EMULATOR_LOG"]).read_text(errors="replace").count(FAILED_CREATION)


def test_a_confirmed_visit_gets_one_provider_room_tokens_the_provider_takes_and_a_cancellation_deletes_it(
    db: firestore.Client, people: dict[str, emu.User], provider: Provider
) -> None:
    ref = confirm(db, people, "rooms")
    video = video_of(ref)

    assert video["providerRoomId"]
    assert provider.rooms() == [video["providerRoomId"]]  # one, however often the event came
    for who, role in (("doctor", "moderator"), ("patient", "guest")):  # the doctor first: then the patient is let in
        answer = join(people[who], "rooms")
        assert answer.ok, answer
        assert (answer.result["provider"], answer.result["role"]) == (os.environ["MATRIX_PROVIDER"], role)
        provider.check_token(answer, role, video)
    if RUN == "livekit-rooms":
        [made] = LiveKitRoomService.created
        closes = int(ref.get().to_dict()["endTime"].timestamp()) + 30 * 60  # the join window closes 30 min after
        now = int(dt.datetime.now(dt.UTC).timestamp())
        assert (made.name, made.max_participants, made.departure_timeout) == (
            video["roomName"],
            3,
            20 * 60,
        )  # doctor, patient, VIDEO_MAX_GUESTS=1
        assert closes - now <= made.empty_timeout <= closes - now + 60  # made (by the trigger) a little earlier
    if RUN == "vonage":
        return  # Vonage deletes no session: its meeting end forces connections out (the callbacks test below)

    ref.update({"status": "cancelled"})

    wanted = video["roomName"] if RUN == "livekit-rooms" else video["providerRoomId"]  # LiveKit deletes by name
    emu.wait_for(lambda: (wanted in provider.deleted()) or None, timeout=30)
    emu.wait_for_quiet_triggers()
    assert provider.deleted() == [wanted]
    assert "video" not in (ref.get().to_dict() or {})
    assert join(people["doctor"], "rooms").status == "FAILED_PRECONDITION"


def test_a_failed_creation_is_room_not_ready_until_the_repair_sweep_creates_the_room(
    db: firestore.Client, people: dict[str, emu.User], provider: Provider
) -> None:
    before = failures_logged()
    provider.fail_creation(True)

    ref = confirm(db, people, "repaired")

    assert failures_logged() > before  # the trigger raised (the event would be delivered again)
    assert "providerRoomId" not in video_of(ref)
    refused = join(people["doctor"], "repaired")
    assert (refused.status, refused.details["reason"]) == ("FAILED_PRECONDITION", "room_not_ready")

    provider.fail_creation(False)
    deployment = matrix_deployment()
    report = repair.sweep(db, now=dt.datetime.now(dt.UTC), config=deployment.config, deployment=deployment)
    emu.wait_for_quiet_triggers()

    assert (report.completed, report.failed) == (1, 0)
    video = video_of(ref)
    assert provider.rooms() == [video["providerRoomId"]]
    answer = join(people["doctor"], "repaired")
    assert answer.ok, answer
    provider.check_token(answer, "moderator", video)


@pytest.mark.skipif(RUN != "enablex", reason="EnableX issues each token itself")
def test_a_token_enablex_cannot_give_is_unavailable_and_stamps_no_join(
    db: firestore.Client, people: dict[str, emu.User], provider: Provider
) -> None:
    ref = confirm(db, people, "unavailable")
    EnableX.fail_tokens_with = 503

    answer = join(people["doctor"], "unavailable")

    assert (answer.status, answer.details) == ("UNAVAILABLE", {"reason": "provider_unavailable"})
    assert "doctorJoinedAt" not in video_of(ref)


# Attendance from the providers' callbacks, through video_events ---------------------------------------------------

WEBHOOK_SECRET = (KEY_FILE.parent / "webhook-secret").read_text()


def attendance_of(ref: Any) -> list[tuple[str, str | None]]:
    events = sorted((snap.to_dict() for snap in ref.collection("attendance").stream()), key=lambda e: e["at"])
    return [(event["event"], event["role"]) for event in events]


def vonage_callback(session: str, event: str, identity: str | None, connection: str, at: dt.datetime) -> Any:
    payload = samples.vonage_payload(event, at, identity, connection) | {"sessionId": session}
    return samples.vonage_post(payload, dt.datetime.now(dt.UTC), WEBHOOK_SECRET, deployed_params()["VIDEO_APP_ID"])


@pytest.mark.skipif(RUN != "vonage", reason="Vonage's session monitoring")
def test_vonage_callbacks_are_recorded_once_and_a_cancelled_visits_connections_are_forced_out(
    db: firestore.Client, people: dict[str, emu.User], provider: Provider
) -> None:
    ref = confirm(db, people, "monitored")
    session, now = video_of(ref)["providerRoomId"], emu.utc()
    callbacks = [
        vonage_callback(session, "connectionCreated", "doctor", "c-doctor", now - 90 * SECOND),
        vonage_callback(session, "connectionCreated", "patient", "c-patient", now - 60 * SECOND),
        vonage_callback(session, "connectionDestroyed", None, "c-patient", now - 30 * SECOND),
        vonage_callback(session, "connectionCreated", "patient", "c-patient-again", now - 20 * SECOND),
    ]
    body, headers = callbacks[0]
    assert emu.post_webhook("vonage", body, {k: v for k, v in headers.items() if k != "Authorization"}) == 401
    assert emu.post_webhook("vonage", body, {**headers, "Authorization": "Bearer x.y.z"}) == 401
    assert emu.post_webhook("vonage", body.replace(b"doctor", b"patient"), headers) == 401  # not the body signed
    assert attendance_of(ref) == []
    for _ in range(2):  # each delivered twice
        assert [emu.post_webhook("vonage", *callback) for callback in callbacks] == [200] * 4
    assert attendance_of(ref) == [("joined", "moderator"), ("joined", "guest"), ("left", None), ("joined", "guest")]
    summary = ref.get().to_dict()["video"]["attendance"]
    assert (summary["doctorJoinedAt"], summary["lastLeftAt"]) == (now - 90 * SECOND, now - 30 * SECOND)
    VonageVideo.connected[session] = {"c-doctor", "c-patient-again"}
    room = video_of(ref)["roomName"]

    ref.update({"status": "cancelled"})

    emu.wait_for(lambda: len(VonageVideo.disconnected) == 2 or None, timeout=30)
    emu.wait_for_quiet_triggers()
    assert VonageVideo.disconnected == ["c-doctor", "c-patient-again"]  # once each, the one gone not asked for
    assert db.collection("videoMeetingsEnded").document(room).get().to_dict()["provider"] == "vonage"


@pytest.mark.skipif(RUN != "enablex", reason="EnableX's webhook")
def test_an_enablex_room_drop_records_the_rooms_attendance_from_its_records_once(
    db: firestore.Client, people: dict[str, emu.User], provider: Provider
) -> None:
    ref = confirm(db, people, "dropped")
    room_id, now, app_id = video_of(ref)["providerRoomId"], emu.utc(), deployed_params()["VIDEO_APP_ID"]
    EnableX.cdr[room_id] = [
        samples.enablex_cdr("doctor", now - 20 * MINUTE, now - 2 * MINUTE, room_id, app_id),
        samples.enablex_cdr("patient", now - 18 * MINUTE, now - 3 * MINUTE, room_id, app_id),
    ]
    body = samples.enablex_notification(room=room_id, app_id=app_id)
    assert emu.post_webhook("enablex", body, {"Content-Type": "application/json"}) == 401
    assert emu.post_webhook("enablex", body, samples.enablex_basic(app_id, "not-the-webhook-password-0123")) == 401
    assert EnableX.requests[-1][0] != "GET"  # EnableX was not asked for anything
    assert attendance_of(ref) == []

    for _ in range(2):  # delivered twice
        assert emu.post_webhook("enablex", body, samples.enablex_basic(app_id, WEBHOOK_SECRET)) == 200

    assert attendance_of(ref) == [
        ("joined", "moderator"),
        ("joined", "guest"),
        ("left", "guest"),
        ("left", "moderator"),
    ]
    summary = ref.get().to_dict()["video"]["attendance"]
    assert summary == {
        "doctorJoinedAt": now - 20 * MINUTE,
        "patientJoinedAt": now - 18 * MINUTE,
        "lastLeftAt": now - 2 * MINUTE,
    }
