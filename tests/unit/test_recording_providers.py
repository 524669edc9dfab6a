"""The providers' recording parts: LiveKit's egress start and stop (against the Egress stand-in, which verifies each
request's token and body as LiveKit does), its ``egress_ended`` webhook, JaaS's ``RECORDING_UPLOADED``, the
egress credentials, and the webhook routing that hands a recording event on."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import HMAC_SECRET, NOW, appointment, serial_transactional
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken
from livekit.protocol.egress import EgressInfo, EgressStatus, FileInfo
from livekit.protocol.webhook import WebhookEvent
from standins import LiveKitEgress, serve
from support.configs import video_config
from support.fakes import FakeDB
from support.stored_objects import FakeObjects

from telehealth import attendance
from telehealth.config import Settings, SigningKey
from telehealth.errors import Misconfigured, ProviderCallFailed, WebhookRejected
from telehealth.providers import build_settings, jaas, livekit
from telehealth.providers.base import Deployment, RecordingEvent, WebhookRequest
from telehealth.store import recordings as store

KEY = "APIegress"
BUCKET = "clinic-recordings"
ROOM = "r" * 32
NOW_TS = int(NOW.timestamp())
APP_ID = "vpaas-magic-cookie-0123"
JAAS_SECRET = "jaas-webhook-secret-value-0123456789"
SERVICE_KEY = json.dumps(
    {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nx\n", "client_email": "e"}
)


def deployment(url: str = "http://127.0.0.1:9", credentials: str = "none", secret: str = HMAC_SECRET) -> Deployment:
    config = video_config(
        provider="livekit", domain="lk.clinic.test", app_id=KEY, server_api=url, recording_bucket=BUCKET
    )
    settings = build_settings(config, secret)
    secrets = {"VIDEO_EGRESS_GCP_CREDENTIALS": credentials}
    return Deployment(config=lambda: config, settings=lambda: settings, secret=lambda name: secrets[name])


@pytest.fixture
def egress() -> Iterator[str]:
    LiveKitEgress.reset_egress(KEY, HMAC_SECRET, b"the file", None)
    with serve(LiveKitEgress) as url:
        yield url


@pytest.mark.parametrize("credentials", ["none", "", SERVICE_KEY], ids=["none", "empty", "a service-account key"])
def test_a_recording_starts_as_one_mp4_into_the_bucket_with_the_uploads_credentials(
    egress: str, credentials: str
) -> None:
    egress_id = livekit.start_recording(ROOM, BUCKET, "recordings/a1/rec1", deployment(egress, credentials))
    assert egress_id.startswith("EG_")
    (request,) = LiveKitEgress.starts
    (output,) = request.file_outputs
    assert (request.room_name, output.filepath, output.gcp.bucket) == (ROOM, "recordings/a1/rec1", BUCKET)
    assert output.gcp.credentials == (SERVICE_KEY if credentials == SERVICE_KEY else "")
    assert output.file_type == 1  # MP4
    assert LiveKitEgress.egresses[egress_id]["written"] == "recordings/a1/rec1.mp4"


def test_a_stop_ends_the_egress_and_one_that_ended_or_never_was_counts_as_stopped(egress: str) -> None:
    deployed = deployment(egress)
    egress_id = livekit.start_recording(ROOM, BUCKET, "recordings/a1/rec1", deployed)
    livekit.stop_recording(egress_id, deployed)
    assert LiveKitEgress.stops == [egress_id]
    livekit.stop_recording(egress_id, deployed)  # failed_precondition: ended already
    livekit.stop_recording("EG_unknown", deployed)  # not_found
    assert LiveKitEgress.stops == [egress_id]
    assert LiveKitEgress.refused == ["failed_precondition", "not_found"]


def test_a_key_the_server_does_not_know_is_refused_and_raised_for_the_caller(egress: str) -> None:
    wrong = deployment(egress, secret="another-secret-of-enough-length-0123456789")
    with pytest.raises(ProviderCallFailed) as start:
        livekit.start_recording(ROOM, BUCKET, "recordings/a1/rec1", wrong)
    assert start.value.status == 401
    with pytest.raises(ProviderCallFailed) as stop:
        livekit.stop_recording("EG_1", wrong)
    assert stop.value.status == 401
    assert LiveKitEgress.starts == []


@pytest.mark.parametrize(
    "raw",
    ["{}", '{"type": "authorized_user", "private_key": "k"}', '{"type": "service_account"}', "not json", "[1]"],
    ids=["empty object", "not a service account", "no key", "not JSON", "a list"],
)
def test_egress_credentials_that_are_not_a_service_account_key_fail_closed_by_name(raw: str) -> None:
    with pytest.raises(Misconfigured) as refused:
        livekit.egress_credentials(raw)
    assert refused.value.problem == "VIDEO_EGRESS_GCP_CREDENTIALS is not a service-account key (JSON) nor none"
    assert raw not in refused.value.problem or raw == "{}"


def livekit_webhook(info: EgressInfo, event: str = "egress_ended", created: int = NOW_TS) -> tuple[bytes, str]:
    body = MessageToJson(WebhookEvent(event=event, id="EV_egress1", created_at=created, egress_info=info)).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return body, AccessToken(KEY, HMAC_SECRET).with_sha256(digest).to_jwt()


def livekit_events(body: bytes, token: str) -> list[Any]:
    return list(livekit.events(WebhookRequest("", {"Authorization": token}, body, NOW), deployment()))


def info(status: int = EgressStatus.EGRESS_COMPLETE, files: bool = True) -> EgressInfo:
    started, ended = (NOW_TS - 600) * 10**9, (NOW_TS - 5) * 10**9
    results = [FileInfo(filename="recordings/a1/rec1.mp4", size=8)] if files else []
    return EgressInfo(
        egress_id="EG_1", room_name=ROOM, status=status, started_at=started, ended_at=ended, file_results=results
    )


def test_egress_ended_reports_the_egress_its_file_and_its_times() -> None:
    (event,) = livekit_events(*livekit_webhook(info()))
    assert event == RecordingEvent(
        event_id="EV_egress1",
        room=ROOM,
        kind="ended",
        provider_recording_id="EG_1",
        at=NOW,
        started_at=NOW - dt.timedelta(seconds=600),
        ended_at=NOW - dt.timedelta(seconds=5),
        complete=True,
        object_path="recordings/a1/rec1.mp4",
    )


@pytest.mark.parametrize(
    ("egress_info", "complete"),
    [
        pytest.param(info(EgressStatus.EGRESS_FAILED), False, id="failed"),
        pytest.param(info(EgressStatus.EGRESS_ABORTED), False, id="aborted"),
        pytest.param(info(EgressStatus.EGRESS_LIMIT_REACHED), False, id="limit reached"),
        pytest.param(info(files=False), False, id="complete without a file"),
    ],
)
def test_an_egress_that_wrote_no_whole_file_is_reported_incomplete(egress_info: EgressInfo, complete: bool) -> None:
    (event,) = livekit_events(*livekit_webhook(egress_info))
    assert event.complete is complete


def test_egress_started_and_updated_report_nothing_and_a_stale_or_unnamed_end_is_refused() -> None:
    assert livekit_events(*livekit_webhook(info(), event="egress_started")) == []
    assert livekit_events(*livekit_webhook(info(), event="egress_updated")) == []
    with pytest.raises(WebhookRejected) as stale:
        livekit_events(*livekit_webhook(info(), created=NOW_TS - 301))
    assert (stale.value.status, stale.value.why) == (400, "stale event")
    with pytest.raises(WebhookRejected) as unnamed:
        livekit_events(*livekit_webhook(EgressInfo(room_name=ROOM, status=EgressStatus.EGRESS_COMPLETE)))
    assert unnamed.value.status == 400


def jaas_body(**data: Any) -> dict[str, Any]:
    fields = {
        "preAuthenticatedLink": "https://objectstorage.example.test/p/tok/rec.mp4",
        "recordingSessionId": "sess-1",
        "startTimestamp": (NOW_TS - 600) * 1000,
        "endTimestamp": (NOW_TS - 5) * 1000,
        **data,
    }
    return {
        "idempotencyKey": "idem-1",
        "eventType": "RECORDING_UPLOADED",
        "timestamp": NOW_TS * 1000,
        "fqn": f"{APP_ID}/{ROOM.upper()}",
        "data": {key: value for key, value in fields.items() if value is not None},
    }


def jaas_events(payload: dict[str, Any]) -> list[Any]:
    body = json.dumps(payload).encode()
    stamp = str(NOW_TS)
    digest = base64.b64encode(hmac.new(JAAS_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest())
    settings = Settings(video_config(provider="jaas", app_id=APP_ID, key_id="k"), SigningKey("RS256", None))
    deployed = Deployment(config=lambda: settings.config, settings=lambda: settings, secret=lambda _name: JAAS_SECRET)
    headers = {"X-Jaas-Signature": f"t={stamp},v1={digest.decode()}"}
    return list(jaas.events(WebhookRequest("", headers, body, NOW), deployed))


def test_recording_uploaded_hands_on_the_link_and_the_recordings_times() -> None:
    (event,) = jaas_events(jaas_body())
    assert event == RecordingEvent(
        event_id="idem-1",
        room=ROOM,
        kind="uploaded",
        provider_recording_id="sess-1",
        at=NOW,
        started_at=NOW - dt.timedelta(seconds=600),
        ended_at=NOW - dt.timedelta(seconds=5),
        link="https://objectstorage.example.test/p/tok/rec.mp4",
    )


def test_an_upload_without_a_session_id_is_named_by_its_event_and_times_are_optional() -> None:
    (event,) = jaas_events(jaas_body(recordingSessionId=None, startTimestamp=None, endTimestamp=None))
    assert (event.provider_recording_id, event.started_at, event.ended_at) == ("idem-1", None, None)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"preAuthenticatedLink": None}, id="no link"),
        pytest.param({"preAuthenticatedLink": ""}, id="an empty link"),
        pytest.param({"preAuthenticatedLink": ["https://x"]}, id="a link that is not text"),
        pytest.param({"recordingSessionId": 7}, id="a session id that is not text"),
        pytest.param({"startTimestamp": "yesterday"}, id="a start that is not a number"),
    ],
)
def test_a_malformed_upload_is_refused_with_400(data: dict[str, Any]) -> None:
    with pytest.raises(WebhookRejected) as refused:
        jaas_events(jaas_body(**data))
    assert refused.value.status == 400


def test_another_apps_upload_and_other_recording_events_report_nothing() -> None:
    assert jaas_events({**jaas_body(), "fqn": f"vpaas-magic-cookie-other/{ROOM}"}) == []
    for event_type in ("RECORDING_STARTED", "RECORDING_ENDED", "TRANSCRIPTION_UPLOADED", "CHAT_UPLOADED"):
        assert jaas_events({**jaas_body(), "eventType": event_type}) == []


def test_the_webhook_hands_a_recording_event_to_the_recordings_and_counts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "transactional", serial_transactional)
    db = FakeDB()
    db.put("appointments/a1", appointment(video={"roomName": ROOM, "provider": "livekit"}))
    db.put("appointments/a1/recordings/rec1", {"status": "processing", "providerRecordingId": "EG_1"})
    body, token = livekit_webhook(info())
    post = attendance.WebhookPost("POST", "/livekit", {"Authorization": token}, len(body), lambda n: body[:n])
    objects = FakeObjects()
    received = attendance.receive(db, post, dataclasses.replace(deployment()), NOW, lambda _name: objects)
    assert (received.events, received.recorded) == (1, 1)
    assert db.docs["appointments/a1/recordings/rec1"]["status"] == "processing"
    assert [path for path in db.docs if path.startswith("videoRecordingJobs/")] != []
    again = attendance.receive(db, post, deployment(), NOW, lambda _name: objects)
    assert (again.events, again.recorded) == (1, 0)


WRONG_SECRET = "another-secret-of-32-bytes-or-more-0123456789"


@pytest.mark.parametrize(
    ("service", "secret", "grant", "status", "code"),
    [
        pytest.param("Egress/StopEgress", WRONG_SECRET, {"room_record": True}, 401, "unauthenticated", id="bad key"),
        pytest.param("Egress/StopEgress", HMAC_SECRET, {"room_create": True}, 403, "permission_denied", id="record"),
        pytest.param(
            "RoomService/DeleteRoom", HMAC_SECRET, {"room_record": True}, 403, "permission_denied", id="create"
        ),
    ],
)
def test_the_stand_in_refuses_a_token_as_livekit_does(
    egress: str, service: str, secret: str, grant: dict[str, bool], status: int, code: str
) -> None:
    # The stand-in is what proves our requests right, so its own checks are tested: signature, then the grant.
    import urllib.error
    import urllib.request

    from livekit.api import VideoGrants

    token = AccessToken(KEY, secret).with_grants(VideoGrants(**grant)).to_jwt()
    request = urllib.request.Request(  # noqa: S310 - the loopback stand-in
        f"{egress}/twirp/livekit.{service}",
        data=b"",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/protobuf"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert (refused.value.code, json.loads(refused.value.read())["code"]) == (status, code)
    assert LiveKitEgress.refused == [code]
    assert (LiveKitEgress.starts, LiveKitEgress.stops, LiveKitEgress.deleted) == ([], [], [])
