"""Ending a meeting when its visit leaves confirmed: which events end one, LiveKit's DeleteRoom and self-hosted
Jitsi's end-meeting endpoint, each against a loopback stand-in that checks the request as the real server does
(tests/standins.py), once per room, and the failures that must be retried."""

from __future__ import annotations

import http.server
import inspect
import json
import time
import urllib.error
from collections.abc import Iterator
from typing import Any, ClassVar

import jwt
import pytest
from conftest import HMAC_SECRET
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from livekit.api import TwirpError
from mockfirestore import MockFirestore
from standins import LiveKitRoomService, Prosody, asap_file_name, serve
from support.configs import params_for, video_config
from support.markers import CLIENT, MarkerStore, install

from telehealth import lifecycle
from telehealth.config import Settings, SigningKey, VideoConfig
from telehealth.errors import Misconfigured, ProviderCallFailed, ProviderMisconfigured
from telehealth.providers import build_settings, ends_meetings, jitsi
from telehealth.providers.base import Deployment
from telehealth.providers.jitsi import load_end_key
from telehealth.store.appointments import RoomWrite

KEY = "APImeetings"
ROOM = "r" * 32
APP_ID = "vpaas-magic-cookie-0123"
JITSI_APP = "clinic-jitsi"
KID = "telehealth/end-meeting-1"
NOW_TS = 1_800_000_000


def pem(key: Any) -> str:
    text: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return text.decode()


def public_pem(key: Any) -> bytes:
    text: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return text


END_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def doc(status: str, room: str | None = ROOM, kind: str = "video") -> dict[str, Any]:
    data: dict[str, Any] = {"type": kind, "status": status}
    if room:
        data["video"] = {"roomName": room}
    return data


@pytest.mark.parametrize(
    ("before", "after", "ended"),
    [
        pytest.param(doc("confirmed"), doc("cancelled"), ROOM, id="cancelled"),
        pytest.param(doc("confirmed"), doc("cancelled", None), ROOM, id="cancelled and withdrawn"),
        pytest.param(doc("confirmed"), doc("completed"), ROOM, id="completed (keeps its room as a record)"),
        pytest.param(doc("confirmed"), doc("confirmed", kind="in_person"), ROOM, id="made in person"),
        pytest.param(doc("confirmed"), None, ROOM, id="deleted"),
        pytest.param(doc("confirmed"), doc("confirmed"), None, id="still confirmed"),
        pytest.param(doc("confirmed"), doc("confirmed", "n" * 32), ROOM, id="room replaced"),
        pytest.param(doc("confirmed"), {**doc("confirmed"), "startTime": "moved"}, ROOM, id="moved to another time"),
        pytest.param(doc("pending", None), doc("cancelled", None), None, id="never had a room"),
        pytest.param(doc("cancelled"), doc("cancelled", None), None, id="the withdrawal's own write"),
    ],
)
def test_which_events_end_a_meeting(before: Any, after: Any, ended: str | None) -> None:
    assert lifecycle.ended_room(before, after) == ended


@pytest.fixture
def markers(monkeypatch: pytest.MonkeyPatch) -> MarkerStore:
    return install(monkeypatch)


# LiveKit -------------------------------------------------------------------------------------------------


@pytest.fixture
def livekit() -> Iterator[str]:
    LiveKitRoomService.reset(KEY, HMAC_SECRET, live={ROOM})
    with serve(LiveKitRoomService) as url:
        yield url


def livekit_settings(url: str, secret: str = HMAC_SECRET) -> Any:
    return build_settings(video_config(provider="livekit", domain="lk.clinic.test", app_id=KEY, server_api=url), secret)


def deployment(settings: Settings, end_key: str = "") -> Deployment:
    """A deployment with these settings whose only other secret is the end key."""
    return Deployment(
        config=lambda: settings.config,
        settings=lambda: settings,
        secret=lambda name: {"VIDEO_JITSI_END_KEY": end_key}[name],
    )


def test_a_livekit_meeting_is_ended_once_with_delete_room(livekit: str, markers: MarkerStore) -> None:
    settings = livekit_settings(livekit)

    assert lifecycle.end_meeting(CLIENT, ROOM, deployment(settings), NOW_TS) is True
    assert lifecycle.end_meeting(CLIENT, ROOM, deployment(settings), NOW_TS) is False  # redelivered: not twice

    assert LiveKitRoomService.deleted == [ROOM]
    assert LiveKitRoomService.content_types == ["application/protobuf"]
    assert markers.ended == {ROOM: "livekit"}


def test_a_livekit_room_the_server_does_not_hold_counts_as_ended(livekit: str, markers: MarkerStore) -> None:
    """Nobody joined (or everyone left): LiveKit answers not_found, which must not be retried for days."""
    LiveKitRoomService.live = set()
    assert lifecycle.end_meeting(CLIENT, ROOM, deployment(livekit_settings(livekit)), NOW_TS) is True
    assert LiveKitRoomService.refused == ["not_found"]
    assert markers.ended == {ROOM: "livekit"}


def test_a_livekit_refusal_raises_and_is_not_marked(livekit: str, markers: MarkerStore) -> None:
    wrong = livekit_settings(livekit, secret="another-hmac-secret-0123456789abcdef")
    with pytest.raises(TwirpError) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, deployment(wrong), NOW_TS)
    assert raised.value.code == "unauthenticated"
    assert LiveKitRoomService.deleted == []
    assert markers.ended == {}


def test_an_unreachable_livekit_raises_and_is_not_marked(markers: MarkerStore) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the client raises; the event is retried
        lifecycle.end_meeting(CLIENT, ROOM, deployment(livekit_settings("http://127.0.0.1:9")), NOW_TS)
    assert markers.ended == {}


# Self-hosted Jitsi ------------------------------------------------------------------------------------------


@pytest.fixture
def prosody() -> Iterator[str]:
    Prosody.reset(JITSI_APP, "conference.meet.clinic.test", {asap_file_name(KID): public_pem(END_KEY)}, {ROOM})
    with serve(Prosody) as url:
        yield url


def jitsi_settings(url: str = "http://127.0.0.1:9", **changes: Any) -> dict[str, Any]:
    return {"domain": "meet.clinic.test", "app_id": JITSI_APP, "server_api": url, "end_key_id": KID, **changes}


def jitsi_config(url: str = "http://127.0.0.1:9", **changes: Any) -> VideoConfig:
    return video_config(**jitsi_settings(url, **changes))


def end_jitsi(config: VideoConfig, key: Any = END_KEY, now: int | None = None) -> bool:
    when = int(time.time()) if now is None else now
    return lifecycle.end_meeting(CLIENT, ROOM, deployment(build_settings(config, HMAC_SECRET), pem(key)), when)


def test_a_jitsi_meeting_is_ended_once_through_prosodys_end_meeting(prosody: str, markers: MarkerStore) -> None:
    config = jitsi_config(prosody)
    assert ends_meetings(params_for(**jitsi_settings(prosody))) is True

    assert end_jitsi(config) is True
    assert end_jitsi(config) is False  # redelivered: not twice

    assert Prosody.ended == [ROOM]
    assert Prosody.statuses == [200]
    assert Prosody.bodies == [b""]  # an empty POST, with its Content-Length: 0
    assert [claims["room"] for claims in Prosody.claims] == [ROOM]
    assert markers.ended == {ROOM: "jitsi"}


def test_the_jitsi_system_token_is_exactly_what_prosody_checks() -> None:
    config = jitsi_config(jitsi_subject="clinic.test", jitsi_audience="jitsi-aud")
    token = jitsi.system_token(config, END_KEY, ROOM, NOW_TS)

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": KID, "typ": "JWT"}
    claims = jwt.decode(token, END_KEY.public_key(), algorithms=["RS256"], audience="jitsi-aud", leeway=10**10)
    assert claims == {
        "iss": JITSI_APP,
        "aud": "jitsi-aud",
        "sub": "clinic.test",
        "room": ROOM,
        "iat": NOW_TS,
        "nbf": NOW_TS,
        "exp": NOW_TS + 120,
    }


def test_the_conference_names_the_room_on_the_configured_muc(prosody: str, markers: MarkerStore) -> None:
    Prosody.muc = "muc.meet.jitsi"
    assert end_jitsi(jitsi_config(prosody, jitsi_muc="muc.meet.jitsi")) is True
    assert Prosody.ended == [ROOM]


@pytest.mark.parametrize(
    ("why", "change", "reason"),
    [
        pytest.param("the key server has another key", {"key": OTHER_KEY}, "Invalid signature", id="wrong key"),
        pytest.param(
            "Prosody accepts another issuer", {"issuer": "someone-else"}, "invalid 'iss' claim", id="wrong issuer"
        ),
        pytest.param(
            "the token is long expired", {"now": int(time.time()) - 10_000}, "Not acceptable by exp", id="expired"
        ),
        pytest.param("the token is not valid yet", {"now": int(time.time()) + 600}, "Not acceptable by nbf", id="nbf"),
        pytest.param(
            "the kid is not on the key server",
            {"kid": "telehealth/unknown"},
            "could not obtain public key",
            id="unknown kid",
        ),
        pytest.param(
            "the end-meeting host has an app_secret (the old README set-up)",
            {"app_secret": HMAC_SECRET},
            "Invalid or incorrect alg",
            id="HS256 host",
        ),
    ],
)
def test_a_jitsi_refusal_raises_names_the_settings_and_is_not_marked(
    prosody: str, markers: MarkerStore, why: str, change: dict[str, Any], reason: str
) -> None:
    if "issuer" in change:
        Prosody.accepted_issuers = (change["issuer"],)
    Prosody.app_secret = change.get("app_secret")
    config = jitsi_config(prosody, end_key_id=change.get("kid", KID))
    now = change.get("now", int(time.time()))
    with pytest.raises(ProviderMisconfigured) as raised:
        end_jitsi(config, change.get("key", END_KEY), now)
    assert raised.value.status == 401, why
    assert raised.value.problem == jitsi.JITSI_REFUSED_401
    assert Prosody.reasons == [reason]
    assert Prosody.live == {ROOM}  # the meeting goes on
    assert markers.ended == {}


def test_prosodys_router_404_is_not_an_ended_meeting(prosody: str, markers: MarkerStore) -> None:
    """The module did not load (net.url missing) or the host is unknown: the room is live, the event retried."""
    Prosody.module_loaded = False
    with pytest.raises(ProviderMisconfigured) as raised:
        end_jitsi(jitsi_config(prosody))
    assert raised.value.status == 404
    assert "http_default_host" in raised.value.problem
    assert "net.url" in raised.value.problem
    assert Prosody.live == {ROOM}
    assert markers.ended == {}


def test_any_audience_is_accepted_by_default_but_one_is_needed(prosody: str, markers: MarkerStore) -> None:
    """jitsi-meet's token util: asap_accepted_audiences defaults to ``*``; the claim itself is still required."""
    assert end_jitsi(jitsi_config(prosody, jitsi_audience="anything-at-all")) is True
    assert Prosody.claims[0]["aud"] == "anything-at-all"


def test_a_jitsi_room_prosody_does_not_hold_counts_as_ended(prosody: str, markers: MarkerStore) -> None:
    Prosody.live = set()
    assert end_jitsi(jitsi_config(prosody)) is True
    assert Prosody.statuses == [404]
    assert markers.ended == {ROOM: "jitsi"}


class Redirector(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect to a second server, which records what reaches it."""

    target: ClassVar[str] = ""
    reached: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", f"{Redirector.target}/end-meeting")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_a_redirect_is_a_failure_and_the_token_goes_nowhere_else(prosody: str, markers: MarkerStore) -> None:
    Redirector.target = prosody
    with serve(Redirector) as redirecting, pytest.raises(ProviderCallFailed) as raised:
        end_jitsi(jitsi_config(redirecting))
    assert raised.value.status == 307
    assert Prosody.tokens == []  # the system token never reached the other server
    assert markers.ended == {}


def test_a_jitsi_server_error_raises(markers: MarkerStore) -> None:
    class Failing(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    with serve(Failing) as url, pytest.raises(ProviderCallFailed) as raised:
        end_jitsi(jitsi_config(url))
    assert raised.value.status == 503
    assert str(raised.value) == "the provider answered 503"
    assert markers.ended == {}


class Silent(http.server.BaseHTTPRequestHandler):
    """Takes the request and answers only after a while."""

    def do_POST(self) -> None:
        time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_a_jitsi_server_that_does_not_answer_in_time_raises(
    markers: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request has a deadline (the trigger's own is 60 s): a hung Prosody fails the attempt, to be retried."""
    monkeypatch.setattr(jitsi, "REQUEST_TIMEOUT_SECONDS", 0.2)
    with serve(Silent) as url, pytest.raises(TimeoutError):
        end_jitsi(jitsi_config(url))
    assert markers.ended == {}


def test_an_unreachable_jitsi_raises_and_is_not_marked(markers: MarkerStore) -> None:
    with pytest.raises(urllib.error.URLError):
        end_jitsi(jitsi_config("http://127.0.0.1:9"))
    assert markers.ended == {}


def test_jitsi_without_an_end_key_id_ends_no_meetings() -> None:
    assert ends_meetings(params_for(**jitsi_settings(end_key_id=""))) is False


def test_a_provider_without_an_end_api_is_left_alone(markers: MarkerStore) -> None:
    """JaaS has no API to end a meeting (Twilio and Zoom do: tests/unit/test_parity_ends.py)."""
    provider = "jaas"
    config = video_config(provider="jaas", app_id=APP_ID, key_id="k")
    assert ends_meetings({"VIDEO_PROVIDER": provider}) is False

    class NoSettings:
        def __init__(self) -> None:
            self.config = config

    no_key = Deployment(
        config=lambda: config, settings=lambda: NoSettings(), secret=lambda name: pytest.fail(f"read {name}")
    )  # type: ignore[arg-type, return-value]
    assert lifecycle.end_meeting(CLIENT, ROOM, no_key, NOW_TS) is False
    assert markers.ended == {}


def test_only_an_hmac_signing_key_serves_livekits_server_api() -> None:
    assert (
        build_settings(
            video_config(provider="livekit", domain="lk.test", app_id=KEY), HMAC_SECRET
        ).signing_key.hmac_secret()
        == HMAC_SECRET
    )
    with pytest.raises(Misconfigured) as raised:
        SigningKey("RS256", END_KEY).hmac_secret()
    assert raised.value.problem == "VIDEO_SIGNING_KEY must be an HMAC secret for this provider, not an RSA key"


# Configuration ---------------------------------------------------------------------------------------------


def test_the_muc_defaults_to_conference_dot_the_jitsi_sub() -> None:
    assert jitsi_config().options.muc == "conference.meet.clinic.test"
    assert jitsi_config(domain="meet.clinic.test:8443").options.muc == "conference.meet.clinic.test"
    assert jitsi_config(jitsi_subject="xmpp.clinic.test").options.muc == "conference.xmpp.clinic.test"
    assert jitsi_config(jitsi_muc="muc.meet.jitsi").options.muc == "muc.meet.jitsi"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"provider": "livekit", "app_id": KEY},
            "VIDEO_JITSI_END_KEY_ID is for provider jitsi only",
            id="livekit with a jitsi key id",
        ),
        pytest.param(
            {"end_key_id": "key id"},
            "VIDEO_JITSI_END_KEY_ID must be 1-255 of A-Z a-z 0-9 . _ : / -",
            id="space in the kid",
        ),
        pytest.param(
            {"end_key_id": "k" * 256},
            "VIDEO_JITSI_END_KEY_ID must be 1-255 of A-Z a-z 0-9 . _ : / -",
            id="256-character kid",
        ),
        pytest.param(
            {"jitsi_muc": "conference.meet.clinic.test:5280"},
            "VIDEO_JITSI_MUC must be the rooms' MUC host name (conference.<XMPP domain>)",
            id="muc with a port",
        ),
        pytest.param(
            {"jitsi_muc": "Conference.Meet"},
            "VIDEO_JITSI_MUC must be the rooms' MUC host name (conference.<XMPP domain>)",
            id="uppercase muc",
        ),
    ],
)
def test_each_end_meeting_config_error_is_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(Misconfigured) as raised:
        jitsi_config(**changes)
    assert raised.value.problem == message


def test_edge_key_ids_and_an_unused_muc_are_accepted() -> None:
    assert jitsi_config(end_key_id="k" * 255).options.end_key_id == "k" * 255
    assert ends_meetings(params_for(**jitsi_settings(end_key_id="a.b_c:d/e-f"))) is True
    # Without end-meeting the MUC is never used, so it is not checked.
    assert jitsi_config(end_key_id="", jitsi_muc="Not A Host").options.muc == "Not A Host"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        pytest.param("none", "VIDEO_JITSI_END_KEY is not an unencrypted PEM private key", id="placeholder"),
        pytest.param(
            pem(ec.generate_private_key(ec.SECP256R1())), "VIDEO_JITSI_END_KEY is not an RSA key", id="EC key"
        ),
        pytest.param(
            pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "VIDEO_JITSI_END_KEY is a 1024-bit RSA key, at least 2048 needed",
            id="1024-bit",
        ),
    ],
)
def test_an_unusable_end_key_is_named_and_never_quoted(secret: str, message: str) -> None:
    with pytest.raises(Misconfigured) as raised:
        load_end_key(secret)
    assert raised.value.problem.startswith(message)
    assert secret not in raised.value.problem


def test_the_end_key_is_parsed_once() -> None:
    text = pem(END_KEY)
    assert load_end_key(text) is load_end_key(text)


# Through the trigger ----------------------------------------------------------------------------------------


class Snapshot:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data, self.update_time = data, None

    def to_dict(self) -> dict[str, Any]:
        return self._data


def cancellation(before: dict[str, Any], after: dict[str, Any]) -> Any:
    class Event:
        params: ClassVar[dict[str, str]] = {"appointmentId": "a1"}

        class data:
            pass

    Event.data.before = Snapshot(before)  # type: ignore[attr-defined]
    Event.data.after = Snapshot(after)  # type: ignore[attr-defined]
    return Event()


@pytest.fixture
def jitsi_trigger(monkeypatch: pytest.MonkeyPatch, prosody: str) -> MockFirestore:
    """main.assign_video_room on a Jitsi deployment that ends meetings at the stand-in, with mock-firestore."""
    import main

    values = {
        "VIDEO_PROVIDER": "jitsi",
        "VIDEO_DOMAIN": "meet.clinic.test",
        "VIDEO_APP_ID": JITSI_APP,
        "VIDEO_SERVER_API_URL": prosody,
        "VIDEO_JITSI_END_KEY_ID": KID,
        "VIDEO_SIGNING_KEY": HMAC_SECRET,
        "VIDEO_JITSI_END_KEY": pem(END_KEY),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    db = MockFirestore()
    monkeypatch.setitem(main._clients, "db", db)
    monkeypatch.setattr(
        lifecycle.appointments, "apply_room_lifecycle", lambda *_a: RoomWrite(main.Action.WITHDRAW, "event")
    )
    return db


def run_trigger(before: dict[str, Any], after: dict[str, Any]) -> None:
    import main

    inspect.unwrap(main.assign_video_room)(cancellation(before, after))


def test_the_trigger_ends_a_cancelled_visits_jitsi_meeting_once(
    jitsi_trigger: MockFirestore, capsys: pytest.CaptureFixture[str]
) -> None:
    run_trigger(doc("confirmed"), doc("cancelled"))
    run_trigger(doc("confirmed"), doc("cancelled"))  # the same event again

    assert Prosody.ended == [ROOM]
    assert Prosody.statuses == [200]
    marker = jitsi_trigger.collection("videoMeetingsEnded").document(ROOM).get()
    assert marker.to_dict()["provider"] == "jitsi"
    assert "meeting ended at the provider" in capsys.readouterr().out


def log_lines(logs: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (logs.out + logs.err).splitlines() if line.startswith("{")]


def test_the_trigger_raises_for_a_retry_and_names_the_settings_when_prosody_refuses(
    jitsi_trigger: MockFirestore, capsys: pytest.CaptureFixture[str]
) -> None:
    Prosody.public_keys = {}  # the key server lost the key: every token is refused
    with pytest.raises(ProviderCallFailed):
        run_trigger(doc("confirmed"), doc("cancelled"))
    logs = capsys.readouterr()
    assert {
        "severity": "ERROR",
        "message": "ending the meeting failed; the event will be retried: video settings unusable",
        "appointmentId": "a1",
        "problem": jitsi.JITSI_REFUSED_401,
    } in log_lines(logs)
    assert Prosody.tokens
    assert Prosody.tokens[0] not in logs.out + logs.err
    assert not jitsi_trigger.collection("videoMeetingsEnded").document(ROOM).get().exists


def test_the_trigger_retries_and_names_the_settings_on_prosodys_router_404(
    jitsi_trigger: MockFirestore, capsys: pytest.CaptureFixture[str]
) -> None:
    Prosody.module_loaded = False
    Prosody.live = {ROOM}
    with pytest.raises(ProviderMisconfigured):
        run_trigger(doc("confirmed"), doc("cancelled"))
    problems = [line.get("problem") for line in log_lines(capsys.readouterr())]
    assert jitsi.JITSI_NOT_THE_MODULE.format(status=404) in problems
    assert Prosody.live == {ROOM}
    assert not jitsi_trigger.collection("videoMeetingsEnded").document(ROOM).get().exists


def test_the_trigger_leaves_a_still_confirmed_visit_alone(jitsi_trigger: MockFirestore) -> None:
    run_trigger(doc("confirmed"), doc("confirmed"))
    assert Prosody.statuses == []


def test_the_trigger_without_end_meeting_never_reads_the_end_key(
    jitsi_trigger: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_JITSI_END_KEY_ID", "")
    monkeypatch.setenv("VIDEO_JITSI_END_KEY", "none")
    monkeypatch.setenv("VIDEO_SIGNING_KEY", "short")  # unusable, and not needed here
    run_trigger(doc("confirmed"), doc("cancelled"))
    assert Prosody.statuses == []


# scripts/jitsi-end-key ---------------------------------------------------------------------------------------


def test_the_key_script_makes_a_pair_prosody_and_the_backend_agree_on(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import jitsi_end_key

    assert jitsi_end_key.main(["--kid", KID, "--out", str(tmp_path)]) == 0
    private = (tmp_path / "end-key.pem").read_text()
    public = (tmp_path / asap_file_name(KID)).read_bytes()
    assert (tmp_path / "end-key.pem").stat().st_mode & 0o777 == 0o600
    token = jitsi.system_token(jitsi_config(), load_end_key(private), ROOM, int(time.time()))
    assert jwt.decode(token, public, algorithms=["RS256"], audience="jitsi")["room"] == ROOM
    out = capsys.readouterr().out
    assert f"VIDEO_JITSI_END_KEY_ID={KID}" in out
    assert private not in out

    assert jitsi_end_key.main(["--kid", KID, "--out", str(tmp_path)]) == 1  # never overwritten
    assert (tmp_path / "end-key.pem").read_text() == private
    assert jitsi_end_key.main(["--kid", "has space", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


# Which deployments end meetings, from the raw params, and what the trigger does when their settings break -----


@pytest.mark.parametrize(
    ("provider", "key_id", "ends"),
    [
        pytest.param("livekit", "", True, id="livekit always"),
        pytest.param(" LiveKit ", "", True, id="livekit, as the param may be written"),
        pytest.param("jitsi", "k", True, id="jitsi with a key id"),
        pytest.param(" JITSI ", " k ", True, id="jitsi, as the params may be written"),
        pytest.param("jitsi", "", False, id="jitsi without a key id"),
        pytest.param("jitsi", "   ", False, id="jitsi with a blank key id"),
        pytest.param("jaas", "k", False, id="jaas has no API"),
        pytest.param("zoom", "", False, id="zoom without Video SDK API credentials"),
        pytest.param("twilio", "", True, id="twilio always (its API key is the token's issuer)"),
    ],
)
def test_which_deployments_end_meetings(provider: str, key_id: str, ends: bool) -> None:
    assert ends_meetings({"VIDEO_PROVIDER": provider, "VIDEO_JITSI_END_KEY_ID": key_id}) is ends


def test_a_withdrawal_on_a_deployment_that_ends_no_meetings_needs_no_valid_setting(
    jitsi_trigger: MockFirestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_JITSI_END_KEY_ID", "")
    monkeypatch.setenv("VIDEO_DOMAIN", "Not A Host")  # every join fails closed on this; the withdrawal does not
    run_trigger(doc("confirmed"), doc("cancelled"))
    assert Prosody.statuses == []


def test_an_unusable_end_key_is_named_in_the_log_and_retried(
    jitsi_trigger: MockFirestore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEO_JITSI_END_KEY", "none")
    with pytest.raises(Misconfigured):
        run_trigger(doc("confirmed"), doc("cancelled"))
    logs = capsys.readouterr()
    lines = [json.loads(line) for line in (logs.out + logs.err).splitlines() if line.startswith("{")]
    assert {
        "severity": "ERROR",
        "message": "ending the meeting failed; the event will be retried: video settings unusable",
        "appointmentId": "a1",
        "problem": "VIDEO_JITSI_END_KEY is not an unencrypted PEM private key (Jitsi's end-meeting token is RS256)",
    } in lines
    assert Prosody.statuses == []
    assert not jitsi_trigger.collection("videoMeetingsEnded").document(ROOM).get().exists
