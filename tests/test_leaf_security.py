"""The leaf link to the hub: credentials the hub hands out, refused strangers, optional TLS."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pi_edge.agent.errors import ConfigError
from pi_edge.agent.lattice.client import ping
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.credentials import LeafCredentials
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import hub_config
from pi_edge.agent.lattice.urls import redact


@pytest.fixture
def secured_hub(tmp_path: Path):
    creds = LeafCredentials.generate()
    path = tmp_path / "leaf.creds"
    creds.write(path)
    server = NatsServer(hub_config("127.0.0.1", 0, 0, name="secure-hub", credentials=creds)).start()
    try:
        yield server, path
    finally:
        server.stop()


async def hub_sees(hub: NatsServer, name: str) -> None:
    nc = await connect(hub.url, name="test-wait", credentials=hub.operator)
    try:
        async def seen() -> None:
            while name not in {str(h["name"]) for h in await ping(nc, "default", window=0.3)}:
                pass

        await asyncio.wait_for(seen(), 20)
    finally:
        await nc.close()


async def test_right_credentials_join_and_wrong_or_missing_ones_are_refused(secured_hub, start_agent, tmp_path):
    hub, creds_path = secured_hub
    wrong = tmp_path / "wrong.creds"
    LeafCredentials("pi-edge", "not-the-secret").write(wrong)

    good = await start_agent({}, hub=hub, name="pi-good", hub_credentials=creds_path)
    bad = await start_agent({}, hub=hub, name="pi-bad", hub_credentials=wrong)
    anonymous = await start_agent({}, hub=hub, name="pi-anon")
    await hub_sees(hub, "pi-good")
    for refused in (bad, anonymous):
        assert await asyncio.to_thread(refused.service.server.leaf_refused.wait, 15)
        assert not refused.service.server.leaf_connected.is_set()
    assert not good.service.server.leaf_refused.is_set()
    nc = await connect(hub.url, name="test", credentials=hub.operator)
    try:
        assert {str(h["name"]) for h in await ping(nc, "default", window=0.5)} == {"pi-good"}
    finally:
        await nc.close()


def test_credentials_file_is_private_and_checked(tmp_path: Path):
    path = tmp_path / "leaf.creds"
    creds = LeafCredentials.generate()
    creds.write(path)
    assert path.stat().st_mode & 0o077 == 0
    assert LeafCredentials.read(path) == creds
    (tmp_path / "junk").write_text("no colon here\n")
    with pytest.raises(ConfigError, match="does not hold leaf credentials"):
        LeafCredentials.read(tmp_path / "junk")
    with pytest.raises(ConfigError, match="cannot read leaf credentials"):
        LeafCredentials.read(tmp_path / "missing")


def test_credentials_go_into_the_url_and_never_into_logs():
    creds = LeafCredentials("pi-edge", "s3cr/t")
    url = creds.into("nats-leaf://old:pw@laptop.local:7422")
    assert url == "nats-leaf://pi-edge:s3cr%2Ft@laptop.local:7422"
    assert redact(url) == "nats-leaf://***@laptop.local:7422"
    assert redact("nats-leaf://laptop:7422") == "nats-leaf://laptop:7422"


def make_tls(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI."""
    ca_key, ca, key, csr, cert = (tmp_path / n for n in ("ca.key", "ca.pem", "hub.key", "hub.csr", "hub.pem"))
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=pi-edge test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


async def test_tls_leaf_link_with_the_hubs_ca(start_agent, tmp_path: Path):
    ca, cert, key = make_tls(tmp_path)
    creds = LeafCredentials.generate()
    creds_path = tmp_path / "leaf.creds"
    creds.write(creds_path)
    hub = NatsServer(hub_config("127.0.0.1", 0, 0, name="tls-hub", credentials=creds,
                                tls_cert=str(cert), tls_key=str(key))).start()
    try:
        await start_agent({}, hub=hub, name="pi-tls", hub_credentials=creds_path, hub_ca=ca)
        await hub_sees(hub, "pi-tls")
    finally:
        await hub.stop()


class LogWatch(logging.Handler):
    """Records of one logger as they come, so a test waits for the lines it needs instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    async def until(self, done: Callable[[list[logging.LogRecord]], bool], timeout: float = 30) -> None:
        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(lambda: done(self.records), timeout)

        assert await asyncio.to_thread(wait), "\n".join(r.getMessage() for r in self.records)


async def test_two_hosts_with_one_name_are_told_once_each(hub, start_agent, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="pi_edge.nats_server")
    watch = LogWatch()
    logging.getLogger("pi_edge.nats_server").addHandler(watch)
    try:
        first = await start_agent({}, hub=hub, name="pi-twin")
        second = await start_agent({}, hub=hub, name="pi-twin")
        readers = {first.service.server._reader.ident, second.service.server._reader.ident}

        def knocked_off(records: list[logging.LogRecord], times: int) -> bool:
            """Each leaf server has been dropped by the hub at least ``times`` times."""
            seen = [r.thread for r in records if "Leafnode Error 'Duplicate Remote LeafNode" in r.getMessage()
                    and r.levelno == logging.DEBUG]
            return all(seen.count(reader) >= times for reader in readers)

        # Knocked off twice each: the second time must not repeat the ERROR.
        await watch.until(lambda records: knocked_off(records, 2))
        errors = [r for r in watch.records if r.levelno == logging.ERROR]
        told = [r.thread for r in errors if "another host named 'pi-twin' is connected" in r.getMessage()]
        assert sorted(told) == sorted(readers), [r.getMessage() for r in errors]
        assert "each Pi needs its own --name" in errors[0].getMessage()
        hub_told = [r for r in errors if "two hosts named 'pi-twin'" in r.getMessage()]
        assert len(hub_told) == 1, [r.getMessage() for r in errors]
        assert first.service.server.running() and second.service.server.running()  # both keep serving locally
        assert first.service.server.name_clash.is_set() and second.service.server.name_clash.is_set()
    finally:
        logging.getLogger("pi_edge.nats_server").removeHandler(watch)
