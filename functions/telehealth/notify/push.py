"""Push through Firebase Cloud Messaging, with firebase-admin's own client (``messaging.send_each``).

A device is its app's Firebase Installation ID (what ``register`` / ``onRegistered`` give in the current
client SDKs; the message's ``fid``), or, marked ``kind: "token"``, a legacy registration token (``getToken``;
the message's ``token``, deprecated in firebase-admin 7.7).

FCM has no emulator, so ``VIDEO_FCM_API_URL`` can point the client at another base URL (a loopback
stand-in in tests); firebase-admin 7.7 has no option for that, so the one place it is done is
``_messaging_service`` below. On a loopback URL the client authenticates as firebase-admin does
against emulators (``Bearer owner``), since there are no Google credentials there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import firebase_admin
from firebase_admin import messaging
from google.oauth2.credentials import Credentials

LOOPBACK_PREFIXES = ("http://127.0.0.1", "http://localhost")
# The emulators' access token in firebase-admin (_utils.EmulatorAdminCredentials).
EMULATOR_TOKEN = "owner"  # noqa: S105 - a fixed public value, not a secret


@dataclass(frozen=True)
class PushNote:
    """What a push shows (a title and one line) and the data a client app routes by (no content)."""

    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushOutcome:
    """How many devices got it, which tokens FCM reports as unregistered, how many failed otherwise."""

    delivered: int = 0
    unregistered: tuple[str, ...] = ()
    failed: int = 0


@dataclass(frozen=True)
class Device:
    """One registered app instance: its FID, or a legacy registration token."""

    id: str
    legacy_token: bool = False


PushSender = Callable[[list[Device], PushNote], PushOutcome]


class _LoopbackCredential(firebase_admin.credentials.Base):  # type: ignore[misc]
    def get_credential(self) -> Credentials:
        return Credentials(token=EMULATOR_TOKEN)  # type: ignore[no-untyped-call]


def _app(api_url: str, project_id: str) -> firebase_admin.App:
    """The default app, or for a loopback URL an app of its own with the emulators' fixed credential."""
    if not api_url.startswith(LOOPBACK_PREFIXES):
        return firebase_admin.get_app()
    name = f"telehealth-push-{api_url}"
    try:
        return firebase_admin.get_app(name)
    except ValueError:
        return firebase_admin.initialize_app(_LoopbackCredential(), {"projectId": project_id}, name=name)


def _messaging_service(app: firebase_admin.App, api_url: str) -> Any:
    """firebase-admin's messaging service for ``app``, sending to ``api_url`` where one is configured."""
    service = messaging._get_messaging_service(app)
    if api_url:
        service._fcm_url = f"{api_url}/v1/projects/{app.project_id}/messages:send"
    return service


def _message(device: Device, notification: Any, data: dict[str, str]) -> Any:
    if not device.legacy_token:
        return messaging.Message(fid=device.id, notification=notification, data=data)
    with warnings.catch_warnings():  # a legacy token is still FCM's to take; the SDK only warns
        warnings.simplefilter("ignore", DeprecationWarning)
        return messaging.Message(token=device.id, notification=notification, data=data)


def fcm_sender(api_url: str, project_id: str) -> PushSender:
    """A sender to FCM (or to ``api_url``): one message per device, unregistered ones reported."""

    def send(devices: list[Device], note: PushNote) -> PushOutcome:
        if not devices:
            return PushOutcome()
        app = _app(api_url, project_id)
        _messaging_service(app, api_url)
        notification = messaging.Notification(title=note.title, body=note.body)
        messages = [_message(device, notification, dict(note.data)) for device in devices]
        batch = messaging.send_each(messages, app=app)
        gone = tuple(
            device.id
            for device, response in zip(devices, batch.responses, strict=True)
            if isinstance(response.exception, messaging.UnregisteredError)
        )
        return PushOutcome(delivered=batch.success_count, unregistered=gone, failed=batch.failure_count - len(gone))

    return send
