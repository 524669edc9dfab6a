"""Ending Twilio rooms and Zoom Video SDK sessions when a visit leaves confirmed, against loopback stand-ins of
their REST APIs (tests/standins.py) that check each request as the real API does; once per room; the failures
that must be retried; and through the real trigger, main.assign_video_room, on mock-firestore."""

from __future__ import annotations

import datetime as dt
import http.server
import inspect
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import jwt
import pytest
from conftest import HMAC_SECRET
from mockfirestore import MockFirestore
from standins import TwilioRooms, ZoomVideoSdk, serve
from support import samples
from support.configs import params_for, video_config
from support.markers import CLIENT, MarkerStore, install
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from telehealth import lifecycle
from telehealth.errors import Misconfigured, ProviderCallFailed
from telehealth.providers import build_settings, ends_meetings, rest, twilio, zoom
from telehealth.providers.base import Deployment
from telehealth.store.appointments import RoomWrite

ROOM = "r" * 32
OTHER_ROOM = "o" * 32
ZOOM_API_KEY = "zoomApiKey_0123"
ZOOM_API_SECRET = "zoom-api-secret-0123456789abcdefghij"  # 36 characters, as Zoom's are


def now_ts() -> int:
    """The clock when the call is made: Zoom's API token lives 120 s, and a time taken at import had passed
    that when the unit suite ran slowly (seen under load: every Zoom test answered 401)."""
    return int(time.time())


@pytest.fixture
def markers(monkeypatch: pytest.MonkeyPatch) -> MarkerStore:
    return install(monkeypatch)


# Twilio ------------------------------------------------------------------------------------------------------


@pytest.fixture
def twilio_api() -> Iterator[str]:
    TwilioRooms.reset(samples.TWILIO_API_KEY, HMAC_SECRET, samples.TWILIO_ACCOUNT, {ROOM: samples.ROOM_SID})
    with serve(TwilioRooms) as url:
        yield url


def twilio_deployment(url: str, secret: str = HMAC_SECRET) -> Deployment:
    config = video_config(
        provider="twilio",
        domain="visit.clinic.test",
        app_id=samples.TWILIO_API_KEY,
        account_id=samples.TWILIO_ACCOUNT,
        server_api=url,
    )
    settings = build_settings(config, secret)
    return Deployment(
        config=lambda: config, settings=lambda: settings, secret=lambda name: pytest.fail(f"read secret {name}")
    )


def test_a_twilio_room_is_completed_once(twilio_api: str, markers: MarkerStore) -> None:
    assert lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment(twilio_api), now_ts()) is True
    assert lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment(twilio_api), now_ts()) is False  # redelivered

    assert TwilioRooms.completed == [ROOM]
    assert TwilioRooms.statuses == [200]
    assert TwilioRooms.accepts == ["application/json"]
    assert markers.ended == {ROOM: "twilio"}


def test_the_stand_in_accepts_what_twilios_own_client_sends(twilio_api: str) -> None:
    """The stand-in is checked against the twilio package: its client completes a room there, and is refused
    with the wrong secret, so the stand-in checks what Twilio's API checks."""
    client = Client(samples.TWILIO_API_KEY, HMAC_SECRET, samples.TWILIO_ACCOUNT)
    client.video.base_url = twilio_api
    room = client.video.v1.rooms(ROOM).update(status="completed")
    assert (room.unique_name, room.status) == (ROOM, "completed")
    wrong = Client(samples.TWILIO_API_KEY, "another-api-key-secret-0123456789ab", samples.TWILIO_ACCOUNT)
    wrong.video.base_url = twilio_api
    TwilioRooms.live[OTHER_ROOM] = "RM" + "77" * 16
    with pytest.raises(TwilioRestException) as refused:
        wrong.video.v1.rooms(OTHER_ROOM).update(status="completed")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    assert TwilioRooms.completed == [ROOM]


def test_a_twilio_room_can_be_completed_by_its_sid_too(twilio_api: str, markers: MarkerStore) -> None:
    assert lifecycle.end_meeting(CLIENT, samples.ROOM_SID, twilio_deployment(twilio_api), now_ts()) is True
    assert TwilioRooms.completed == [ROOM]


def test_a_twilio_room_not_in_progress_counts_as_ended(twilio_api: str, markers: MarkerStore) -> None:
    """Never created (nobody joined) or already completed: Twilio's 404 (code 20404) must not retry for days."""
    TwilioRooms.live = {}
    assert lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment(twilio_api), now_ts()) is True
    assert TwilioRooms.statuses == [404]
    assert markers.ended == {ROOM: "twilio"}


def test_a_twilio_refusal_raises_names_the_settings_and_is_not_marked(twilio_api: str, markers: MarkerStore) -> None:
    wrong = twilio_deployment(twilio_api, secret="another-api-key-secret-0123456789ab")
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, wrong, now_ts())
    assert (raised.value.status, raised.value.why) == (
        401,
        "credentials refused: check VIDEO_APP_ID (API key SID) and VIDEO_SIGNING_KEY",
    )
    assert "another-api-key-secret" not in str(raised.value)
    assert TwilioRooms.completed == []
    assert markers.ended == {}


class Answering(http.server.BaseHTTPRequestHandler):
    """Answers every request with ``status`` and ``body``; records the Authorization headers it saw."""

    status: ClassVar[int] = 500
    body: ClassVar[bytes] = b""
    location: ClassVar[str] = ""
    seen: ClassVar[list[str | None]] = []

    def handle_any(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    do_GET = do_POST = do_PUT = handle_any

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    Answering.status, Answering.body, Answering.location, Answering.seen = 500, b"", "", []
    with serve(Answering) as url:
        yield url


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        pytest.param(
            404,
            b"<html>Not Found</html>",
            "not Twilio's 'no such room' answer: check VIDEO_SERVER_API_URL",
            id="a 404 that is not Twilio's",
        ),
        pytest.param(
            404,
            b'{"code": 20003}',
            "not Twilio's 'no such room' answer: check VIDEO_SERVER_API_URL",
            id="another Twilio code",
        ),
        pytest.param(500, b"", "", id="a server error"),
        pytest.param(429, b'{"code": 20429}', "", id="too many requests"),
        pytest.param(400, b'{"code": 53123}', "", id="a bad request"),
        pytest.param(201, b"{}", "", id="anything but 200, even a success"),
    ],
)
def test_only_200_and_twilios_own_404_count_as_ended(
    answering: str, markers: MarkerStore, status: int, body: bytes, why: str
) -> None:
    Answering.status, Answering.body = status, body
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment(answering), now_ts())
    assert (raised.value.status, raised.value.why) == (status, why)
    assert markers.ended == {}


def test_a_redirect_is_a_failure_and_the_credentials_go_nowhere_else(
    twilio_api: str, answering: str, markers: MarkerStore
) -> None:
    Answering.status, Answering.location = 307, f"{twilio_api}/v1/Rooms/{ROOM}"
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment(answering), now_ts())
    assert raised.value.status == 307
    assert TwilioRooms.statuses == []  # the basic-auth header never reached the other server
    assert markers.ended == {}


def test_an_unreachable_twilio_raises_and_is_not_marked(markers: MarkerStore) -> None:
    with pytest.raises(urllib.error.URLError):
        lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment("http://127.0.0.1:9"), now_ts())
    assert markers.ended == {}


class Slow(http.server.BaseHTTPRequestHandler):
    """Answers after a second, with a body larger than anything a provider's answer is read to."""

    def handle_any(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/v1/"):  # Twilio's Rooms API, hung
            time.sleep(1.0)
        body = b"x" * (300 * 1024)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = handle_any

    def log_message(self, *_: Any) -> None:
        pass


def test_a_provider_that_does_not_answer_in_time_fails_the_attempt(
    markers: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call has a deadline (the trigger's own is 60 s): a hung API fails the attempt, to be retried."""
    monkeypatch.setattr(rest, "TIMEOUT_SECONDS", 0.2)
    with serve(Slow) as url, pytest.raises(TimeoutError):
        lifecycle.end_meeting(CLIENT, ROOM, twilio_deployment(url), now_ts())
    assert markers.ended == {}


def test_only_the_first_256_kib_of_an_answer_are_read() -> None:
    with serve(Slow) as url:
        status, body = rest.send(urllib.request.Request(f"{url}/now"))  # noqa: S310 - the loopback
    assert (status, len(body)) == (200, 256 * 1024)


def test_twilio_deployments_always_end_meetings_and_default_to_twilios_api() -> None:
    assert ends_meetings({"VIDEO_PROVIDER": "twilio"}) is True
    built = twilio.room_request(twilio.API_BASE, "a b/c", samples.TWILIO_API_KEY, "s")
    assert built.full_url == "https://video.twilio.com/v1/Rooms/a%20b%2Fc"
    assert (built.get_method(), built.data) == ("POST", b"Status=completed")


# Zoom --------------------------------------------------------------------------------------------------------


@pytest.fixture
def zoom_api() -> Iterator[str]:
    ZoomVideoSdk.reset(ZOOM_API_KEY, ZOOM_API_SECRET, {"sess-1==": ROOM, "sess-other": OTHER_ROOM})
    with serve(ZoomVideoSdk) as url:
        yield url


def zoom_deployment(url: str, api_secret: str = ZOOM_API_SECRET, api_key: str = ZOOM_API_KEY) -> Deployment:
    config = video_config(
        provider="zoom", domain="visit.clinic.test", app_id="zoomSdkKey123", server_api=url, zoom_api_key=api_key
    )
    settings = build_settings(config, HMAC_SECRET)
    return Deployment(
        config=lambda: config,
        settings=lambda: settings,
        secret=lambda name: {"VIDEO_ZOOM_API_SECRET": api_secret}[name],
    )


def test_a_zoom_session_named_after_the_room_is_ended_once(zoom_api: str, markers: MarkerStore) -> None:
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is False  # redelivered

    assert ZoomVideoSdk.ended == ["sess-1=="]
    assert ZoomVideoSdk.live == {"sess-other": OTHER_ROOM}  # another visit's session is left alone
    [query] = ZoomVideoSdk.listed
    today = dt.datetime.fromtimestamp(now_ts(), dt.UTC).date()
    assert query == {
        "type": ["live"],
        "from": [(today - dt.timedelta(days=1)).isoformat()],  # a session started before midnight is still live
        "to": [today.isoformat()],
        "session_name": [ROOM],
        "page_size": ["300"],  # Zoom's largest page
    }
    assert markers.ended == {ROOM: "zoom"}


def test_only_sessions_named_after_the_room_are_ended_whatever_the_list_holds(
    zoom_api: str, markers: MarkerStore
) -> None:
    ZoomVideoSdk.filters_by_name = False
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert ZoomVideoSdk.ended == ["sess-1=="]
    assert ZoomVideoSdk.live == {"sess-other": OTHER_ROOM}


def test_a_live_session_is_matched_to_the_room_whatever_its_case(zoom_api: str, markers: MarkerStore) -> None:
    ZoomVideoSdk.filters_by_name = False
    ZoomVideoSdk.live = {"upper": ROOM.upper(), "sess-other": OTHER_ROOM}
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert ZoomVideoSdk.ended == ["upper"]


def test_a_room_with_no_live_session_counts_as_ended_without_a_put(zoom_api: str, markers: MarkerStore) -> None:
    """Nobody joined, or everyone left (Zoom ends an empty session itself)."""
    ZoomVideoSdk.live = {}
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert ZoomVideoSdk.statuses == [200]
    assert markers.ended == {ROOM: "zoom"}


def test_every_page_of_live_sessions_is_read(zoom_api: str, markers: MarkerStore) -> None:
    ZoomVideoSdk.reset(ZOOM_API_KEY, ZOOM_API_SECRET, {"a": ROOM, "b": ROOM, "c": ROOM}, page_size=1)
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert sorted(ZoomVideoSdk.ended) == ["a", "b", "c"]
    assert [query.get("next_page_token") for query in ZoomVideoSdk.listed[:3]] == [None, ["1"], ["2"]]


def test_a_session_list_that_never_ends_is_cut_off_and_retried(zoom_api: str, markers: MarkerStore) -> None:
    ZoomVideoSdk.reset(ZOOM_API_KEY, ZOOM_API_SECRET, {f"s{number}": ROOM for number in range(11)}, page_size=1)
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts())
    assert (raised.value.status, raised.value.why) == (200, "too many pages of live sessions")
    assert len(ZoomVideoSdk.listed) == 10
    assert ZoomVideoSdk.ended == []  # nothing is ended before every page has been read
    assert markers.ended == {}


def test_ten_pages_are_read_to_the_end(zoom_api: str, markers: MarkerStore) -> None:
    ZoomVideoSdk.reset(ZOOM_API_KEY, ZOOM_API_SECRET, {f"s{number}": ROOM for number in range(10)}, page_size=1)
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert len(ZoomVideoSdk.ended) == 10


@pytest.mark.parametrize("session_id", ["/starts-with-slash", "has//two", "plain/one"])
def test_a_session_id_with_slashes_is_double_encoded_where_zoom_asks(zoom_api: str, session_id: str) -> None:
    ZoomVideoSdk.live = {session_id: ROOM}
    if session_id == "plain/one":  # Zoom asks only for ids that begin with / or hold //; others are sent once
        assert zoom.session_path(session_id) == "plain%2Fone"
        return
    zoom.end(ROOM, zoom_deployment(zoom_api), now_ts())
    assert ZoomVideoSdk.ended == [session_id]


def test_the_api_token_is_what_zooms_video_sdk_api_takes() -> None:
    token = zoom.api_token(ZOOM_API_KEY, ZOOM_API_SECRET, now_ts())
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, ZOOM_API_SECRET, algorithms=["HS256"])
    assert claims == {"iss": ZOOM_API_KEY, "iat": now_ts(), "exp": now_ts() + 120}


def test_a_zoom_refusal_raises_names_the_settings_and_is_not_marked(zoom_api: str, markers: MarkerStore) -> None:
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(
            CLIENT, ROOM, zoom_deployment(zoom_api, api_secret="another-zoom-api-secret-0123456789ab"), now_ts()
        )
    assert (raised.value.status, raised.value.why) == (
        401,
        "token refused: check VIDEO_ZOOM_API_KEY and VIDEO_ZOOM_API_SECRET",
    )
    assert ZoomVideoSdk.ended == []
    assert markers.ended == {}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, b"", id="a server error"),
        pytest.param(429, b'{"code": 429}', id="rate limited"),
        pytest.param(200, b"<html>", id="a 200 that is not JSON"),
        pytest.param(200, b'{"sessions": "none"}', id="sessions not a list"),
        pytest.param(200, b"[]", id="a list, not an object"),
    ],
)
def test_a_session_list_that_fails_or_cannot_be_read_raises(
    answering: str, markers: MarkerStore, status: int, body: bytes
) -> None:
    Answering.status, Answering.body = status, body
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(answering), now_ts())
    assert raised.value.status == status
    assert markers.ended == {}


def test_a_session_that_ends_between_the_list_and_the_put_counts_as_ended(
    zoom_api: str, markers: MarkerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoom, "live_sessions", lambda *_a: ["gone-already"])
    assert lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(zoom_api), now_ts()) is True
    assert ZoomVideoSdk.statuses == [404]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (503, ""),
        (401, "token refused: check VIDEO_ZOOM_API_KEY and VIDEO_ZOOM_API_SECRET"),
        (400, ""),
        (300, ""),
    ],
)
def test_a_failed_put_raises(
    answering: str, markers: MarkerStore, monkeypatch: pytest.MonkeyPatch, status: int, why: str
) -> None:
    monkeypatch.setattr(zoom, "live_sessions", lambda *_a: ["sess-1"])
    Answering.status = status
    with pytest.raises(ProviderCallFailed) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(answering), now_ts())
    assert (raised.value.status, raised.value.why) == (status, why)
    assert markers.ended == {}


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        pytest.param("none", "VIDEO_ZOOM_API_SECRET is a placeholder, not a secret", id="placeholder"),
        pytest.param("", "VIDEO_ZOOM_API_SECRET is not set", id="unset"),
    ],
)
def test_an_unusable_zoom_api_secret_is_named_and_nothing_is_sent(
    answering: str, markers: MarkerStore, secret: str, problem: str
) -> None:
    with pytest.raises(Misconfigured) as raised:
        lifecycle.end_meeting(CLIENT, ROOM, zoom_deployment(answering, api_secret=secret), now_ts())
    assert raised.value.problem == problem
    assert Answering.seen == []


@pytest.mark.parametrize(
    ("key", "ends"),
    [("", False), ("   ", False), (ZOOM_API_KEY, True), (f" {ZOOM_API_KEY} ", True)],
    ids=["no API key", "a blank one", "an API key", "one with spaces around"],
)
def test_zoom_ends_sessions_only_where_its_api_key_is_set(key: str, ends: bool) -> None:
    assert ends_meetings({"VIDEO_PROVIDER": "zoom", "VIDEO_ZOOM_API_KEY": key}) is ends


def test_the_zoom_api_key_is_checked_and_for_zoom_only() -> None:
    with pytest.raises(Misconfigured) as bad:
        video_config(provider="zoom", domain="v.test", app_id="k", zoom_api_key="has space")
    assert bad.value.problem == "VIDEO_ZOOM_API_KEY must be the Video SDK API key (1-128 of A-Z a-z 0-9 _ -)"
    with pytest.raises(Misconfigured) as foreign:
        video_config(provider="livekit", domain="lk.test", app_id="APIk", zoom_api_key=ZOOM_API_KEY)
    assert foreign.value.problem == "VIDEO_ZOOM_API_KEY is for provider zoom only"
    assert ends_meetings(params_for(provider="zoom", zoom_api_key=ZOOM_API_KEY)) is True


# Through the trigger ----------------------------------------------------------------------------------------


class Snapshot:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data, self.update_time = data, None

    def to_dict(self) -> dict[str, Any]:
        return self._data


def doc(status: str) -> dict[str, Any]:
    return {"type": "video", "status": status, "video": {"roomName": ROOM}}


def run_trigger(before: dict[str, Any], after: dict[str, Any]) -> None:
    import main

    class Event:
        params: ClassVar[dict[str, str]] = {"appointmentId": "a1"}

        class data:
            pass

    Event.data.before = Snapshot(before)  # type: ignore[attr-defined]
    Event.data.after = Snapshot(after)  # type: ignore[attr-defined]
    inspect.unwrap(main.assign_video_room)(Event())


@pytest.fixture
def trigger_db(monkeypatch: pytest.MonkeyPatch) -> MockFirestore:
    import main

    db = MockFirestore()
    monkeypatch.setitem(main._clients, "db", db)
    monkeypatch.setattr(
        lifecycle.appointments, "apply_room_lifecycle", lambda *_a: RoomWrite(main.Action.WITHDRAW, "event")
    )
    monkeypatch.setenv("VIDEO_SIGNING_KEY", HMAC_SECRET)
    return db


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def log_text(capsys: pytest.CaptureFixture[str]) -> str:
    logs = capsys.readouterr()
    return logs.out + logs.err


def test_the_trigger_completes_a_cancelled_visits_twilio_room_once(
    trigger_db: MockFirestore, twilio_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(
        monkeypatch,
        {
            "VIDEO_PROVIDER": "twilio",
            "VIDEO_DOMAIN": "visit.clinic.test",
            "VIDEO_APP_ID": samples.TWILIO_API_KEY,
            "VIDEO_ACCOUNT_ID": samples.TWILIO_ACCOUNT,
            "VIDEO_SERVER_API_URL": twilio_api,
        },
    )
    run_trigger(doc("confirmed"), doc("cancelled"))
    run_trigger(doc("confirmed"), doc("cancelled"))  # the same event again

    assert TwilioRooms.completed == [ROOM]
    assert trigger_db.collection("videoMeetingsEnded").document(ROOM).get().to_dict()["provider"] == "twilio"
    logs = log_text(capsys)
    assert "meeting ended at the provider" in logs
    assert HMAC_SECRET not in logs


def test_the_trigger_raises_for_a_retry_when_twilio_refuses(
    trigger_db: MockFirestore, twilio_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(
        monkeypatch,
        {
            "VIDEO_PROVIDER": "twilio",
            "VIDEO_DOMAIN": "visit.clinic.test",
            "VIDEO_APP_ID": samples.TWILIO_API_KEY,
            "VIDEO_ACCOUNT_ID": samples.TWILIO_ACCOUNT,
            "VIDEO_SERVER_API_URL": twilio_api,
        },
    )
    TwilioRooms.api_secret = "the-key-was-rotated-at-twilio-0123456"
    with pytest.raises(ProviderCallFailed):
        run_trigger(doc("confirmed"), doc("completed"))
    logs = log_text(capsys)
    assert "ending the meeting failed; the event will be retried" in logs
    assert HMAC_SECRET not in logs
    assert not trigger_db.collection("videoMeetingsEnded").document(ROOM).get().exists


ZOOM_ENV = {"VIDEO_PROVIDER": "zoom", "VIDEO_DOMAIN": "visit.clinic.test", "VIDEO_APP_ID": "zoomSdkKey123"}


def test_the_trigger_ends_a_cancelled_visits_zoom_session_once(
    trigger_db: MockFirestore, zoom_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(
        monkeypatch,
        {
            **ZOOM_ENV,
            "VIDEO_SERVER_API_URL": zoom_api,
            "VIDEO_ZOOM_API_KEY": ZOOM_API_KEY,
            "VIDEO_ZOOM_API_SECRET": ZOOM_API_SECRET,
        },
    )
    run_trigger(doc("confirmed"), doc("cancelled"))
    run_trigger(doc("confirmed"), doc("cancelled"))

    assert ZoomVideoSdk.ended == ["sess-1=="]
    assert trigger_db.collection("videoMeetingsEnded").document(ROOM).get().to_dict()["provider"] == "zoom"
    assert ZOOM_API_SECRET not in log_text(capsys)


def test_the_trigger_on_zoom_without_api_credentials_asks_nothing_of_zoom_or_its_secret(
    trigger_db: MockFirestore, zoom_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(monkeypatch, {**ZOOM_ENV, "VIDEO_SERVER_API_URL": zoom_api, "VIDEO_ZOOM_API_KEY": ""})
    monkeypatch.setenv("VIDEO_ZOOM_API_SECRET", "none")
    monkeypatch.setenv("VIDEO_SIGNING_KEY", "short")  # unusable, and not needed for a withdrawal here
    run_trigger(doc("confirmed"), doc("cancelled"))
    assert ZoomVideoSdk.statuses == []
    assert not trigger_db.collection("videoMeetingsEnded").document(ROOM).get().exists


def test_the_trigger_names_an_unusable_zoom_api_secret_and_retries(
    trigger_db: MockFirestore, zoom_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(monkeypatch, {**ZOOM_ENV, "VIDEO_SERVER_API_URL": zoom_api, "VIDEO_ZOOM_API_KEY": ZOOM_API_KEY})
    monkeypatch.setenv("VIDEO_ZOOM_API_SECRET", "none")
    with pytest.raises(Misconfigured):
        run_trigger(doc("confirmed"), doc("cancelled"))
    lines = [json.loads(line) for line in log_text(capsys).splitlines() if line.startswith("{")]
    assert {
        "severity": "ERROR",
        "message": "ending the meeting failed; the event will be retried: video settings unusable",
        "appointmentId": "a1",
        "problem": "VIDEO_ZOOM_API_SECRET is a placeholder, not a secret",
    } in lines
    assert ZoomVideoSdk.statuses == []
