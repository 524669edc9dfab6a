"""Vonage Video API: a session created at assignment, client tokens signed RS256 with the application's key,
session monitoring callbacks for attendance, and the meeting ended by forcing its connections out.

The session is created with the ``vonage`` package's Video client (``POST /session/create`` with an
application JWT, routed media, manual archiving) at ``VIDEO_SERVER_API_URL`` (default
``https://video.api.vonage.com``; the package speaks HTTPS only). Client tokens carry the claims the
package's own ``generate_client_token`` makes (tests compare the two): ``moderator`` for the doctor,
``publisher`` for everyone else.

Session monitoring callbacks (``connectionCreated`` / ``connectionDestroyed``) are signed: an HS256 JWT
in ``Authorization`` with the callback signature secret (``VIDEO_WEBHOOK_SECRET``), checked with the
package's own ``verify_signature``; its ``iat`` must be fresh and its ``payload_hash`` the body's sha256.
Vonage has no API to end or delete a session, and a connected client stays connected even after its
token expires: a withdrawn visit's meeting is ended by disconnecting (``DELETE .../connection/<id>``)
each connection the callbacks reported connected and not gone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import WEBHOOK_SECRET, VideoConfig, check_shared_secret
from ..errors import Misconfigured, ProviderCallFailed, WebhookRejected
from .base import (
    AttendanceEvent,
    Attendee,
    Deployment,
    Disconnect,
    Kind,
    Participant,
    Provider,
    RoomCreation,
    WebhookRequest,
    attendee,
)
from .events import derived_event_id, epoch, parse_json_object, require_fresh, text_field

API_HOST = "video.api.vonage.com"
# A Vonage application id is a UUID (an 8-hex-digit API key here is a mix-up with the old OpenTok auth).
APPLICATION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REQUEST_TIMEOUT_SECONDS = 10
# The scope, subject and ACL every Vonage Video client token carries (vonage_video's TokenOptions: its
# claim is "subject", not JWT's "sub").
SCOPE = "session.connect"
SUBJECT = "video"
ACL: dict[str, Any] = {"paths": {"/session/**": {}}}


def configure(_values: Mapping[str, Any], shared: Mapping[str, Any]) -> str:
    """Check the application id and that the server API is HTTPS; returns the Video API host (and port)."""
    if not APPLICATION_ID.fullmatch(str(shared["app_id"])):
        raise Misconfigured("VIDEO_APP_ID must be the Vonage application id (a lowercase UUID) for provider vonage")
    server_api = str(shared["server_api"])
    if server_api and not server_api.startswith("https://"):
        raise Misconfigured("VIDEO_SERVER_API_URL must be https:// for provider vonage")
    return server_api.removeprefix("https://") or API_HOST


def role_of(grant: Grant) -> str:
    """Vonage's role: the doctor moderates (may force others out), everyone else publishes."""
    return "moderator" if grant.role == "moderator" else "publisher"


def connection_data(who: Participant) -> str:
    """What other clients see of a connection: the identity and display name (and email where allowed)."""
    data = {"identity": who.identity, "name": who.display_name}
    if who.email:
        data["email"] = who.email
    return json.dumps(data, separators=(",", ":"))


def claims(grant: Grant, who: Participant, config: VideoConfig) -> dict[str, Any]:
    """A Vonage Video client token's claims, as ``vonage_video``'s ``generate_client_token`` makes them."""
    return {
        "application_id": config.app_id,
        "scope": SCOPE,
        "subject": SUBJECT,
        "acl": ACL,
        "session_id": grant.provider_room_id,
        "role": role_of(grant),
        "connection_data": connection_data(who),
        "iat": grant.issued_at,
        "exp": grant.expires_at,
        "jti": str(uuid.uuid4()),
    }


def private_key_pem(deployment: Deployment) -> str:
    """The application's private key as PKCS#8 PEM, the only form the package's JWT client takes."""
    from cryptography.hazmat.primitives import serialization

    key: Any = deployment.settings().signing_key.key
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def video_client(deployment: Deployment) -> Any:
    """The package's Video client for this application, at the configured host, with a deadline."""
    from vonage_http_client import Auth, HttpClient, HttpClientOptions
    from vonage_video import Video

    # The package logs every request's headers (the application JWT among them) at DEBUG: never ours.
    logging.getLogger("vonage").setLevel(logging.ERROR)
    config = deployment.config()
    auth = Auth(application_id=config.app_id, private_key=private_key_pem(deployment))
    options = HttpClientOptions(video_host=config.options, timeout=REQUEST_TIMEOUT_SECONDS)
    return Video(HttpClient(auth, options))


def create_session(_room: str, _closes_at: int, deployment: Deployment, _now: int) -> str:
    """``POST /session/create``: a routed session (media through Vonage's router, no peer-to-peer, so
    neither side learns the other's address), archived only on request; returns its session id."""
    from vonage_http_client.errors import HttpRequestError
    from vonage_video.models import MediaMode, SessionOptions

    try:
        session = video_client(deployment).create_session(SessionOptions(media_mode=MediaMode.ROUTED))
    except HttpRequestError as error:
        raise ProviderCallFailed(int(error.response.status_code), "Vonage refused to create the session") from None
    session_id = str(session.session_id)
    if not session_id:
        raise ProviderCallFailed(200, "Vonage answered without a session id")
    return session_id


KINDS: dict[str, Kind] = {"connectionCreated": "joined", "connectionDestroyed": "left"}
# Session and connection ids go into request paths (the disconnect): only plain ones are taken.
PLAIN_ID = re.compile(r"[A-Za-z0-9_~.-]{1,256}")


def verified_claims(request: WebhookRequest, secret: str) -> Mapping[str, Any]:
    """The callback's signed JWT (``Authorization``, with or without ``Bearer``), verified with the vonage
    package's ``verify_signature`` (HS256, the signature secret), fresh, and covering this body."""
    import jwt  # imported here, like the package: only Vonage deployments need it
    from vonage_jwt.verify_jwt import verify_signature

    token = request.header("Authorization").removeprefix("Bearer ").strip()
    if not token:
        raise WebhookRejected(401, "no Authorization token")
    try:
        verified = verify_signature(token, secret)
        claims: Mapping[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["iat", "payload_hash"]}
        )
    except Exception:  # noqa: BLE001 - the package raises its own error for any undecodable token: a 401 each
        verified = False
    if not verified:
        raise WebhookRejected(401, "Vonage signature does not verify")
    require_fresh(epoch(claims["iat"]), request.now)
    digest = hashlib.sha256(request.body).hexdigest()
    if not isinstance(claims["payload_hash"], str) or not hmac.compare_digest(claims["payload_hash"], digest):
        raise WebhookRejected(401, "payload_hash is not this body's")
    return claims


def attendee_in(connection: Mapping[str, Any]) -> Attendee:
    """Who our token's connection data names (``connectionDestroyed`` may carry none: no role then)."""
    data = connection.get("data")
    try:
        parsed = json.loads(data) if isinstance(data, str) and data else None
    except ValueError:
        return Attendee(None)
    return attendee(parsed.get("identity") if isinstance(parsed, Mapping) else None)


def events(request: WebhookRequest, deployment: Deployment) -> list[AttendanceEvent]:
    """A session monitoring callback: signed, fresh, for this application; joins and leaves of connections."""
    if request.path.strip("/"):
        raise WebhookRejected(404, "no such Vonage callback path")
    secret = check_shared_secret(WEBHOOK_SECRET, deployment.secret(WEBHOOK_SECRET))
    claims = verified_claims(request, secret)
    if claims.get("application_id") != deployment.config().app_id:
        return []  # signed with our secret for another application: not ours to record
    payload = parse_json_object(request.body)
    kind = KINDS.get(text_field(payload, "event"))
    if kind is None:
        return []  # streams, sessions created and destroyed: nothing to record
    session, connection = text_field(payload, "sessionId"), payload.get("connection")
    if not isinstance(connection, Mapping):
        raise WebhookRejected(400, "connection is not an object")
    connection_id = text_field(connection, "id")
    if not PLAIN_ID.fullmatch(session) or not PLAIN_ID.fullmatch(connection_id):
        raise WebhookRejected(400, "session or connection id missing or not plain")
    at = epoch(payload.get("timestamp"))
    event_id = derived_event_id("vonage", kind, session, connection_id)
    who = attendee_in(connection)
    return [
        AttendanceEvent(
            event_id, "", kind, who.role, at, provider_room_id=session, participant=connection_id, guest_id=who.guest_id
        )
    ]


def disconnect(session_id: str, connections: tuple[str, ...], deployment: Deployment) -> None:
    """Force each connection out of the session (the package's ``disconnect_client``); one Vonage no longer
    holds (404) is out already; any other failure raises, to be retried."""
    from vonage_http_client.errors import HttpRequestError, NotFoundError

    if not connections or not PLAIN_ID.fullmatch(session_id):
        return
    client = video_client(deployment)
    for connection in connections:
        if not PLAIN_ID.fullmatch(connection):
            continue  # never stored by our verifier: nothing of ours to disconnect
        try:
            client.disconnect_client(session_id, connection)
        except NotFoundError:
            continue
        except HttpRequestError as error:
            raise ProviderCallFailed(int(error.response.status_code), "Vonage refused to disconnect") from None


PROVIDER = Provider(
    name="vonage",
    algorithm="RS256",
    claims=claims,
    configure=configure,
    default_domain=API_HOST,
    response_extras=lambda config, grant: {"sessionId": grant.provider_room_id, "applicationId": config.app_id},
    webhook=events,
    disconnect=Disconnect(connections=disconnect),
    room_creation=RoomCreation(create=create_session),
)
