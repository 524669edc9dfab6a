"""Push through firebase-admin's own FCM client and SMS through the twilio package's own client, each over real
HTTP to a loopback stand-in that checks the request as FCM and Twilio do (tests/standins.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from standins import FcmSend, TwilioMessages, serve
from twilio.base.exceptions import TwilioRestException

from telehealth.config import SMS_SECRET
from telehealth.errors import Misconfigured
from telehealth.notify.channels import channels_for
from telehealth.notify.push import Device, PushNote, PushOutcome, fcm_sender
from telehealth.notify.settings import NotifySettings, SmsSettings
from telehealth.notify.sms import twilio_sender

PROJECT = "demo-telehealth"
ACCOUNT, KEY, SECRET = "AC" + "0" * 32, "SK" + "1" * 32, "s" * 16 + "t" * 16
NOTE = PushNote(title="Your doctor is ready", body="Join now.", data={"kind": "ready", "appointmentId": "a1"})


@pytest.fixture
def fcm() -> Iterator[str]:
    FcmSend.reset(PROJECT, gone={"gone-token"}, failing={"broken-token"})
    with serve(FcmSend) as url:
        yield url


@pytest.fixture
def twilio() -> Iterator[str]:
    TwilioMessages.reset(ACCOUNT, KEY, SECRET, refused={"+15005550001"})
    TwilioMessages.failing = {"+15005550009"}
    with serve(TwilioMessages) as url:
        yield url


def test_push_reaches_each_device_and_reports_unregistered_ones(fcm: str) -> None:
    devices = [Device("fid-1"), Device("gone-token"), Device("legacy-1", legacy_token=True)]
    outcome = fcm_sender(fcm, PROJECT)(devices, NOTE)
    assert outcome == PushOutcome(delivered=2, unregistered=("gone-token",), failed=0)
    # send_each sends from a thread pool: in no promised order.
    targets = sorted((message.get("fid", ""), message.get("token", "")) for message in FcmSend.sent)
    assert targets == [("", "legacy-1"), ("fid-1", "")]
    for message in FcmSend.sent:
        assert message["notification"] == {"title": "Your doctor is ready", "body": "Join now."}
        assert message["data"] == {"kind": "ready", "appointmentId": "a1"}
    assert FcmSend.auths == ["Bearer owner"] * 3


def test_a_device_fcm_fails_for_counts_as_failed_not_unregistered(fcm: str) -> None:
    outcome = fcm_sender(fcm, PROJECT)([Device("broken-token"), Device("fid-1")], NOTE)
    assert outcome == PushOutcome(delivered=1, unregistered=(), failed=1)


def test_no_devices_no_request(fcm: str) -> None:
    assert fcm_sender(fcm, PROJECT)([], NOTE) == PushOutcome()
    assert FcmSend.auths == []


def test_an_sms_goes_from_the_number_with_the_api_key(twilio: str) -> None:
    send = twilio_sender(SmsSettings("+15550100", ACCOUNT, KEY, twilio), SECRET)
    assert send("+905551112233", "Your video visit starts soon.") is True
    assert TwilioMessages.sent == [
        {"To": "+905551112233", "From": "+15550100", "Body": "Your video visit starts soon."}
    ]


def test_an_sms_from_a_messaging_service(twilio: str) -> None:
    service = "MG" + "a" * 32
    assert twilio_sender(SmsSettings(service, ACCOUNT, KEY, twilio), SECRET)("+905551112233", "Hi") is True
    assert TwilioMessages.sent == [{"To": "+905551112233", "MessagingServiceSid": service, "Body": "Hi"}]


def test_a_number_twilio_refuses_is_a_permanent_no_and_a_server_error_raises(twilio: str) -> None:
    send = twilio_sender(SmsSettings("+15550100", ACCOUNT, KEY, twilio), SECRET)
    assert send("+15005550001", "Hi") is False
    with pytest.raises(TwilioRestException):
        send("+15005550009", "Hi")
    assert TwilioMessages.sent == []


def test_a_wrong_secret_is_not_taken_for_a_refused_number(twilio: str) -> None:
    send = twilio_sender(SmsSettings("+15550100", ACCOUNT, KEY, twilio), "w" * 32)
    # 401 is a 4xx: Twilio will not take it however often it is sent, so it is logged refused, not retried.
    assert send("+905551112233", "Hi") is False
    assert TwilioMessages.sent == []


def test_the_channels_a_deployment_has() -> None:
    plain = channels_for(NotifySettings(), "none", PROJECT)
    assert plain.push is not None
    assert plain.sms is None
    with_sms = NotifySettings(sms=SmsSettings("+15550100", ACCOUNT, KEY, ""))
    assert channels_for(with_sms, SECRET, PROJECT).sms is not None
    with pytest.raises(Misconfigured) as raised:
        channels_for(with_sms, "none", PROJECT)
    assert SMS_SECRET in raised.value.problem
