"""The senders a deployment has, for the reminder task (``delivery.Channels``)."""

from __future__ import annotations

from ..config import SMS_SECRET, check_shared_secret
from ..delivery import Channels
from .contacts import auth_contact
from .push import fcm_sender
from .settings import NotifySettings
from .sms import twilio_sender


def channels_for(settings: NotifySettings, sms_secret: str, project_id: str) -> Channels:
    """Push always (only users with devices get it), SMS where ``VIDEO_SMS_FROM`` is set and its secret is sound."""
    sms = None
    if settings.sms is not None:
        sms = twilio_sender(settings.sms, check_shared_secret(SMS_SECRET, sms_secret))
    return Channels(contact=auth_contact, push=fcm_sender(settings.fcm_api_url, project_id), sms=sms)
