"""The backend's own join tokens and end-meeting requests against a real Prosody 0.12 running jitsi-meet's own
plugins (mod_auth_token, token_verification, presence_identity, mod_muc_end_meeting; commit 347cc32).

Tokens come from functions/telehealth (access.decide_join, tokens.participant_for, tokens.issue_token), the
end-meeting request from providers.jitsi.end. Occupants are real XMPP sessions over BOSH.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import StartProsody, pem, public_pem, rsa_key
from prosody_harness import (
    APP_ID,
    DOMAIN,
    END_HOST,
    JAAS_DOMAIN,
    JAAS_MUC,
    MUC,
    MUC_USER_NS,
    AsapKeys,
    Bosh,
    LoginRefused,
    ProsodyServer,
    asap_file_name,
    destroyed,
    identity_of,
    local,
    redact,
)
from support.configs import video_config

from telehealth.access import decide_join
from telehealth.config import VideoConfig
from telehealth.errors import ProviderMisconfigured
from telehealth.providers import build_settings, jitsi
from telehealth.providers.base import Deployment
from telehealth.rooms import new_room_name
from telehealth.tokens import issue_token, participant_for

KID = "telehealth/end-meeting-tier"
JAAS_APP = "vpaas-magic-cookie-tier0123"
JAAS_KEY_ID = "tier-key-1"
END_KEY = rsa_key()
OTHER_KEY = rsa_key()
JAAS_KEY = rsa_key()
DOCTOR_ENTRY = {"displayName": "Dr. Tier", "active": True}
PATIENT_CLAIMS = {"name": "Pat Tier"}


@pytest.fixture(scope="module")
def prosody(start_prosody: StartProsody) -> ProsodyServer:
    """The working set-up (docs/jitsi-prosody.md): HS256 joins on the main host, RS256 end-meeting tokens
    checked by a second VirtualHost named by the global muc_mapper_domain_base and http_default_host."""
    AsapKeys.keys[asap_file_name(KID)] = public_pem(END_KEY)
    AsapKeys.keys[asap_file_name(f"{JAAS_APP}/{JAAS_KEY_ID}")] = public_pem(JAAS_KEY)
    server = start_prosody()
    server.wait_for_log(rf"Serving 'muc_end_meeting' at http://{END_HOST}:")
    return server


def jitsi_settings(secret: str) -> Any:
    return build_settings(video_config(provider="jitsi", domain=DOMAIN, app_id=APP_ID), secret)


def jaas_settings() -> Any:
    return build_settings(video_config(provider="jaas", app_id=JAAS_APP, key_id=JAAS_KEY_ID), pem(JAAS_KEY))


def end_config(server: ProsodyServer, **changes: Any) -> VideoConfig:
    values: dict[str, Any] = {
        "provider": "jitsi",
        "domain": DOMAIN,
        "app_id": APP_ID,
        "server_api": server.url,
        "end_key_id": KID,
        **changes,
    }
    return video_config(**values)


def join_token(settings: Any, role: str, room: str, now: int | None = None) -> str:
    """The token the backend's join hands out: its own decision, participant and signing code."""
    at = int(time.time()) if now is None else now
    start = dt.datetime.fromtimestamp(at, dt.UTC) - dt.timedelta(minutes=5)
    appointment = {
        "type": "video",
        "status": "confirmed",
        "video": {"roomName": room},
        "startTime": start,
        "endTime": start + dt.timedelta(minutes=30),
    }
    config = settings.config
    grant = decide_join(appointment, role, at, config)  # type: ignore[arg-type]
    who = participant_for(grant, PATIENT_CLAIMS if role == "guest" else {}, DOCTOR_ENTRY, config)
    return issue_token(grant, who, settings)


@pytest.fixture
def clients() -> Iterator[list[Bosh]]:
    opened: list[Bosh] = []
    yield opened
    for client in opened:
        client.close()


def occupant(server: ProsodyServer, clients: list[Bosh], domain: str, token: str, room_jid: str, nick: str) -> Bosh:
    client = Bosh(server.url, domain, token)
    clients.append(client)
    client.login()
    joined = client.join(room_jid, nick)
    assert joined.get("type") != "error", redact(str(joined.attrib))
    return client


def end(server: ProsodyServer, room: str, key: Any = END_KEY, now: int | None = None, **changes: Any) -> None:
    at = int(time.time()) if now is None else now
    config = end_config(server, **changes)
    deployment = Deployment(
        config=lambda: config,
        settings=lambda: pytest.fail("ending a Jitsi meeting needs no signing key"),
        secret=lambda name: {"VIDEO_JITSI_END_KEY": pem(key)}[name],
    )
    jitsi.end(room, deployment, at)


# Join tokens ---------------------------------------------------------------------------------------------------


def test_both_roles_hs256_tokens_log_in_and_join_one_room(
    prosody: ProsodyServer, hmac_secret: str, clients: list[Bosh]
) -> None:
    settings = jitsi_settings(hmac_secret)
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    doctor = occupant(prosody, clients, DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")
    patient = occupant(prosody, clients, DOMAIN, join_token(settings, "guest", room), room_jid, "patient")

    # presence_identity puts each token's context.user into the presence the other one sees.
    seen_by_patient = patient.wait_for(lambda e: e.get("from") == f"{room_jid}/doctor")
    seen_by_doctor = doctor.wait_for(lambda e: e.get("from") == f"{room_jid}/patient")
    assert identity_of(seen_by_patient) == {
        "id": "doctor",
        "name": "Dr. Tier",
        "email": "",
        "avatar": "",
        "moderator": "true",
    }
    assert identity_of(seen_by_doctor)["moderator"] == "false"
    assert identity_of(seen_by_doctor)["name"] == "Pat Tier · patient"  # a self-chosen name carries its role


def test_both_roles_rs256_jaas_tokens_from_the_key_server_log_in_and_join(
    prosody: ProsodyServer, clients: list[Bosh]
) -> None:
    """RS256 with a key server: the JaaS-format tokens (kid "<AppID>/<key id>", iss "chat") on a VirtualHost
    with asap_key_server; Prosody fetches the public key by the kid's sha256."""
    settings = jaas_settings()
    room = new_room_name()
    room_jid = f"{room}@{JAAS_MUC}"
    occupant(prosody, clients, JAAS_DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")
    patient = occupant(prosody, clients, JAAS_DOMAIN, join_token(settings, "guest", room), room_jid, "patient")
    assert identity_of(patient.wait_for(lambda e: e.get("from") == f"{room_jid}/doctor"))["moderator"] == "true"
    assert asap_file_name(f"{JAAS_APP}/{JAAS_KEY_ID}") in AsapKeys.fetched


def test_a_patient_token_for_another_room_is_refused_at_the_door(
    prosody: ProsodyServer, hmac_secret: str, clients: list[Bosh]
) -> None:
    settings = jitsi_settings(hmac_secret)
    patient = Bosh(prosody.url, DOMAIN, join_token(settings, "guest", new_room_name()))
    clients.append(patient)
    patient.login()
    refused = patient.join(f"{new_room_name()}@{MUC}", "patient")
    assert refused.get("type") == "error"
    assert any(local(item.tag) == "not-allowed" for item in refused.iter())


def test_a_join_token_signed_with_another_secret_is_refused_at_login(prosody: ProsodyServer) -> None:
    token = join_token(jitsi_settings("another-secret-" + "x" * 40), "moderator", new_room_name())
    mark = prosody.mark()
    with pytest.raises(LoginRefused) as refused:
        Bosh(prosody.url, DOMAIN, token).login()
    assert refused.value.condition == "not-allowed"
    prosody.wait_for_log("Error verifying token err:not-allowed, reason:Invalid signature", since=mark)


def test_an_expired_join_token_is_refused_at_login(prosody: ProsodyServer, hmac_secret: str) -> None:
    an_hour_ago = int(time.time()) - 3600
    token = join_token(jitsi_settings(hmac_secret), "guest", new_room_name(), now=an_hour_ago)
    mark = prosody.mark()
    with pytest.raises(LoginRefused):
        Bosh(prosody.url, DOMAIN, token).login()
    prosody.wait_for_log("reason:Not acceptable by exp", since=mark)


def test_without_jicofo_the_first_occupant_owns_the_room_whatever_the_token_says(
    prosody: ProsodyServer, hmac_secret: str, clients: list[Bosh]
) -> None:
    """Why a patient token cannot be refused "as not a moderator" by these plugins: none of them reads
    context.user.moderator. Moderator rights come from Jicofo (enable-auto-owner=false) or jitsi-contrib's
    token_affiliation; plain Prosody makes the room's creator its owner, here the patient."""
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    patient = Bosh(prosody.url, DOMAIN, join_token(jitsi_settings(hmac_secret), "guest", room))
    clients.append(patient)
    patient.login()
    joined = patient.join(room_jid, "patient")
    item = next(joined.iter(f"{{{MUC_USER_NS}}}item"))
    assert (item.get("affiliation"), item.get("role")) == ("owner", "moderator")


# Ending meetings -------------------------------------------------------------------------------------------------


def test_end_meeting_destroys_a_live_room_with_its_occupants(
    prosody: ProsodyServer, hmac_secret: str, clients: list[Bosh]
) -> None:
    settings = jitsi_settings(hmac_secret)
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    doctor = occupant(prosody, clients, DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")
    patient = occupant(prosody, clients, DOMAIN, join_token(settings, "guest", room), room_jid, "patient")
    mark = prosody.mark()

    end(prosody, room)  # returns: 200 with the module's empty body

    prosody.wait_for_log(rf"Destroy room jid {room_jid}", since=mark)
    for client in (doctor, patient):
        gone = client.wait_for(destroyed)
        assert gone.get("from", "").startswith(room_jid)
    # Ended: the same request again finds no room (the module's own 404), which also counts as done.
    mark = prosody.mark()
    end(prosody, room)
    prosody.wait_for_log("Room not found", since=mark)


def test_end_meeting_for_a_room_nobody_is_in_is_the_modules_404(prosody: ProsodyServer) -> None:
    mark = prosody.mark()
    end(prosody, new_room_name())
    prosody.wait_for_log("Room not found", since=mark)


def raw_end_meeting(server: ProsodyServer, room: str, token: str, host: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", **({"Host": host} if host else {})}
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{server.url}/end-meeting?conference={room}@{MUC}", data=b"", method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_modules_answers_have_empty_bodies(prosody: ProsodyServer) -> None:
    """What classify_end_meeting_answer relies on: 404 (no room) and 401 (refused) with nothing in the body."""
    token = jitsi.system_token(end_config(prosody), END_KEY, new_room_name(), int(time.time()))
    assert raw_end_meeting(prosody, new_room_name(), token) == (404, b"")
    assert raw_end_meeting(prosody, new_room_name(), token + "x") == (401, b"")
    assert raw_end_meeting(prosody, new_room_name(), "") == (401, b"")  # "Bearer " alone: no token


@pytest.mark.parametrize(
    ("why", "change", "reason"),
    [
        pytest.param("signed with a key the key server does not have", {"key": OTHER_KEY}, "Invalid signature"),
        pytest.param("expired", {"now": int(time.time()) - 3600}, "Not acceptable by exp"),
        pytest.param("a kid the key server does not know", {"end_key_id": "telehealth/unknown"}, "public key"),
        pytest.param("another issuer than the end host's app_id", {"app_id": "someone-else"}, "invalid 'iss'"),
    ],
    ids=["wrong key", "expired", "unknown kid", "wrong issuer"],
)
def test_a_refused_end_meeting_raises_by_name_and_the_meeting_goes_on(
    prosody: ProsodyServer, hmac_secret: str, clients: list[Bosh], why: str, change: dict[str, Any], reason: str
) -> None:
    settings = jitsi_settings(hmac_secret)
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    doctor = occupant(prosody, clients, DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")
    mark = prosody.mark()

    key, now = change.pop("key", END_KEY), change.pop("now", None)
    with pytest.raises(ProviderMisconfigured) as raised:
        end(prosody, room, key=key, now=now, **change)

    assert raised.value.status == 401, why
    assert raised.value.problem == jitsi.JITSI_REFUSED_401
    prosody.wait_for_log(rf"not a valid token .*{reason}", since=mark)
    # The meeting went on: someone joining now meets the doctor, and the right request still ends it.
    patient = occupant(prosody, clients, DOMAIN, join_token(settings, "guest", room), room_jid, "patient")
    patient.wait_for(lambda e: e.get("from") == f"{room_jid}/doctor" and e.get("type") != "unavailable")
    end(prosody, room)
    doctor.wait_for(destroyed)


def test_any_audience_is_accepted_and_the_room_claim_is_not_compared(
    prosody: ProsodyServer, clients: list[Bosh]
) -> None:
    """What the module checks (README correction): iss, a present aud (any value: asap_accepted_audiences
    defaults to "*"), a present room claim, but never that the room claim names the conference."""
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    settings = jitsi_settings(prosody.layout.app_secret)
    doctor = occupant(prosody, clients, DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")
    other_room_token = jitsi.system_token(
        end_config(prosody, jitsi_audience="not-jitsi-at-all"), END_KEY, new_room_name(), int(time.time())
    )
    assert raw_end_meeting(prosody, room, other_room_token) == (200, b"")
    doctor.wait_for(destroyed)


# Set-ups that do not work, as the backend now reports them --------------------------------------------------------


def test_the_readmes_old_setup_refuses_the_system_token_as_incorrect_alg(
    start_prosody: StartProsody, hmac_secret: str, clients: list[Bosh]
) -> None:
    """muc_mapper_domain_base naming the HS256 main VirtualHost (the README's old step 3): HS256 joins work,
    the RS256 end-meeting token gets 401 "Invalid or incorrect alg", and the backend raises it by name."""
    server = start_prosody(end_meeting_checker="main-host", jaas_host=False)
    settings = jitsi_settings(hmac_secret)
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    doctor = occupant(server, clients, DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")
    mark = server.mark()
    with pytest.raises(ProviderMisconfigured) as raised:
        end(server, room)
    assert raised.value.status == 401
    assert "Invalid or incorrect alg" in raised.value.problem
    server.wait_for_log("not a valid token not-allowed Invalid or incorrect alg", since=mark)
    patient = occupant(server, clients, DOMAIN, join_token(settings, "guest", room), room_jid, "patient")
    patient.wait_for(lambda e: e.get("from") == f"{room_jid}/doctor")  # the meeting went on
    assert not any(destroyed(item) for item in doctor.inbox)


@pytest.mark.parametrize(
    ("changes", "log"),
    [
        pytest.param({"net_url": False}, "module 'net.url' not found", id="net.url missing: the module never loads"),
        pytest.param({"http_default_host": False}, None, id="no http_default_host: Unknown host"),
    ],
)
def test_prosodys_router_404_is_not_an_ended_meeting(
    start_prosody: StartProsody,
    hmac_secret: str,
    clients: list[Bosh],
    changes: dict[str, Any],
    log: str | None,
) -> None:
    server = start_prosody(jaas_host=False, **changes)
    if log:
        server.wait_for_log(log)
    settings = jitsi_settings(hmac_secret)
    room = new_room_name()
    room_jid = f"{room}@{MUC}"
    occupant(server, clients, DOMAIN, join_token(settings, "moderator", room), room_jid, "doctor")

    token = jitsi.system_token(end_config(server), END_KEY, room, int(time.time()))
    status, page = raw_end_meeting(server, room, token)
    assert status == 404
    assert page.lstrip().startswith(b"<!DOCTYPE html>")
    if not log:
        assert b"Unknown host: 127.0.0.1" in page
        # The other way to reach the module: a proxy that sends the end-meeting VirtualHost's name as Host.
        assert raw_end_meeting(server, new_room_name(), token, host=END_HOST) == (404, b"")

    with pytest.raises(ProviderMisconfigured) as raised:
        end(server, room)
    assert raised.value.status == 404
    assert "net.url" in raised.value.problem
    assert "http_default_host" in raised.value.problem
    patient = occupant(server, clients, DOMAIN, join_token(settings, "guest", room), room_jid, "patient")
    patient.wait_for(lambda e: e.get("from") == f"{room_jid}/doctor")  # the room is still live
