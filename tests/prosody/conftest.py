"""Fixtures of the real-Prosody tier: Jitsi's plugins (from JITSI_PROSODY_PLUGINS), the unpacked Prosody
(PROSODY_DEB_ROOT, from tests/prosody/run), the ASAP key server, and Prosody set-ups started on loopback."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prosody_harness import AsapKeys, JitsiPlugins, Layout, ProsodyServer, free_port
from standins import serve

SKIPPED = (
    "SKIPPED: the real-Prosody tier needs jitsi-meet's Prosody plugins: set JITSI_PROSODY_PLUGINS to "
    "resources/prosody-plugins of jitsi-meet at commit 347cc32 (or a directory with prosody-plugins/ and "
    "net-url/), and run it with tests/prosody/run (make prosody-tier)"
)


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


def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def jitsi() -> JitsiPlugins:
    found = JitsiPlugins.find(os.environ.get("JITSI_PROSODY_PLUGINS", ""))
    if found is None:
        pytest.skip(SKIPPED)
    return found


@pytest.fixture(scope="session")
def deb_root(jitsi: JitsiPlugins) -> Path:
    root = Path(os.environ.get("PROSODY_DEB_ROOT", ""))
    if not (root / "usr/bin/prosody").is_file():
        pytest.skip("SKIPPED: no unpacked Prosody (PROSODY_DEB_ROOT); run the tier with tests/prosody/run")
    return root


@pytest.fixture(scope="session")
def key_server() -> Iterator[str]:
    """The ASAP key server both the end-meeting host and the JaaS-like host fetch public keys from."""
    AsapKeys.keys, AsapKeys.fetched = {}, []
    with serve(AsapKeys) as url:
        yield f"{url}/asap"


@pytest.fixture(scope="session")
def hmac_secret() -> str:
    """The self-hosted deployment's app_secret, which is the backend's VIDEO_SIGNING_KEY."""
    return secrets.token_urlsafe(32)


StartProsody = Callable[..., ProsodyServer]


@pytest.fixture(scope="module")
def start_prosody(
    jitsi: JitsiPlugins, deb_root: Path, key_server: str, hmac_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartProsody]:
    """Starts Prosody set-ups (``Layout`` fields as keywords, ``net_url=False`` leaves net.url out); each is
    stopped, by its process group, when the module's tests are done."""
    started: list[ProsodyServer] = []

    def start(net_url: bool = True, **changes: Any) -> ProsodyServer:
        work = tmp_path_factory.mktemp("prosody")
        plugin_path, lua_dir = jitsi.copy_to(work, with_net_url=net_url)
        values: dict[str, Any] = {"http_port": free_port(), "app_secret": hmac_secret, **changes}
        layout = Layout(workdir=work, plugin_path=plugin_path, key_server=key_server, **values)
        server = ProsodyServer(deb_root, layout, lua_dir)
        server.start()
        started.append(server)
        return server

    if jitsi.net_url is None:
        pytest.skip("SKIPPED: Lua's net.url (net/url.lua) was not found next to the plugins or in JITSI_NET_URL")
    try:
        yield start
    finally:
        for server in started:
            server.stop()
