"""The leaf link to the hub: each Pi's own key, refused strangers (said once, not blamed on JetStream), TLS in
one step."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

from pi_edge.agent.lattice.client import ping
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.log_repeats import Repeats
from pi_edge.agent.trust.credentials import Credentials
from tests.conftest import start_hub
from tests.log_watch import LogWatch, watching


async def hub_sees(hub, name: str) -> None:
    nc = await connect(hub.url, name="test-wait", credentials=hub.operator)
    try:
        async def seen() -> None:
            while name not in {str(h["name"]) for h in await ping(nc, "default", window=0.3)}:
                pass

        await asyncio.wait_for(seen(), 20)
    finally:
        await nc.close()


async def test_an_enrolled_key_joins_and_a_stranger_or_none_is_refused_and_told_once(hub, start_agent,
                                                                                     tmp_path) -> None:
    """The agent said "leafnode connection up", then the refusal, then every second that the hub's link
    store did not answer: "is the hub running with JetStream...?"."""
    stranger = tmp_path / "stranger.creds"
    Credentials.generate("host", "pi-bad").write(stranger)  # well formed, never enrolled
    with watching("pi_edge") as log:
        good = await start_agent({}, hub=hub, name="pi-good")
        bad = await start_agent({}, hub=hub, name="pi-bad", hub_credentials=stranger)
        anonymous = await start_agent({}, hub=hub, name="pi-anon", enrolled=False)
        await hub_sees(hub, "pi-good")
        refused = [bad.service.server, anonymous.service.server]
        for _ in range(2):  # refused twice each (the leaf retries every second): still one ERROR each
            for server in refused:
                server.leaf_refused.clear()
                assert await asyncio.to_thread(server.leaf_refused.wait, 15)
    assert not any(r.leaf_connected.is_set() for r in refused)
    assert not good.service.server.leaf_refused.is_set()
    messages = [r.getMessage() for r in log.records if r.levelno >= logging.INFO]  # DEBUG: the server's own lines
    for name in ("pi-bad", "pi-anon"):
        mine = [m for m in messages if m.startswith(f"nats-server {name}:")]
        assert not [m for m in mine if "leafnode connection up" in m], mine
        errors = [m for m in mine if "refused this host's key" in m]
        assert len(errors) == 1 and f"pi-edge hub enroll {name}" in errors[0], mine
    assert not [m for m in messages if "JetStream" in m], "a refused key is blamed on JetStream"
    nc = await connect(hub.url, name="test", credentials=hub.operator)
    try:
        assert {str(h["name"]) for h in await ping(nc, "default", window=0.5)} == {"pi-good"}
    finally:
        await nc.close()


async def test_the_hub_says_a_refused_pis_knocking_once_with_a_count(hub, start_agent, tmp_path) -> None:
    """A revoked Pi knocks every second: one line on the hub, then a count, not a line a second."""
    stranger = tmp_path / "stranger.creds"
    Credentials.generate("host", "pi-gone").write(stranger)
    with watching("pi_edge.nats_server") as log:
        agent = await start_agent({}, hub=hub, name="pi-gone", hub_credentials=stranger)
        server = agent.service.server
        knocks = 0
        while knocks < 3:  # each refusal is one knock; wait for three
            server.leaf_refused.clear()
            assert await asyncio.to_thread(server.leaf_refused.wait, 15)
            knocks += 1
        said = [r.getMessage() for r in log.records if r.getMessage().startswith("nats-server test-hub:")
                and "authentication error" in r.getMessage().lower() and r.levelno >= logging.WARNING]
    assert len(said) == 1, said


def test_a_repeated_warning_is_said_once_then_counted(caplog) -> None:
    log = logging.getLogger("test.repeats")
    repeats = Repeats(log, every=60)
    clock = [100.0]
    repeats._clock = lambda: clock[0]
    with caplog.at_level(logging.WARNING, logger="test.repeats"):
        for _ in range(5):
            repeats.log(logging.WARNING, "k", "the hub refused this host")
            clock[0] += 1
        clock[0] += 60
        repeats.log(logging.WARNING, "k", "the hub refused this host")
        repeats.log(logging.WARNING, "other", "something else")
    assert caplog.messages == ["the hub refused this host",
                               "the hub refused this host (said 5 times in the last 65 s)",
                               "something else"]


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


async def test_tls_leaf_link_with_your_own_certificate(start_agent, tmp_path: Path):
    ca, cert, key = make_tls(tmp_path)
    hub = await start_hub(tmp_path / "hub", tls_cert=str(cert), tls_key=str(key))
    try:
        await start_agent({}, hub=hub, name="pi-tls", hub_ca=ca)
        await hub_sees(hub, "pi-tls")
    finally:
        await hub.stop()


async def test_tls_in_one_step_the_ca_travels_in_the_credentials(start_agent, tmp_path: Path):
    """``pi-edge hub --tls``: a private CA made on first start; enrol puts it in NAME.creds; no --hub-ca."""
    hub = await start_hub(tmp_path / "hub", tls=True)
    try:
        creds = Credentials.read(await hub.enroll("pi-tls"))
        assert creds.ca_pem and "BEGIN CERTIFICATE" in creds.ca_pem
        assert "tls {" in hub.server.config_path.read_text()
        agent = await start_agent({}, hub=hub, name="pi-tls")
        assert agent.service.options.hub_ca is None
        await hub_sees(hub, "pi-tls")
        assert (tmp_path / "hub" / "tls" / "server-key.pem").stat().st_mode & 0o077 == 0
    finally:
        await hub.stop()


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
