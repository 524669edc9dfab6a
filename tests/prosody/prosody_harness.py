"""A real Prosody with jitsi-meet's own plugins, for the interop tier (tests/prosody, ``make prosody-tier``).

- ``render_config``: the Prosody config the tier runs (and docs/jitsi-prosody.md documents), on loopback ports.
- ``ProsodyServer``: Prosody 0.12 from Debian's package, unpacked by tests/prosody/run, started in its own
  process group on 127.0.0.1 and stopped by that group's id; its log is read line by line, so a test waits
  on a line with a deadline instead of sleeping.
- ``Bosh``: a small XMPP-over-BOSH client (XEP-0124/0206): logs in with ``?token=<jwt>`` (SASL ANONYMOUS, as
  jitsi-meet's web app does), binds, joins a MUC room and waits for stanzas with long polls.
- ``AsapKeys``: the ASAP key server, ``GET /asap/<sha256 hex of kid>.pem``.

Jitsi's plugin code is never copied into the repository: it is copied from ``JITSI_PROSODY_PLUGINS`` into a
temporary directory for each run.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

BOSH_NS = "http://jabber.org/protocol/httpbind"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
# Debian packages these two pure-Lua libraries for Lua 5.1-5.3 only; they load unchanged under 5.4.
EXTRA_LUA_DIRS = ("/usr/share/lua/5.3", "/usr/share/lua/5.2")
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Text with every JWT replaced: Prosody logs a refused join's token, and nothing here may print one."""
    return _TOKEN.sub("<token>", text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def asap_file_name(kid: str) -> str:
    return hashlib.sha256(kid.encode()).hexdigest() + ".pem"


def lua(value: str) -> str:
    """A Lua string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The plugin directory ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JitsiPlugins:
    """Where jitsi-meet's resources/prosody-plugins (commit 347cc32) and Lua's net.url were found."""

    plugins: Path
    net_url: Path | None  # the directory holding net/url.lua

    @classmethod
    def find(cls, given: str) -> JitsiPlugins | None:
        """``given`` is either the shared layout (``prosody-plugins/``, ``net-url/``) or the plugins themselves."""
        if not given:
            return None
        root = Path(given)
        plugins = root / "prosody-plugins" if (root / "prosody-plugins").is_dir() else root
        if not (plugins / "mod_muc_end_meeting.lua").is_file():
            return None
        candidates = [Path(os.environ.get("JITSI_NET_URL", "")), root / "net-url", root.parent / "net-url"]
        net_url = next((c for c in candidates if str(c) != "." and (c / "net" / "url.lua").is_file()), None)
        return cls(plugins, net_url)

    def copy_to(self, where: Path, with_net_url: bool = True) -> tuple[Path, Path]:
        """Copies into ``where`` (the originals may be read-only); returns (plugin path, Lua path dir)."""
        plugins = where / "prosody-plugins"
        shutil.copytree(self.plugins, plugins)
        lua_dir = where / "lua"
        lua_dir.mkdir()
        if with_net_url and self.net_url is not None:
            (lua_dir / "net").mkdir()
            shutil.copy(self.net_url / "net" / "url.lua", lua_dir / "net" / "url.lua")
        return plugins, lua_dir


# The config ----------------------------------------------------------------------------------------------------

DOMAIN = "meet.example.test"  # the XMPP domain: the join tokens' sub, VIDEO_DOMAIN
END_HOST = "end.meet.example.test"  # the VirtualHost only mod_muc_end_meeting uses
MUC = f"conference.{DOMAIN}"
JAAS_DOMAIN = "jaas.example.test"  # a VirtualHost taking RS256 JaaS-format tokens from a key server
JAAS_MUC = f"conference.{JAAS_DOMAIN}"
APP_ID = "telehealth-tier"  # the Jitsi app_id: the tokens' iss, VIDEO_APP_ID


@dataclass
class Layout:
    """What differs between the set-ups the tier runs."""

    workdir: Path
    plugin_path: Path
    http_port: int
    key_server: str  # e.g. http://127.0.0.1:<port>/asap
    app_secret: str
    # "end-host": the working set-up (a second VirtualHost checks end-meeting tokens, RS256);
    # "main-host": the README's old one (the HS256 main VirtualHost does, so RS256 tokens fail).
    end_meeting_checker: str = "end-host"
    http_default_host: bool = True
    jaas_host: bool = True
    extra_global: list[str] = field(default_factory=list)


def render_config(layout: Layout) -> str:
    """The Prosody config: global settings, the main VirtualHost (HS256 join tokens), the end-meeting
    VirtualHost (RS256 system tokens, from the key server), optionally a JaaS-like RS256 host, and the MUCs."""
    checker_host = END_HOST if layout.end_meeting_checker == "end-host" else DOMAIN
    work = layout.workdir
    lines = [
        "-- Written by tests/prosody/prosody_harness.py (docs/jitsi-prosody.md explains each line).",
        "run_as_root = true  -- the tier runs as whoever runs it; a real server runs as the prosody user",
        f"pidfile = {lua(str(work / 'prosody.pid'))}",
        f"data_path = {lua(str(work / 'data'))}",
        f"certificates = {lua(str(work / 'certs'))}  -- none: only loopback HTTP (BOSH) is served",
        f"plugin_paths = {{ {lua(str(layout.plugin_path))} }}",
        'log = { info = "*console" }',
        'interfaces = { "127.0.0.1" }',
        "c2s_ports = { }",
        "c2s_direct_tls_ports = { }",
        "legacy_ssl_ports = { }",
        "s2s_ports = { }",
        'modules_disabled = { "s2s" }',
        f"http_ports = {{ {layout.http_port} }}",
        'http_interfaces = { "127.0.0.1" }',
        "https_ports = { }",
        "c2s_require_encryption = false",
        "consider_bosh_secure = true",
        "",
        "-- mod_muc_end_meeting (a global module): it checks tokens with the checker of this VirtualHost,",
        "-- and serves POST /end-meeting on it; requests whose Host is no VirtualHost go to http_default_host.",
        'modules_enabled = { "saslauth"; "disco"; "ping"; "bosh"; "muc_end_meeting" }',
        f"muc_mapper_domain_base = {lua(checker_host)}",
    ]
    if layout.http_default_host:
        lines.append(f"http_default_host = {lua(checker_host)}")
    lines += [
        f"prosody_password_public_key_repo_url = {lua(layout.key_server)}",
        *layout.extra_global,
        "",
        f"VirtualHost {lua(DOMAIN)}",
        '    authentication = "token"',
        f"    app_id = {lua(APP_ID)}",
        f"    app_secret = {lua(layout.app_secret)}",
        "    allow_empty_token = false",
        f"    muc_mapper_domain_base = {lua(DOMAIN)}",
        '    modules_enabled = { "presence_identity" }',
    ]
    if layout.end_meeting_checker == "end-host":
        lines += [
            "",
            f"VirtualHost {lua(END_HOST)}",
            '    authentication = "internal_hashed"  -- no accounts, no registration: nobody logs in here',
            f"    app_id = {lua(APP_ID)}",
            f"    asap_key_server = {lua(layout.key_server)}",
        ]
    lines += [
        "",
        f'Component {lua(MUC)} "muc"',
        '    modules_enabled = { "token_verification" }',
        f"    muc_mapper_domain_base = {lua(DOMAIN)}",
        "    muc_room_locking = false",
    ]
    if layout.jaas_host:
        lines += [
            "",
            f"VirtualHost {lua(JAAS_DOMAIN)}",
            '    authentication = "token"',
            '    app_id = "chat"',
            f"    asap_key_server = {lua(layout.key_server)}",
            "    allow_empty_token = false",
            "    enable_domain_verification = false  -- JaaS's sub is the AppID, not an XMPP domain",
            f"    muc_mapper_domain_base = {lua(JAAS_DOMAIN)}",
            '    modules_enabled = { "presence_identity" }',
            "",
            f'Component {lua(JAAS_MUC)} "muc"',
            '    modules_enabled = { "token_verification" }',
            f"    muc_mapper_domain_base = {lua(JAAS_DOMAIN)}",
            "    muc_room_locking = false",
        ]
    return "\n".join(lines) + "\n"


# The server ----------------------------------------------------------------------------------------------------


class ProsodyServer:
    """One Prosody process, in its own process group, on loopback; ``stop`` ends the whole group."""

    def __init__(self, deb_root: Path, layout: Layout, lua_dir: Path) -> None:
        self.deb_root, self.layout, self.lua_dir = deb_root, layout, lua_dir
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._eof = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.layout.http_port}"

    def start(self, timeout: float = 30) -> None:
        work = self.layout.workdir
        (work / "data").mkdir(exist_ok=True)
        (work / "certs").mkdir(exist_ok=True)
        config = work / "prosody.cfg.lua"
        config.write_text(render_config(self.layout))
        source = self.deb_root / "usr/lib/prosody"
        # Debian's /usr/bin/prosody with the unpacked package's paths instead of /usr/lib/prosody, /etc/prosody.
        launcher = (self.deb_root / "usr/bin/prosody").read_text()
        for name, value in (
            ("CFG_SOURCEDIR", source),
            ("CFG_CONFIGDIR", work),
            ("CFG_PLUGINDIR", f"{source}/modules/"),
            ("CFG_DATADIR", work / "data"),
        ):
            launcher = re.sub(rf"^{name}=.*$", f"{name}={lua(str(value))};", launcher, count=1, flags=re.M)
        (work / "prosody.lua").write_text(launcher)
        lua_path = ";".join([f"{self.lua_dir}/?.lua", "", *(f"{d}/?.lua" for d in EXTRA_LUA_DIRS)])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LUA_PATH": lua_path, "HOME": str(work)}
        self._process = subprocess.Popen(  # noqa: S603 - our own config; Debian's lua5.4 from PATH
            ["lua5.4", str(work / "prosody.lua"), "--config", str(config), "-F"],  # noqa: S607
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=work,
            start_new_session=True,  # its own process group, stopped by its id
        )
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.wait_for_log(rf"Activated service 'http' on \[127\.0\.0\.1\]:{self.layout.http_port}", timeout)
            # The listener is bound; Prosody answers once its loop runs, i.e. once every module has loaded.
            # Any HTTP answer will do (without http_default_host, "/" on 127.0.0.1 is an "Unknown host" 404).
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=timeout) as answer:  # noqa: S310 - loopback
                    answer.read()
            except urllib.error.HTTPError as error:
                error.close()
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def mark(self) -> int:
        """A position in the log; ``wait_for_log(..., since=mark)`` looks only at what came after it."""
        with self._changed:
            return len(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = 10, since: int = 0) -> str:
        """The first log line after ``since`` matching ``pattern``; waits for it until the deadline."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[since:]:
                    if wanted.search(line):
                        return line
                since = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"no Prosody log line /{pattern}/ within {timeout} s:\n{self.log()}")
                self._changed.wait(left)

    def log(self) -> str:
        with self._changed:
            return redact("\n".join(self.lines[-80:]))

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        self._process = None


# The key server -------------------------------------------------------------------------------------------------


class AsapKeys(http.server.BaseHTTPRequestHandler):
    """``GET /asap/<sha256 hex of kid>.pem``; set ``keys`` (file name -> PEM); ``fetched`` lists what was asked."""

    keys: ClassVar[dict[str, bytes]] = {}
    fetched: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        name = self.path.removeprefix("/asap/")
        type(self).fetched.append(name)
        key = type(self).keys.get(name) if self.path.startswith("/asap/") else None
        self.send_response(200 if key else 404)
        self.send_header("Content-Length", str(len(key or b"")))
        self.end_headers()
        self.wfile.write(key or b"")

    def log_message(self, *_: Any) -> None:
        pass


# The XMPP client ------------------------------------------------------------------------------------------------


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element, name: str, ns: str | None = None) -> ET.Element | None:
    for item in element.iter():
        if local(item.tag) == name and (ns is None or item.tag == f"{{{ns}}}{name}"):
            return item
    return None


class LoginRefused(Exception):
    def __init__(self, condition: str, text: str) -> None:
        super().__init__(f"{condition}: {text}")
        self.condition, self.text = condition, text


class Bosh:
    """One XMPP session over BOSH. Requests are sequential (hold=1): a poll is held by Prosody until it has a
    stanza for us or ``wait`` seconds pass, so waiting for a stanza is waiting on an event with a deadline."""

    WAIT = 5

    def __init__(self, base_url: str, domain: str, token: str | None) -> None:
        self.endpoint = f"{base_url}/http-bind"
        self.domain, self.token = domain, token
        self.rid = secrets.randbelow(2**40) + 2**40
        self.sid = ""
        self.jid = ""
        self.inbox: list[ET.Element] = []
        self.terminated = False

    def _post(self, attrs: dict[str, str], payload: str = "", url: str | None = None) -> list[ET.Element]:
        attributes = {"rid": str(self.rid), "xmlns": BOSH_NS, **({"sid": self.sid} if self.sid else {}), **attrs}
        text = "<body " + " ".join(f"{k}='{v}'" for k, v in attributes.items()) + f">{payload}</body>"
        self.rid += 1
        request = urllib.request.Request(  # noqa: S310 - loopback Prosody
            url or self.endpoint,
            data=text.encode(),
            method="POST",
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
        with urllib.request.urlopen(request, timeout=self.WAIT + 10) as answer:  # noqa: S310
            root = ET.fromstring(answer.read())  # noqa: S314 - our own Prosody
        if root.get("type") == "terminate":
            self.terminated = True
        if not self.sid and root.get("sid"):
            self.sid = root.get("sid", "")
        items = list(root)
        self.inbox.extend(items)
        return items

    def wait_for(self, matches: Callable[[ET.Element], bool], timeout: float = 10) -> ET.Element:
        """The first received stanza that ``matches`` (removed from the inbox), polling until the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.inbox:
                if matches(item):
                    self.inbox.remove(item)
                    return item
            if self.terminated or time.monotonic() >= deadline:
                got = [redact(ET.tostring(item, encoding="unicode")) for item in self.inbox]
                raise AssertionError(f"no such stanza within {timeout} s (terminated={self.terminated}): {got}")
            self._post({})

    def login(self) -> str:
        """Session with ``?token=``, SASL ANONYMOUS (what mod_auth_token checks the token on), resource bind."""
        query = "?" + urllib.parse.urlencode({"token": self.token}) if self.token else ""
        self._post(
            {
                "to": self.domain,
                "xml:lang": "en",
                "wait": str(self.WAIT),
                "hold": "1",
                "ver": "1.6",
                "content": "text/xml; charset=utf-8",
                "xmpp:version": "1.0",
                "xmlns:xmpp": "urn:xmpp:xbosh",
            },
            url=self.endpoint + query,
        )
        self.wait_for(lambda e: local(e.tag) == "features")
        self._post({}, f"<auth xmlns='{SASL_NS}' mechanism='ANONYMOUS'/>")
        answer = self.wait_for(lambda e: local(e.tag) in ("success", "failure"))
        if local(answer.tag) == "failure":
            condition = next((local(c.tag) for c in answer if local(c.tag) != "text"), "")
            text = child(answer, "text")
            raise LoginRefused(condition, (text.text or "") if text is not None else "")
        self._post({"to": self.domain, "xml:lang": "en", "xmpp:restart": "true", "xmlns:xmpp": "urn:xmpp:xbosh"})
        self.wait_for(lambda e: local(e.tag) == "features" and child(e, "bind") is not None)
        self._post(
            {}, "<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
        )
        bound = self.wait_for(lambda e: local(e.tag) == "iq" and e.get("id") == "bind1")
        jid = child(bound, "jid")
        if bound.get("type") != "result" or jid is None:
            raise AssertionError(f"bind failed: {redact(ET.tostring(bound, encoding='unicode'))}")
        self.jid = jid.text or ""
        return self.jid

    def join(self, room_jid: str, nick: str) -> ET.Element:
        """Presence to ``room@muc/nick``; returns our own presence back (joined) or an error presence."""
        self._post({}, f"<presence xmlns='jabber:client' to='{room_jid}/{nick}'><x xmlns='{MUC_NS}'/></presence>")
        return self.wait_for(
            lambda e: (
                local(e.tag) == "presence"
                and e.get("from") == f"{room_jid}/{nick}"
                and (e.get("type") == "error" or self_presence(e))
            )
        )

    def close(self) -> None:
        if self.sid and not self.terminated:
            with contextlib.suppress(OSError):
                self._post({"type": "terminate"}, "<presence type='unavailable' xmlns='jabber:client'/>")
            self.terminated = True


def self_presence(presence: ET.Element) -> bool:
    """A MUC presence about ourselves (status code 110)."""
    return any(status.get("code") == "110" for status in presence.iter(f"{{{MUC_USER_NS}}}status"))


def destroyed(presence: ET.Element) -> bool:
    """The unavailable presence a destroyed room sends each occupant (XEP-0045 ``<destroy>``)."""
    return presence.get("type") == "unavailable" and child(presence, "destroy", MUC_USER_NS) is not None


def identity_of(presence: ET.Element) -> dict[str, str]:
    """The ``<identity><user>`` jitsi-meet's presence_identity puts into an occupant's presence."""
    user = child(presence, "user")
    return {local(item.tag): item.text or "" for item in user} if user is not None else {}
