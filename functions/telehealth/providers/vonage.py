"""Vonage Video API: a session created at assignment, client tokens signed RS256 with the application's key.

The session is created with the ``vonage`` package's Video client (``POST /session/create`` with an
application JWT, routed media, manual archiving) at ``VIDEO_SERVER_API_URL`` (default
``https://video.api.vonage.com``; the package speaks HTTPS only). Client tokens carry the claims the
package's own ``generate_client_token`` makes (tests compare the two): ``moderator`` for the doctor,
``publisher`` for everyone else. Vonage has no API to delete a session (an unused one costs nothing
and expires), so a withdrawn room is simply never handed out again.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ..access import Grant
from ..config import VideoConfig
from ..errors import Misconfigured, ProviderCallFailed
from .base import Deployment, Participant, Provider, RoomCreation

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


PROVIDER = Provider(
    name="vonage",
    algorithm="RS256",
    claims=claims,
    configure=configure,
    default_domain=API_HOST,
    response_extras=lambda config, grant: {"sessionId": grant.provider_room_id, "applicationId": config.app_id},
    room_creation=RoomCreation(create=create_session),
)
