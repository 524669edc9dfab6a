"""Loopback stand-ins for the providers' server APIs, checking each request as the real server does.

- ``LiveKitRoomService``: LiveKit's Twirp ``RoomService/DeleteRoom`` and ``CreateRoom``. The
  ``Authorization`` token is verified with livekit-api's own ``TokenVerifier`` and must carry the
  room-admin (``roomCreate``) grant; the body is parsed as a ``DeleteRoomRequest`` or a
  ``CreateRoomRequest``. A room it does not hold is answered as LiveKit does since livekit#1860:
  HTTP 404 with the Twirp error ``not_found``. CreateRoom of a name it holds answers that room (same
  sid), as LiveKit does.
- ``LiveKitEgress``: the RoomService above plus LiveKit's Twirp ``Egress/StartRoomCompositeEgress`` and
  ``Egress/StopEgress``, as livekit-api calls them (egress_service.py): a token with the ``roomRecord``
  grant, protobuf bodies. A start must name a room and one MP4 file output to a GCS bucket (credentials
  empty or a service-account key); it answers ``EgressInfo`` (``EGRESS_STARTING``). A stop of an unknown
  egress is ``not_found``, of an ended one ``failed_precondition``; a stop ends the egress the way
  LiveKit's does: the file is written whole into the bucket (at the filepath plus ``.mp4`` where it has
  no extension, as the egress names its output) and ``ended_info`` gives what its ``egress_ended``
  webhook carries.
- ``RecordingLink``: a pre-authenticated download link as JaaS hands one out in ``RECORDING_UPLOADED``
  (an object-storage URL that is its own credential): ``GET /<token>`` answers the file while the token
  is known, 404 otherwise (expired); a request carrying an ``Authorization`` header is 400.
- ``VonageVideo``: Vonage Video's ``POST /session/create`` over HTTPS (the ``vonage`` package speaks
  nothing else), as its REST reference and the package's own request code say: ``Authorization:
  Bearer`` an application JWT (RS256 with the application's key, ``application_id``, ``iat``,
  ``exp``, ``jti``), a form-encoded body, ``Accept: application/json``; it answers a JSON list with
  one ``session_id``. A bad token is 401. And the force disconnect, ``DELETE /v2/project/<application>
  /session/<session>/connection/<connection>``: 204, or 404 for a connection the session does not hold.
- ``EnableX``: EnableX's server API, ``/video/v1/rooms`` (create), ``/video/v1/rooms/<id>/tokens``
  (a token), ``DELETE /video/v1/rooms/<id>`` and the CDR route ``GET /video/v2/cdr/room/<id>``, with
  HTTP basic auth (App ID : App Key), JSON bodies with ``Content-Type: application/json``, answers
  ``{"result": 0, ...}``; an unknown room is 404, bad credentials 401, a body without its required
  fields 400.
- ``Prosody``: jitsi-meet's ``mod_muc_end_meeting`` (``POST /end-meeting?conference=<room>@<muc>``)
  and the ASAP key server it is configured with (``GET /asap/<sha256 hex of kid>.pem``). As Prosody's
  token util does with the checker of the VirtualHost named by ``muc_mapper_domain_base``, it reads
  ``kid`` from the header, fetches that public key over HTTP, requires that host's one algorithm
  (HS256 when the host has an ``app_secret``, else RS256), verifies, and insists on ``iss`` (an
  accepted issuer), an ``aud`` (any, by default) and a ``room`` claim; then 200 for a live room, 404
  for none (both with empty bodies), 400 without ``conference``, 401 for any token problem. When the
  module is not reached (Prosody's router: unknown host, or net.url missing) every request gets the
  router's HTML 404 page. A POST without a ``Content-Length`` gets 411, as the nginx in front of
  Prosody answers it. tests/prosody runs the real thing.

- ``TwilioRooms``: Twilio Video's Rooms resource, ``POST /v1/Rooms/<UniqueName or RoomSid>``, as the
  twilio package's client calls it (twilio/rest/video/v1/room and twilio/base/client_base.py): HTTP
  basic auth with the API key SID and secret, a form body ``Status=completed``, ``Accept:
  application/json``. A wrong key is Twilio's 401 (code 20003); a room that is not in progress is its
  404 (code 20404); a completed room is answered with the room resource's JSON.
- ``ZoomVideoSdk``: the Video SDK REST API's ``GET /v2/videosdk/sessions`` (``type``, ``from`` and
  ``to`` required, ``session_name`` filters, pages by ``next_page_token``) and ``PUT
  /v2/videosdk/sessions/<id>/status`` (``{"action": "end"}``, JSON), each with a Bearer JWT that must
  verify (HS256, the API secret) and name the API key as ``iss``. The path is decoded once before it
  is routed, as Zoom's front end does, so an id with ``/`` in it reaches it only double-encoded.

- ``FcmSend``: FCM's HTTP v1 ``POST /v1/projects/<project>/messages:send``, as firebase-admin's messaging
  client sends it: ``Authorization: Bearer`` a token (``owner`` on loopback, as against emulators), a JSON
  body ``{"message": {"fid" or "token", "notification", "data"}}`` (exactly one target) with string data
  values. A target it was told is gone answers FCM's 404 ``NOT_FOUND`` with the ``FcmError`` detail
  ``UNREGISTERED``; one it was told fails answers 500 ``INTERNAL``; a wrong access token 401.
- ``TwilioMessages``: Twilio Messaging's ``POST /2010-04-01/Accounts/<AccountSid>/Messages.json``, as the
  twilio package's client sends it: HTTP basic auth with the API key SID (or account SID) and its secret,
  a form body with ``To``, ``Body`` and ``From`` or ``MessagingServiceSid``. A number it was told to refuse
  answers Twilio's 400 (code 21211); a wrong key 401 (code 20003); a number it was told fails, 500.

Used by tests/unit and tests/matrix; each server is started with ``serve`` on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import secrets
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

import jwt
from livekit.api import TokenVerifier
from livekit.protocol.egress import (
    EgressInfo,
    EgressStatus,
    EncodedFileType,
    FileInfo,
    RoomCompositeEgressRequest,
    StopEgressRequest,
)
from livekit.protocol.models import Room
from livekit.protocol.room import CreateRoomRequest, DeleteRoomRequest
from support.loopback_tls import loopback_certificate as loopback_certificate  # the HTTPS stand-ins' certificate


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        pass

    def answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        # A caller that gave up waiting (make bench times out slow provider calls on purpose) has closed the
        # connection by now: there is nobody to answer, and no traceback to print.
        with suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


class LiveKitRoomService(_Quiet):
    """Configure ``api_key``, ``api_secret`` and ``live`` before serving; read ``deleted`` and ``refused``."""

    api_key: ClassVar[str] = ""
    api_secret: ClassVar[str] = ""
    live: ClassVar[set[str] | None] = None  # None: every room is live
    deleted: ClassVar[list[str]] = []
    refused: ClassVar[list[str]] = []
    content_types: ClassVar[list[str | None]] = []
    created: ClassVar[list[CreateRoomRequest]] = []
    sids: ClassVar[dict[str, str]] = {}
    fail_create_with: ClassVar[int | None] = None  # answer CreateRoom with this status (Twirp "unavailable")

    @classmethod
    def reset(cls, api_key: str, api_secret: str, live: set[str] | None = None) -> None:
        cls.api_key, cls.api_secret, cls.live, cls.fail_create_with = api_key, api_secret, live, None
        cls.deleted, cls.refused, cls.content_types, cls.created, cls.sids = [], [], [], [], {}

    def twirp_error(self, status: int, code: str, why: str) -> None:
        type(self).refused.append(code)
        self.answer(status, json.dumps({"code": code, "msg": why}).encode(), "application/json")

    def granted(self, grant: str, name: str) -> bool:
        """LiveKit's check of a request's token, as its server makes it: signed with the API secret (else 401),
        with the video grant ``grant`` (``name`` on the wire; else 403). Answers the refusal itself."""
        cls = type(self)
        try:
            claims = TokenVerifier(cls.api_key, cls.api_secret).verify(
                self.headers.get("Authorization", "").removeprefix("Bearer ")
            )
        except Exception:  # noqa: BLE001 - any verification failure is the server's 401
            self.twirp_error(401, "unauthenticated", "invalid token")
            return False
        if claims.video is None or not getattr(claims.video, grant):
            self.twirp_error(403, "permission_denied", f"no {name} grant")
            return False
        return True

    def do_POST(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.removeprefix("/twirp/livekit.RoomService/")
        if method not in ("DeleteRoom", "CreateRoom"):
            self.twirp_error(404, "bad_route", "no such method")
            return
        if not self.granted("room_create", "roomCreate"):
            return
        if method == "CreateRoom":
            self.create_room(CreateRoomRequest.FromString(body))
            return
        room = DeleteRoomRequest.FromString(body).room
        if cls.live is not None and room not in cls.live:
            self.twirp_error(404, "not_found", "room not found")
            return
        if cls.live is not None:
            cls.live.discard(room)
        cls.content_types.append(self.headers.get("Content-Type"))
        cls.deleted.append(room)
        self.answer(200, b"", "application/protobuf")

    def create_room(self, request: CreateRoomRequest) -> None:
        cls = type(self)
        if cls.fail_create_with is not None:
            self.twirp_error(cls.fail_create_with, "unavailable", "try again later")
            return
        if not request.name:
            self.twirp_error(400, "invalid_argument", "room name is required")
            return
        cls.content_types.append(self.headers.get("Content-Type"))
        cls.created.append(request)
        sid = cls.sids.setdefault(request.name, f"RM_{secrets.token_hex(6)}")
        if cls.live is not None:
            cls.live.add(request.name)
        room = Room(
            sid=sid,
            name=request.name,
            empty_timeout=request.empty_timeout,
            departure_timeout=request.departure_timeout,
            max_participants=request.max_participants,
        )
        self.answer(200, room.SerializeToString(), "application/protobuf")


class LiveKitEgress(LiveKitRoomService):
    """Configure with ``reset_egress``; read ``starts``, ``stops`` and ``egresses`` (id to its state)."""

    starts: ClassVar[list[RoomCompositeEgressRequest]] = []
    stops: ClassVar[list[str]] = []
    egresses: ClassVar[dict[str, dict[str, Any]]] = {}
    recording: ClassVar[bytes] = b""
    # Writes (bucket, object path, bytes) where the egress uploads: the Storage emulator in the matrix.
    upload: ClassVar[Any] = None

    @classmethod
    def reset_egress(cls, api_key: str, api_secret: str, recording: bytes, upload: Any) -> None:
        cls.reset(api_key, api_secret)
        cls.starts, cls.stops, cls.egresses, cls.recording, cls.upload = [], [], {}, recording, upload

    @classmethod
    def ended_info(cls, egress_id: str) -> EgressInfo:
        """The ``egress_info`` of the ended egress's ``egress_ended`` webhook."""
        state = cls.egresses[egress_id]
        return EgressInfo(
            egress_id=egress_id,
            room_name=state["room"],
            status=EgressStatus.EGRESS_COMPLETE,
            started_at=state["started_at"],
            ended_at=state["ended_at"],
            file_results=[
                FileInfo(
                    filename=state["written"],
                    size=len(cls.recording),
                    started_at=state["started_at"],
                    ended_at=state["ended_at"],
                    location=f"gs://{state['bucket']}/{state['written']}",
                )
            ],
        )

    def do_POST(self) -> None:
        if not self.path.startswith("/twirp/livekit.Egress/"):
            super().do_POST()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.removeprefix("/twirp/livekit.Egress/")
        if method not in ("StartRoomCompositeEgress", "StopEgress"):
            self.twirp_error(404, "bad_route", "no such method")
            return
        if not self.granted("room_record", "roomRecord"):
            return
        if self.headers.get("Content-Type") != "application/protobuf":
            self.twirp_error(400, "malformed", "not a protobuf body")
            return
        if method == "StartRoomCompositeEgress":
            self.start(RoomCompositeEgressRequest.FromString(body))
        else:
            self.stop(StopEgressRequest.FromString(body).egress_id)

    def start(self, request: RoomCompositeEgressRequest) -> None:
        cls = type(self)
        outputs = list(request.file_outputs)
        if not request.room_name or len(outputs) != 1:
            self.twirp_error(400, "invalid_argument", "a room and one file output are required")
            return
        output = outputs[0]
        credentials = output.gcp.credentials
        if output.WhichOneof("output") != "gcp" or not output.gcp.bucket or not output.filepath:
            self.twirp_error(400, "invalid_argument", "a GCS bucket and a filepath are required")
            return
        if credentials and json.loads(credentials).get("type") != "service_account":
            self.twirp_error(400, "invalid_argument", "GCP credentials must be a service-account key")
            return
        if output.file_type != EncodedFileType.MP4:
            self.twirp_error(400, "invalid_argument", "MP4 expected")
            return
        cls.starts.append(request)
        egress_id = f"EG_{secrets.token_hex(6)}"
        written = output.filepath if "." in output.filepath.rsplit("/", 1)[-1] else output.filepath + ".mp4"
        cls.egresses[egress_id] = {
            "room": request.room_name,
            "bucket": output.gcp.bucket,
            "written": written,
            "started_at": time.time_ns(),
            "ended_at": 0,
        }
        info = EgressInfo(egress_id=egress_id, room_name=request.room_name, status=EgressStatus.EGRESS_STARTING)
        self.answer(200, info.SerializeToString(), "application/protobuf")

    def stop(self, egress_id: str) -> None:
        cls = type(self)
        state = cls.egresses.get(egress_id)
        if state is None:
            self.twirp_error(404, "not_found", "egress not found")
            return
        if state["ended_at"]:
            self.twirp_error(412, "failed_precondition", "egress already ended")
            return
        cls.stops.append(egress_id)
        state["ended_at"] = time.time_ns()
        if cls.upload is not None:
            cls.upload(state["bucket"], state["written"], cls.recording)
        info = EgressInfo(egress_id=egress_id, room_name=state["room"], status=EgressStatus.EGRESS_ENDING)
        self.answer(200, info.SerializeToString(), "application/protobuf")


class RecordingLink(_Quiet):
    """Configure ``files`` (token to bytes) before serving; read ``fetched``."""

    files: ClassVar[dict[str, bytes]] = {}
    fetched: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        cls = type(self)
        if self.headers.get("Authorization"):
            self.answer(400, b"a pre-authenticated link takes no credentials")
            return
        token = self.path.strip("/")
        if token not in cls.files:
            self.answer(404, b"not found")
            return
        cls.fetched.append(token)
        self.answer(200, cls.files[token], "video/mp4")


def asap_file_name(kid: str) -> str:
    """Where an ASAP key server keeps the public key for ``kid``: the sha256 of the kid, hex, ``.pem``."""
    return hashlib.sha256(kid.encode()).hexdigest() + ".pem"


# Prosody's router's own 404 page (mod_http_errors), served when no module handles the request: the
# Host names no VirtualHost and http_default_host is unset ("Unknown host"), or mod_muc_end_meeting did
# not load (net.url missing). The module's own answers have empty bodies.
ROUTER_404_PAGE = (
    b'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>Not Found</title>\n</head>\n<body>\n'
    b"<h1> Not Found</h1>\n<p>Whatever you were looking for is not here. Keep looking.</p>\n"
    b'<p class="extra">Unknown host: meet.clinic.test</p>\n</body>\n</html>\n'
)


class Prosody(_Quiet):
    """Configure with ``reset``; read ``ended`` (rooms destroyed), ``statuses`` (every answer) and ``reasons``
    (what Prosody's log would say for each refusal, in luajwtjitsi's words).

    As jitsi-meet's ``token/util.lib.lua`` does for the VirtualHost the global ``muc_mapper_domain_base``
    names: with the key repo URL set, a ``kid`` and an RS-family ``alg`` are needed and the key is fetched
    first; then the host's one algorithm is required (HS256 when that host has an ``app_secret``:
    ``app_secret`` here, which is how the README's old set-up failed; else RS256), then the signature,
    integer ``exp``/``nbf`` with no leeway, ``iss`` among the accepted issuers, an ``aud`` among the accepted
    audiences (``*`` by default: any value, but one must be there), and a ``room`` claim (never compared
    with ``conference``). ``module_loaded=False`` answers everything with the router's HTML 404.
    """

    accepted_issuers: ClassVar[tuple[str, ...]] = ()
    accepted_audiences: ClassVar[tuple[str, ...]] = ("*",)
    app_secret: ClassVar[str | None] = None
    module_loaded: ClassVar[bool] = True
    muc: ClassVar[str] = ""
    public_keys: ClassVar[dict[str, bytes]] = {}  # file name on the key server -> PEM
    live: ClassVar[set[str]] = set()
    ended: ClassVar[list[str]] = []
    statuses: ClassVar[list[int]] = []
    reasons: ClassVar[list[str]] = []
    tokens: ClassVar[list[str]] = []
    claims: ClassVar[list[dict[str, Any]]] = []
    bodies: ClassVar[list[bytes]] = []

    @classmethod
    def reset(
        cls,
        issuer: str,
        muc: str,
        public_keys: dict[str, bytes],
        live: set[str],
        *,
        app_secret: str | None = None,
        module_loaded: bool = True,
    ) -> None:
        cls.accepted_issuers, cls.muc, cls.public_keys, cls.live = (issuer,), muc, public_keys, live
        cls.accepted_audiences, cls.app_secret, cls.module_loaded = ("*",), app_secret, module_loaded
        cls.ended, cls.statuses, cls.reasons, cls.tokens, cls.claims, cls.bodies = [], [], [], [], [], []

    def do_GET(self) -> None:  # the ASAP key server
        name = self.path.removeprefix("/asap/")
        key = type(self).public_keys.get(name)
        if not self.path.startswith("/asap/") or key is None:
            self.answer(404)
            return
        self.answer(200, key, "application/x-pem-file")

    def respond(self, status: int) -> None:
        type(self).statuses.append(status)
        self.answer(status)

    def refuse(self, reason: str) -> None:
        type(self).reasons.append(reason)
        self.respond(401)

    def do_POST(self) -> None:
        cls = type(self)
        if self.headers.get("Content-Length") is None:
            self.respond(411)
            return
        cls.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        if not cls.module_loaded:
            cls.statuses.append(404)
            self.answer(404, ROUTER_404_PAGE, "text/html; charset=utf-8")
            return
        url = urllib.parse.urlsplit(self.path)
        conference = urllib.parse.parse_qs(url.query).get("conference", [""])[0]
        if url.path != "/end-meeting" or not conference:
            self.respond(400)
            return
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            self.respond(401)
            return
        token = header.removeprefix("Bearer ")
        cls.tokens.append(token)
        reason = self.token_problem(token)
        if reason:
            self.refuse(reason)
            return
        room, _, muc = conference.partition("@")
        if muc != cls.muc or room not in cls.live:
            self.respond(404)
            return
        cls.live.discard(room)
        cls.ended.append(room)
        self.respond(200)

    def token_problem(self, token: str) -> str | None:
        """None for a token the module accepts, else the reason Prosody logs."""
        cls = type(self)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return "bad token format"
        kid, alg = header.get("kid"), header.get("alg")
        if not kid:
            return "'kid' claim is missing"
        if not str(alg).startswith("RS"):
            return "'kid' claim only support with RS family"
        try:
            host, port = self.server.server_address[:2]
            with urllib.request.urlopen(f"http://{host}:{port}/asap/{asap_file_name(kid)}", timeout=5) as reply:
                public_key = reply.read()
        except OSError:
            return "could not obtain public key"
        if header.get("typ") != "JWT":
            return "Invalid typ"
        if alg != ("HS256" if cls.app_secret is not None else "RS256"):
            return "Invalid or incorrect alg"
        try:
            claims = jwt.decode(token, public_key, algorithms=["RS256"], options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            return "Not acceptable by exp"
        except jwt.ImmatureSignatureError:
            return "Not acceptable by nbf"
        except jwt.InvalidTokenError:
            return "Invalid signature"
        cls.claims.append(claims)
        if claims.get("iss") not in cls.accepted_issuers:
            return "invalid 'iss' claim"
        if "aud" not in claims:
            return "'aud' claim is missing"
        if "*" not in cls.accepted_audiences and claims["aud"] not in cls.accepted_audiences:
            return "invalid 'aud' claim"
        if "room" not in claims:
            return "'room' claim is missing"
        return None


def twilio_error(code: int, status: int, message: str) -> bytes:
    """Twilio's REST error body."""
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return json.dumps({**body, "status": status}).encode()


class TwilioRooms(_Quiet):
    """Configure with ``reset``; read ``completed`` (rooms ended) and ``statuses`` (every answer)."""

    api_key: ClassVar[str] = ""
    api_secret: ClassVar[str] = ""
    account: ClassVar[str] = ""
    live: ClassVar[dict[str, str]] = {}  # UniqueName -> RoomSid of the in-progress rooms
    completed: ClassVar[list[str]] = []
    statuses: ClassVar[list[int]] = []
    accepts: ClassVar[list[str | None]] = []

    @classmethod
    def reset(cls, api_key: str, api_secret: str, account: str, live: dict[str, str]) -> None:
        cls.api_key, cls.api_secret, cls.account, cls.live = api_key, api_secret, account, live
        cls.completed, cls.statuses, cls.accepts = [], [], []

    def respond(self, status: int, body: bytes) -> None:
        type(self).statuses.append(status)
        self.answer(status, body, "application/json")

    def do_POST(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        wanted = base64.b64encode(f"{cls.api_key}:{cls.api_secret}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {wanted}":
            self.respond(401, twilio_error(20003, 401, "Authenticate"))
            return
        name = urllib.parse.unquote(self.path.removeprefix("/v1/Rooms/"))
        if not self.path.startswith("/v1/Rooms/") or "/" in name or not name:
            self.respond(404, twilio_error(20404, 404, f"The requested resource {self.path} was not found"))
            return
        form = urllib.parse.parse_qs(body.decode()) if self.headers.get("Content-Type") == FORM else {}
        if form != {"Status": ["completed"]}:
            self.respond(400, twilio_error(53123, 400, "Invalid Room status"))
            return
        sids = {sid: unique for unique, sid in cls.live.items()}
        unique = name if name in cls.live else sids.get(name)
        if unique is None:
            self.respond(404, twilio_error(20404, 404, f"The requested resource /Rooms/{name} was not found"))
            return
        sid = cls.live.pop(unique)
        cls.completed.append(unique)
        cls.accepts.append(self.headers.get("Accept"))
        room = {"sid": sid, "unique_name": unique, "account_sid": cls.account, "status": "completed"}
        self.respond(200, json.dumps(room).encode())


FORM = "application/x-www-form-urlencoded"


class ZoomVideoSdk(_Quiet):
    """Configure with ``reset``; read ``ended`` (session ids ended), ``listed`` (list queries) and ``statuses``."""

    api_key: ClassVar[str] = ""
    api_secret: ClassVar[str] = ""
    live: ClassVar[dict[str, str]] = {}  # session id -> session name
    page_size: ClassVar[int] = 300
    filters_by_name: ClassVar[bool] = True  # False: a Zoom that ignores session_name (not documented, but cheap)
    ended: ClassVar[list[str]] = []
    listed: ClassVar[list[dict[str, list[str]]]] = []
    statuses: ClassVar[list[int]] = []

    @classmethod
    def reset(cls, api_key: str, api_secret: str, live: dict[str, str], page_size: int = 300) -> None:
        cls.api_key, cls.api_secret, cls.live, cls.page_size = api_key, api_secret, live, page_size
        cls.filters_by_name, cls.ended, cls.listed, cls.statuses = True, [], [], []

    def respond(self, status: int, body: dict[str, Any] | None = None) -> None:
        type(self).statuses.append(status)
        self.answer(status, json.dumps(body).encode() if body is not None else b"", "application/json")

    def authorised(self) -> bool:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, type(self).api_secret, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.PyJWTError:
            claims = {}
        if claims.get("iss") != type(self).api_key:
            self.respond(401, {"code": 124, "message": "Invalid access token."})
            return False
        return True

    def do_GET(self) -> None:
        cls = type(self)
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/v2/videosdk/sessions":
            self.respond(404, {"code": 404, "message": "Not found"})
            return
        if not self.authorised():
            return
        query = urllib.parse.parse_qs(url.query)
        cls.listed.append(query)
        if "from" not in query or "to" not in query or query.get("type") != ["live"]:
            self.respond(400, {"code": 300, "message": "Invalid parameter."})
            return
        named = [
            {"id": sid, "session_name": name, "start_time": "2026-03-02T09:55:00Z", "user_count": 1}
            for sid, name in cls.live.items()
            if name == query.get("session_name", [name])[0] or not cls.filters_by_name
        ]
        start = int(query.get("next_page_token", ["0"])[0])
        page = named[start : start + cls.page_size]
        following = str(start + cls.page_size) if start + cls.page_size < len(named) else ""
        body = {"from": query["from"][0], "to": query["to"][0], "page_size": cls.page_size}
        self.respond(200, {**body, "next_page_token": following, "sessions": page})

    def do_PUT(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # Decoded once before routing, as Zoom's front end does: a single-encoded "/" splits the path.
        parts = urllib.parse.unquote(self.path).split("/")
        if len(parts) != 6 or parts[:4] != ["", "v2", "videosdk", "sessions"] or parts[5] != "status":
            self.respond(404, {"code": 404, "message": "Not found"})
            return
        if not self.authorised():
            return
        if self.headers.get("Content-Type") != "application/json" or json.loads(body or b"{}") != {"action": "end"}:
            self.respond(400, {"code": 300, "message": "Invalid action."})
            return
        session_id = urllib.parse.unquote(parts[4])
        if session_id not in cls.live:
            self.respond(404, {"code": 3001, "message": "Session does not exist."})
            return
        del cls.live[session_id]
        cls.ended.append(session_id)
        self.respond(204)


class VonageVideo(_Quiet):
    """Configure with ``reset(application_id, public_key_pem)``; read ``sessions`` and ``forms``."""

    application_id: ClassVar[str] = ""
    public_key: ClassVar[bytes] = b""
    sessions: ClassVar[list[str]] = []
    forms: ClassVar[list[dict[str, list[str]]]] = []
    headers_seen: ClassVar[list[dict[str, str]]] = []
    jwt_claims: ClassVar[list[dict[str, Any]]] = []
    statuses: ClassVar[list[int]] = []
    fail_with: ClassVar[int | None] = None
    delay: ClassVar[float] = 0.0
    session_ids: ClassVar[list[str]] = []  # answer these session ids first, then fresh ones
    connected: ClassVar[dict[str, set[str]]] = {}  # session id -> its connections now
    disconnected: ClassVar[list[str]] = []  # connections forced out, in order
    fail_disconnect_with: ClassVar[int | None] = None

    @classmethod
    def reset(cls, application_id: str, public_key: bytes) -> None:
        cls.application_id, cls.public_key, cls.fail_with, cls.delay = application_id, public_key, None, 0.0
        cls.session_ids, cls.connected, cls.disconnected, cls.fail_disconnect_with = [], {}, [], None
        cls.sessions, cls.forms, cls.headers_seen, cls.jwt_claims, cls.statuses = [], [], [], [], []

    def do_DELETE(self) -> None:
        """``DELETE /v2/project/<application>/session/<session>/connection/<connection>`` (force disconnect):
        204 when it was connected, 404 when the session does not hold it."""
        cls = type(self)
        parts = self.path.split("/")
        routed = len(parts) == 8 and parts[:3] == ["", "v2", "project"] and parts[4::2] == ["session", "connection"]
        if not routed or parts[3] != cls.application_id:
            self.respond(404, {"code": 404, "message": "Not found"})
            return
        if not self.token_is_good(self.headers.get("Authorization", "")):
            self.respond(401, {"code": 401, "message": "Invalid authentication"})
            return
        if cls.fail_disconnect_with is not None:
            self.respond(cls.fail_disconnect_with, {"code": cls.fail_disconnect_with, "message": "failed"})
            return
        session, connection = parts[5], parts[7]
        if connection not in cls.connected.get(session, set()):
            self.respond(404, {"code": 404, "message": "Connection not found"})
            return
        cls.connected[session].discard(connection)
        cls.disconnected.append(connection)
        type(self).statuses.append(204)
        self.answer(204)

    def respond(self, status: int, answer: Any) -> None:
        type(self).statuses.append(status)
        self.answer(status, json.dumps(answer).encode(), "application/json")

    def do_POST(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls.headers_seen.append(dict(self.headers.items()))
        if self.path != "/session/create":
            self.respond(404, {"code": 404, "message": "Not found"})
            return
        if not self.token_is_good(self.headers.get("Authorization", "")):
            self.respond(401, {"code": 401, "message": "Invalid authentication"})
            return
        if not str(self.headers.get("Content-Type", "")).startswith("application/x-www-form-urlencoded"):
            self.respond(400, {"code": 400, "message": "a form-encoded body is required"})
            return
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        cls.forms.append(form)
        preference = form.get("p2p.preference", ["disabled"])
        archive = form.get("archiveMode", ["manual"])
        if preference[0] not in ("disabled", "enabled") or archive[0] not in ("manual", "always"):
            self.respond(400, {"code": 400, "message": "invalid p2p.preference or archiveMode"})
            return
        if archive[0] == "always" and preference[0] != "disabled":
            self.respond(400, {"code": 400, "message": "archiveMode always needs a routed session"})
            return
        time.sleep(cls.delay)
        if cls.fail_with is not None:
            self.respond(cls.fail_with, {"code": cls.fail_with, "message": "failed"})
            return
        session_id = cls.session_ids.pop(0) if cls.session_ids else f"2_MX4{secrets.token_urlsafe(24)}"
        cls.sessions.append(session_id)
        created = int(time.time() * 1000)
        answer = {"session_id": session_id, "project_id": cls.application_id, "create_dt": created}
        self.respond(200, [{**answer, "media_server_url": ""}])

    def token_is_good(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(
                header.removeprefix("Bearer "),
                type(self).public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "jti", "application_id"]},
            )
        except jwt.PyJWTError:
            return False
        type(self).jwt_claims.append(claims)
        return bool(claims["application_id"] == type(self).application_id)


class EnableX(_Quiet):
    """Configure with ``reset(app_id, app_key)``; read ``rooms``, ``tokens``, ``deleted``, ``requests``."""

    app_id: ClassVar[str] = ""
    app_key: ClassVar[str] = ""
    rooms: ClassVar[dict[str, dict[str, Any]]] = {}
    tokens: ClassVar[list[dict[str, Any]]] = []
    deleted: ClassVar[list[str]] = []
    requests: ClassVar[list[tuple[str, str]]] = []
    statuses: ClassVar[list[int]] = []
    delete_bodies: ClassVar[list[bytes]] = []
    fail_tokens_with: ClassVar[int | None] = None
    fail_rooms_with: ClassVar[int | None] = None  # answer room creation with this status
    token_delay: ClassVar[float] = 0.0
    token_answer: ClassVar[tuple[int, dict[str, Any]] | None] = None  # answer tokens with this instead
    cdr: ClassVar[dict[str, list[dict[str, Any]]]] = {}  # room id -> its call detail records
    cdr_answer: ClassVar[tuple[int, dict[str, Any]] | None] = None  # answer the CDR route with this instead

    @classmethod
    def reset(cls, app_id: str, app_key: str) -> None:
        cls.app_id, cls.app_key, cls.fail_tokens_with, cls.token_delay = app_id, app_key, None, 0.0
        cls.fail_rooms_with = None
        cls.rooms, cls.tokens, cls.deleted, cls.requests, cls.statuses = {}, [], [], [], []
        cls.delete_bodies, cls.token_answer, cls.cdr, cls.cdr_answer = [], None, {}, None

    def do_GET(self) -> None:
        """``GET /video/v2/cdr/room/<room_id>``: the room's call detail records (none yet: an empty list)."""
        if not self.begin("GET"):
            return
        parts = self.path.strip("/").split("/")
        if len(parts) != 5 or parts[:4] != ["video", "v2", "cdr", "room"]:
            self.respond(404, {"result": 1404, "error": "no such route"})
        elif type(self).cdr_answer is not None:
            self.respond(*(type(self).cdr_answer or (500, {})))
        else:
            self.respond(200, {"result": 0, "cdr": type(self).cdr.get(parts[4], [])})

    def respond(self, status: int, answer: dict[str, Any]) -> None:
        type(self).statuses.append(status)
        self.answer(status, json.dumps(answer).encode(), "application/json")

    def authorized(self) -> bool:
        cls = type(self)
        expected = "Basic " + base64.b64encode(f"{cls.app_id}:{cls.app_key}".encode()).decode()
        return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected.encode())

    def begin(self, method: str) -> bool:
        type(self).requests.append((method, self.path))
        if not self.authorized():
            self.respond(401, {"result": 4001, "error": "Authentication failed"})
            return False
        return True

    def json_body(self) -> dict[str, Any] | None:
        if self.headers.get("Content-Type") != "application/json":
            return None
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def do_POST(self) -> None:
        if not self.begin("POST"):
            return
        body = self.json_body()
        parts = self.path.strip("/").split("/")
        if body is None:
            self.respond(400, {"result": 1001, "error": "a JSON body is required"})
        elif parts == ["video", "v1", "rooms"]:
            self.create_room(body)
        elif len(parts) == 5 and parts[:3] == ["video", "v1", "rooms"] and parts[4] == "tokens":
            self.create_token(parts[3], body)
        else:
            self.respond(404, {"result": 1404, "error": "no such route"})

    def create_room(self, body: dict[str, Any]) -> None:
        if type(self).fail_rooms_with is not None:
            self.respond(type(self).fail_rooms_with or 503, {"result": 5000, "error": "service unavailable"})
            return
        settings = body.get("settings")
        required = ("mode", "scheduled", "adhoc", "duration")
        if not body.get("name") or not str(body.get("owner_ref", "")).isalnum() or not isinstance(settings, dict):
            self.respond(400, {"result": 1002, "error": "name, owner_ref and settings are required"})
            return
        if any(key not in settings for key in required) or settings["mode"] not in ("group", "lecture"):
            self.respond(400, {"result": 1003, "error": "settings.mode, scheduled, adhoc and duration are required"})
            return
        room_id = secrets.token_hex(12)
        type(self).rooms[room_id] = body
        self.respond(200, {"result": 0, "room": {"room_id": room_id, **body}})

    def create_token(self, room_id: str, body: dict[str, Any]) -> None:
        cls = type(self)
        time.sleep(cls.token_delay)
        if cls.fail_tokens_with is not None:
            self.respond(cls.fail_tokens_with, {"result": 5000, "error": "service unavailable"})
            return
        if cls.token_answer is not None:
            self.respond(*cls.token_answer)
            return
        if room_id not in cls.rooms:
            self.respond(404, {"result": 1404, "error": "room not found"})
            return
        if not body.get("name") or body.get("role") not in ("moderator", "participant") or not body.get("user_ref"):
            self.respond(400, {"result": 1004, "error": "name, role and user_ref are required"})
            return
        token = f"enx-{secrets.token_urlsafe(24)}"
        cls.tokens.append({"room_id": room_id, **body, "token": token})
        self.respond(200, {"result": 0, "token": token})

    def do_DELETE(self) -> None:
        if not self.begin("DELETE"):
            return
        type(self).delete_bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        parts = self.path.strip("/").split("/")
        room_id = parts[3] if len(parts) == 4 and parts[:3] == ["video", "v1", "rooms"] else ""
        if room_id not in type(self).rooms:
            self.respond(404, {"result": 1404, "error": "room not found"})
            return
        del type(self).rooms[room_id]
        type(self).deleted.append(room_id)
        self.respond(200, {"result": 0, "room_id": room_id})


@contextmanager
def serve(
    handler: type[http.server.BaseHTTPRequestHandler], port: int = 0, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 in a thread (over HTTPS with ``tls``, a certificate and its key);
    yields its base URL and stops it afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    # Handler threads are joined at close: a request still being answered when a test ends would otherwise
    # record into the stand-in's class state after the next test has reset it (seen: a late 200).
    server.daemon_threads = False
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class FcmSend(_Quiet):
    """Configure with ``reset``; read ``sent`` (each message body FCM accepted) and ``auths``."""

    project: ClassVar[str] = ""
    gone: ClassVar[set[str]] = set()
    failing: ClassVar[set[str]] = set()
    sent: ClassVar[list[dict[str, Any]]] = []
    auths: ClassVar[list[str | None]] = []

    @classmethod
    def reset(cls, project: str, gone: set[str] | None = None, failing: set[str] | None = None) -> None:
        cls.project, cls.gone, cls.failing = project, gone or set(), failing or set()
        cls.sent, cls.auths = [], []

    def error(self, status: int, name: str, detail: str = "") -> None:
        body: dict[str, Any] = {"code": status, "message": name.lower(), "status": name}
        if detail:
            body["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": detail}]
        self.answer(status, json.dumps({"error": body}).encode(), "application/json")

    def do_POST(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls.auths.append(self.headers.get("Authorization"))
        if self.path != f"/v1/projects/{cls.project}/messages:send":
            self.error(404, "NOT_FOUND")
            return
        if self.headers.get("Authorization") != "Bearer owner":
            self.error(401, "UNAUTHENTICATED")
            return
        try:
            message = json.loads(body)["message"]
            targets = [message[key] for key in ("fid", "token") if key in message]
            token = targets[0] if len(targets) == 1 else ""
            valid = all(isinstance(value, str) for value in message.get("data", {}).values())
        except (ValueError, KeyError, TypeError, AttributeError):
            valid, token = False, ""
        if not valid or not isinstance(token, str) or not token:
            self.error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
            return
        if token in cls.gone:
            self.error(404, "NOT_FOUND", "UNREGISTERED")
            return
        if token in cls.failing:
            self.error(500, "INTERNAL", "INTERNAL")
            return
        cls.sent.append(message)
        name = f"projects/{cls.project}/messages/{len(cls.sent)}"
        self.answer(200, json.dumps({"name": name}).encode(), "application/json")


class TwilioMessages(_Quiet):
    """Configure with ``reset``; read ``sent`` (each accepted form, as a flat dict)."""

    account: ClassVar[str] = ""
    key: ClassVar[str] = ""
    secret: ClassVar[str] = ""
    refused: ClassVar[set[str]] = set()
    failing: ClassVar[set[str]] = set()
    sent: ClassVar[list[dict[str, str]]] = []

    @classmethod
    def reset(cls, account: str, key: str, secret: str, refused: set[str] | None = None) -> None:
        cls.account, cls.key, cls.secret, cls.refused = account, key, secret, refused or set()
        cls.failing, cls.sent = set(), []

    def do_POST(self) -> None:
        cls = type(self)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        wanted = base64.b64encode(f"{cls.key}:{cls.secret}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {wanted}":
            self.answer(401, twilio_error(20003, 401, "Authenticate"), "application/json")
            return
        if self.path != f"/2010-04-01/Accounts/{cls.account}/Messages.json":
            self.answer(404, twilio_error(20404, 404, "The requested resource was not found"), "application/json")
            return
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        has_sender = ("From" in form) != ("MessagingServiceSid" in form)
        if self.headers.get("Content-Type") != FORM or not has_sender or not form.get("To") or not form.get("Body"):
            self.answer(400, twilio_error(21604, 400, "A 'To' phone number is required."), "application/json")
            return
        if form["To"] in cls.refused:
            self.answer(400, twilio_error(21211, 400, "Invalid 'To' Phone Number"), "application/json")
            return
        if form["To"] in cls.failing:
            self.answer(500, twilio_error(20500, 500, "Internal Server Error"), "application/json")
            return
        cls.sent.append(form)
        sid = "SM" + hashlib.sha256(body).hexdigest()[:32]
        message = {"sid": sid, "account_sid": cls.account, "to": form["To"], "status": "queued"}
        self.answer(201, json.dumps(message).encode(), "application/json")
