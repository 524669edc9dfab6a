"""Recordings end to end: the real callables, webhook and copy trigger, the Storage emulator, and loopback
stand-ins of LiveKit's egress API and of JaaS's download link (tests/standins.py).

LiveKit: a consented visit is recorded (start, stop, egress_ended, the object in Storage, its metadata); a
consent withdrawn mid-recording stops the egress at once and keeps nothing. JaaS: a RECORDING_UPLOADED
webhook ends with the file in Storage and its checksum recorded. Both: the doctor's download URL works,
while a stranger, the patient (by default) and every client request to Storage are refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import emulator_api as emu
import pytest
import requests
from google.cloud import storage  # type: ignore[attr-defined]
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken
from livekit.protocol.models import Room
from livekit.protocol.webhook import WebhookEvent
from provider_matrix import LOOPBACK_API, RECORDING_BUCKET
from standins import LiveKitEgress, RecordingLink, serve

PROVIDER = os.environ["MATRIX_PROVIDER"]
KEY = Path(os.environ["MATRIX_KEY_FILE"]).read_text()
WEBHOOK_SECRET = (Path(os.environ["MATRIX_KEY_FILE"]).parent / "webhook-secret").read_text()
PORT = int(LOOPBACK_API.rsplit(":", 1)[1])
APP_ID = "vpaas-magic-cookie-0123456789abcdef"
# Not a real MP4: the backend never parses a recording, it stores, hashes and hands it out.
RECORDING = b"\x00\x00\x00\x18ftypmp42" + os.urandom(200_000)
pytestmark = pytest.mark.skipif(
    PROVIDER not in ("livekit", "jaas") or os.environ["MATRIX_WAITING_ROOM"] != "host", reason="livekit and jaas runs"
)
livekit_only = pytest.mark.skipif(PROVIDER != "livekit", reason="livekit run")
jaas_only = pytest.mark.skipif(PROVIDER != "jaas", reason="jaas run")


def bucket() -> Any:
    return storage.Client(project=emu.PROJECT).bucket(RECORDING_BUCKET)


def upload(bucket_name: str, path: str, data: bytes) -> None:
    """What the egress does at its end: the whole file into the bucket."""
    storage.Client(project=emu.PROJECT).bucket(bucket_name).blob(path).upload_from_string(
        data, content_type="video/mp4"
    )


@pytest.fixture
def visit() -> dict[str, Any]:
    """A confirmed video visit with its room, the patient's consent given, and three people."""
    emu.reset()
    for blob in bucket().list_blobs():
        blob.delete()
    people = {
        "doctor": emu.make_doctor("rec-doctor@test.example", "rec-pass-1", "Dr. Rec"),
        "patient": emu.sign_up("rec-patient@test.example", "rec-pass-1"),
        "stranger": emu.sign_up("rec-stranger@test.example", "rec-pass-1"),
    }
    ref = emu.admin_db().collection("appointments").document("recorded")
    ref.set(emu.video_appointment(people["doctor"].uid, people["patient"].uid, status="pending"))
    ref.update({"status": "confirmed"})
    room = emu.wait_for(lambda: ((ref.get().to_dict() or {}).get("video") or {}).get("roomName"), timeout=30)
    assert call("set_recording_consent", people["patient"], consent=True).result == {"consent": True}
    return {"ref": ref, "room": room, **people}


def call(function: str, who: emu.User, **data: Any) -> emu.CallResult:
    return emu.call(function, {"appointmentId": "recorded", **data}, who.id_token)


def metadata(ref: Any, recording_id: str) -> dict[str, Any] | None:
    return ref.collection("recordings").document(recording_id).get().to_dict()


def wait_for_status(ref: Any, recording_id: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = metadata(ref, recording_id)
        return found if found is not None and found.get("status") == status else None

    return emu.wait_for(probe, timeout=60)


def objects() -> dict[str, bytes]:
    return {blob.name: blob.download_as_bytes() for blob in bucket().list_blobs()}


def client_storage_answers(who: emu.User, path: str) -> list[int]:
    """What the Storage emulator's client API (the Firebase SDKs' own) answers a signed-in user: a download,
    a listing and an upload at ``path``."""
    base = f"http://{os.environ['FIREBASE_STORAGE_EMULATOR_HOST']}/v0/b/{RECORDING_BUCKET}/o"
    headers = {"Authorization": f"Firebase {who.id_token}"}
    quoted = urllib.parse.quote(path, safe="")
    return [
        requests.get(f"{base}/{quoted}?alt=media", headers=headers, timeout=10).status_code,
        requests.get(
            f"{base}?prefix={urllib.parse.quote(path.rsplit('/', 1)[0] + '/')}", headers=headers, timeout=10
        ).status_code,
        requests.post(
            f"{base}?name={quoted}", data=b"x", headers={**headers, "Content-Type": "video/mp4"}, timeout=10
        ).status_code,
    ]


def check_hand_out(people: dict[str, Any], recording_id: str) -> None:
    """The doctor's URL downloads the recording; nobody else gets one, and no client reaches the object."""
    answer = call("get_recording_url", people["doctor"], recordingId=recording_id)
    assert answer.ok, answer
    assert answer.result["expiresAt"] - time.time() <= 300
    with urllib.request.urlopen(answer.result["url"], timeout=10) as download:  # noqa: S310 - the emulator's URL
        assert download.read() == RECORDING
    for who in ("stranger", "patient"):
        refused = call("get_recording_url", people[who], recordingId=recording_id)
        assert (refused.status, refused.result) == ("NOT_FOUND", None), who
    path = f"recordings/recorded/{recording_id}"
    for who in ("doctor", "patient", "stranger"):
        assert client_storage_answers(people[who], path) == [403, 403, 403], who
    assert bucket().blob(path).download_as_bytes() == RECORDING  # the refused upload changed nothing


def audit_reasons() -> list[str]:
    return sorted(str(doc.to_dict().get("reason")) for doc in emu.admin_db().collection("videoAccessLog").stream())


@pytest.fixture
def egress() -> Iterator[type[LiveKitEgress]]:
    LiveKitEgress.reset_egress("APImatrix", KEY, RECORDING, upload)
    with serve(LiveKitEgress, PORT):
        yield LiveKitEgress


def egress_ended(egress_id: str) -> int:
    message = WebhookEvent(
        event="egress_ended",
        id=f"EV_{egress_id}",
        created_at=int(time.time()),
        room=Room(name=LiveKitEgress.egresses[egress_id]["room"]),
        egress_info=LiveKitEgress.ended_info(egress_id),
    )
    body = MessageToJson(message).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = AccessToken("APImatrix", KEY).with_sha256(digest).to_jwt()
    return emu.post_webhook("livekit", body, {"Content-Type": "application/webhook+json", "Authorization": token})


@livekit_only
def test_a_consented_livekit_visit_is_recorded_stored_hashed_and_handed_to_the_doctor_only(
    visit: dict[str, Any], egress: type[LiveKitEgress]
) -> None:
    started = call("start_recording", visit["doctor"])
    assert started.ok, started
    recording_id = started.result["recordingId"]
    (request,) = egress.starts
    (output,) = request.file_outputs
    assert (request.room_name, output.gcp.bucket) == (visit["room"], RECORDING_BUCKET)
    assert output.filepath == f"recordings/recorded/{recording_id}"
    assert metadata(visit["ref"], recording_id)["status"] == "recording"

    assert call("stop_recording", visit["doctor"]).result == {"stopped": [recording_id]}
    (egress_id,) = egress.stops
    assert egress_ended(egress_id) == 200

    stored = wait_for_status(visit["ref"], recording_id, "ready")
    assert (stored["bytes"], stored["contentType"]) == (len(RECORDING), "video/mp4")
    assert stored["sha256"] == hashlib.sha256(RECORDING).hexdigest()
    assert stored["providerRecordingId"] == egress_id
    assert stored["startedAt"] <= stored["endedAt"]
    # The egress's own name (with its extension) is moved to the recording's path.
    assert objects() == {f"recordings/recorded/{recording_id}": RECORDING}
    check_hand_out(visit, recording_id)
    assert {"recording_started", "recording_stopped", "recording_stored", "recording_url"} <= set(audit_reasons())


@livekit_only
def test_consent_withdrawn_mid_recording_stops_the_egress_at_once_and_keeps_nothing(
    visit: dict[str, Any], egress: type[LiveKitEgress]
) -> None:
    recording_id = call("start_recording", visit["doctor"]).result["recordingId"]
    (egress_id,) = egress.egresses

    assert call("set_recording_consent", visit["patient"], consent=False).result == {"consent": False}
    assert egress.stops == [egress_id]  # before the answer came back
    discarded = metadata(visit["ref"], recording_id)
    assert (discarded["status"], discarded["reason"]) == ("discarded", "consent_withdrawn")

    assert egress_ended(egress_id) == 200  # the egress reports the file it had written
    emu.wait_for(lambda: True if not objects() else None, timeout=30)
    after = metadata(visit["ref"], recording_id)
    assert after["status"] == "discarded"
    assert not {"bytes", "sha256"} & set(after)
    refused = call("get_recording_url", visit["doctor"], recordingId=recording_id)
    assert (refused.status, refused.details) == ("FAILED_PRECONDITION", {"reason": "not_ready"})
    again = call("start_recording", visit["doctor"])
    assert (again.status, again.details) == ("FAILED_PRECONDITION", {"reason": "no_consent"})
    assert len(egress.starts) == 1


def jaas_upload(room: str, link: str, key: str) -> int:
    now_ms = int(time.time() * 1000)
    body = json.dumps(
        {
            "idempotencyKey": key,
            "eventType": "RECORDING_UPLOADED",
            "timestamp": now_ms,
            "fqn": f"{APP_ID}/{room}",
            "data": {
                "preAuthenticatedLink": link,
                "recordingSessionId": f"session-{key}",
                "startTimestamp": now_ms - 60_000,
                "endTimestamp": now_ms - 1_000,
                "durationSec": 59,
                "initiatorId": "doctor",
            },
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(
        hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest()
    )
    headers = {"Content-Type": "application/json", "X-Jaas-Signature": f"t={stamp},v1={signature.decode()}"}
    return emu.post_webhook("jaas", body, headers)


@jaas_only
def test_a_jaas_upload_is_copied_into_storage_with_its_checksum_and_handed_to_the_doctor_only(
    visit: dict[str, Any],
) -> None:
    # The consent was given before the recording started (the webhook says it started a minute ago).
    visit["ref"].update({"video.recordingConsent.at": emu.utc(-dt.timedelta(minutes=5))})
    RecordingLink.files, RecordingLink.fetched = {"par-7f3a": RECORDING}, []
    with serve(RecordingLink, PORT):
        assert jaas_upload(visit["room"], f"{LOOPBACK_API}/par-7f3a", "upload-1") == 200
        stored = wait_for_status(visit["ref"], "session-upload-1", "ready")
        assert jaas_upload(visit["room"], f"{LOOPBACK_API}/par-7f3a", "upload-1") == 200  # a re-delivery
        assert RecordingLink.fetched == ["par-7f3a"]
    assert stored["sha256"] == hashlib.sha256(RECORDING).hexdigest()
    assert (stored["bytes"], stored["contentType"], stored["provider"]) == (len(RECORDING), "video/mp4", "jaas")
    assert objects() == {"recordings/recorded/session-upload-1": RECORDING}
    check_hand_out(visit, "session-upload-1")
