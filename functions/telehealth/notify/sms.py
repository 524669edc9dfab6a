"""SMS through Twilio Messaging with the ``twilio`` package's own client, where the deployment configures it.

``VIDEO_SMS_API_URL`` points the client at another base URL (a loopback stand-in in tests). Twilio's
answers that a retry cannot change (an invalid or unsubscribed number: 4xx) are a permanent failure;
anything else raises, so the task is tried again.
"""

from __future__ import annotations

from collections.abc import Callable

from .settings import SmsSettings

TIMEOUT_SECONDS = 10

SmsSender = Callable[[str, str], bool]


def twilio_sender(sms: SmsSettings, secret: str) -> SmsSender:
    """A sender of one text to one E.164 number; True when Twilio accepted it, False when it refused it for good."""
    # Imported here: deployments without SMS never load the twilio package.
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(
        username=sms.api_key,
        password=secret,
        account_sid=sms.account_sid,
        http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS),
    )
    if sms.api_url:
        client.api.base_url = sms.api_url
    sender = {"messaging_service_sid": sms.sender} if sms.sender.startswith("MG") else {"from_": sms.sender}

    def send(to: str, body: str) -> bool:
        try:
            client.messages.create(to=to, body=body, **sender)
        except TwilioRestException as error:
            if 400 <= error.status < 500 and error.status != 429:
                return False
            raise
        return True

    return send
