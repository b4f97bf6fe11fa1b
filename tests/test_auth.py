"""Who may do what on the lattice, asserted against real nats-servers (issue 17): every denial the hub and a
Pi's own leaf server enforce, enrolment and revocation, and a name that is not its key's."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from pi_edge.agent.errors import CredentialsError, LatticeUnreachableError
from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import LatticeClient, request
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import leaf_config
from pi_edge.agent.trust.credentials import Credentials
from tests.conftest import credentials_for, start_hub
from tests.log_watch import watching
from tests.processes import run_cli
from tests.test_fleet import until_hub_sees


class Violations:
    """What the server tells a client through nats-py's error callback (permission violations come only there)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.arrived = asyncio.Event()

    async def on_error(self, exc: Exception) -> None:
        self.seen.append(str(exc))
        self.arrived.set()

    async def wait_for(self, words: str, timeout: float = 10) -> str:
        async def found() -> str:
            while True:
                for text in self.seen:
                    if words in text:
                        return text
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(found(), timeout)


async def raw_client(url: str, creds: Credentials | None, violations: Violations) -> Client:
    """A plain nats-py client (no pi-edge wrapper): what anyone on the network could write."""
    extra = {"nkeys_seed_str": creds.seed} if creds else {}
    return await nats.connect(url, error_cb=violations.on_error, allow_reconnect=False, connect_timeout=3, **extra)


class RawLeaf:
    """A hand-written leaf connection, as a tampered Pi could open one: the hub's own checks, not the Pi's
    leaf server's, are what it meets."""

    def __init__(self, port: int, creds: Credentials, name: str) -> None:
        import nkeys

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        info = json.loads(self.line().split(b" ", 1)[1])
        key = nkeys.from_seed(bytearray(creds.seed.encode()))
        sig = base64.urlsafe_b64encode(key.sign(info["nonce"].encode())).rstrip(b"=").decode()
        hello = {"nkey": key.public_key.decode(), "sig": sig, "name": name, "headers": True, "version": "2.15.1"}
        self.send(f"CONNECT {json.dumps(hello)}\r\nPING\r\n")

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def until_error(self, timeout: float = 10) -> str:
        """The first -ERR the hub sends (answering its PINGs meanwhile); AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, "the hub sent no error"
            line = self.line()
            if line == b"PING":
                self.send("PONG\r\n")
            elif line.startswith(b"-ERR"):
                return line.decode()

    def close(self) -> None:
        self.sock.close()


async def test_anonymous_clients_and_pi_keys_are_refused_at_the_hub(hub: Hub) -> None:
    with pytest.raises(LatticeUnreachableError, match="refused this client without credentials"):
        await connect(hub.url, name="stranger")
    pi = Credentials.read(await credentials_for(hub, "pi-01"))
    with pytest.raises(LatticeUnreachableError, match="refused this client as host 'pi-01'"):
        await connect(hub.url, name="stolen-pi-key", credentials=pi)  # a Pi's key is for its leaf link only
    code, _, err = await run_cli("hosts", "--nats-url", hub.url)
    assert code == 1 and "refused this client without credentials (Authorization Violation)" in err, err


async def test_the_operator_cannot_take_an_actors_requests(hub: Hub, start_agent, built) -> None:
    """A subscriber at the hub would win every request of the queue group (NATS prefers local ones)."""
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-01")
    await until_hub_sees(hub, "pi-01")
    violations = Violations()
    operator = await raw_client(hub.url, hub.operator, violations)
    try:
        taken: list[bytes] = []

        async def hijack(msg) -> None:  # type: ignore[no-untyped-def]
            taken.append(msg.data)
            await msg.respond(b"forged")

        for subject in ("pe.default.actor.oled-text", "pe.default.host.pi-01.actor.oled-text", "pe.default.actor.>"):
            await operator.subscribe(subject, queue="oled-text", cb=hijack)
        said = await violations.wait_for("permissions violation for subscription to \"pe.default.actor.>\"")
        assert "pe.default.actor.>" in said
        for n in range(10):
            reply = await operator.request(subjects.actor("default", "oled-text"), f"Real {n}".encode(), timeout=10)
            assert reply.data.startswith(b"shown:"), reply.data
        assert taken == [] and agent.bus.image().getbbox() is not None
    finally:
        await operator.close()


async def test_one_pis_key_cannot_control_another_pi(hub: Hub, start_agent, built) -> None:
    pi2 = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-02")
    pi1 = await start_agent({}, hub=hub, name="pi-01")
    await until_hub_sees(hub, "pi-01", "pi-02")
    # A tampered pi-01 speaking the leaf protocol itself: the hub refuses and drops its link.
    leaf = RawLeaf(hub.leafnode_port or 0, Credentials.read(await credentials_for(hub, "pi-01")), "pi-01")
    try:
        body = '{"name": "oled-text"}'
        leaf.send(f"LMSG pe.default.ctl.pi-02.stop {len(body)}\r\n{body}\r\n")
        error = await asyncio.to_thread(leaf.until_error)
        assert error == "-ERR 'Permissions Violation for Publish to \"pe.default.ctl.pi-02.stop\"'", error
    finally:
        leaf.close()
    # An honest pi-01's agent asking the same through its own leaf server: it never leaves pi-01.
    nc = await connect(pi1.url, name="pi-01-agent", credentials=pi1.credentials)
    try:
        await nc.publish(subjects.ctl("default", "pi-02", "stop"), json.dumps({"name": "oled-text"}).encode())
        await nc.publish(subjects.event("default", "pi-02", "host-stopped"), b"{}")
        await nc.flush()
    finally:
        await nc.close()
    # pi-02 keeps serving: its actor answers the laptop and is still wanted.
    lattice = LatticeClient(hub.url, credentials=hub.operator)
    async with lattice:
        assert (await lattice.send("oled-text", b"Still here", host="pi-02")).body.startswith(b"shown:")
        inventory = await lattice.control("pi-02", "inventory", {})
    assert "oled-text" in inventory["actors"] and pi2.service.host is not None
    assert "oled-text" in pi2.service.host.actors


async def test_a_pi_reads_the_stores_but_cannot_create_a_consumer_or_write(hub: Hub, start_agent, built) -> None:
    """A consumer's deliver subject can be aimed at another host's control subject: Pis may not make one."""
    pi2 = await start_agent({}, hub=hub, name="pi-02")
    pi1 = await start_agent({}, hub=hub, name="pi-01")
    await until_hub_sees(hub, "pi-01", "pi-02")
    async with LatticeClient(hub.url, credentials=hub.operator) as lattice:
        await lattice.write_link("oled-text", "pi-02-display")
        digest, _ = await lattice.upload(built["oled-text"].read_bytes())
    nc = await connect(pi1.url, name="pi-01-agent", credentials=pi1.credentials,
                       inbox_prefix=subjects.inbox_prefix("pi-01"))
    stops: list[str] = []
    spy = await connect(pi2.url, name="pi-02-spy", credentials=pi2.credentials)
    try:
        async def on_stop(msg) -> None:  # type: ignore[no-untyped-def]
            stops.append(msg.subject)

        await spy.subscribe(subjects.ctl("default", "pi-02", "stop"), cb=on_stop)
        await subscriptions_live(spy)
        from pi_edge.agent.lattice.link_store import read_links
        from pi_edge.agent.lattice.store import ComponentStore

        assert await read_links(nc) == {"oled-text": "pi-02-display"}  # reads work, without consumers
        fetched = pi1.service.state_dir / "fetched.wasm"
        assert await ComponentStore(nc, timeout=5).fetch(digest, fetched)  # message gets only, no consumer
        assert fetched.read_bytes() == built["oled-text"].read_bytes()
        js = nc.jetstream(domain="hub", timeout=3)
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await js.add_consumer(f"KV_{subjects.LINKS_BUCKET}", deliver_subject=subjects.ctl("default", "pi-02", "stop"))
        kv = await js.key_value(subjects.LINKS_BUCKET)
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await kv.put("oled-text", b"pi-01-display")
        async with LatticeClient(hub.url, credentials=hub.operator) as lattice:
            assert await lattice.links() == {"oled-text": "pi-02-display"}
        assert stops == []
    finally:
        await nc.close()
        await spy.close()


async def test_anyone_on_a_pi_can_display_but_not_control(start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, name="pi-01")
    violations = Violations()
    anonymous = await raw_client(agent.url, None, violations)
    try:
        reply = await anonymous.request(subjects.actor("default", "oled-text"), b"From the Pi", timeout=10)
        assert reply.data.startswith(b"shown:")
        await anonymous.publish(subjects.ctl("default", "pi-01", "scale"), b'{"name": "oled-text", "scale": 3}')
        said = await violations.wait_for("permissions violation for publish")
        assert "pe.default.ctl.pi-01.scale" in said
        with pytest.raises(nats.errors.TimeoutError):  # refused by the Pi's own server: it never reaches the agent
            await anonymous.request(subjects.ctl("default", "pi-01", "inventory"), b"{}", timeout=2)
        assert any("pe.default.ctl.pi-01.inventory" in said for said in violations.seen)
    finally:
        await anonymous.close()
    code, _, err = await run_cli("scale", "oled-text", "3", "--nats-url", agent.url)
    assert code != 0, err
    # On a machine that also runs a hub, the operator.creds found there are a guess the Pi's server does
    # not know: the display still works, as anyone's on the Pi.
    laptop_too = agent.service.state_dir.parent / "laptop-state"
    Credentials.generate("operator", "operator").write(laptop_too / "hub" / "operator.creds")
    code, out, err = await run_cli("display", "--nats-url", agent.url, "Guessed", env={"PI_EDGE_STATE_DIR": str(laptop_too)})
    assert code == 0 and out.startswith("shown:"), err
    assert agent.service.host is not None and agent.service.host.actors["oled-text"].scale == 1
    # The agent's own key (in its state directory, 0600) may: what an admin on the Pi uses.
    assert agent.creds_path.stat().st_mode & 0o077 == 0
    code, out, err = await run_cli("scale", "oled-text", "2", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 0, out + err
    assert agent.service.host.actors["oled-text"].scale == 2


async def test_enrol_writes_private_credentials_and_revoke_disconnects_and_keeps_the_pi_out(
        tmp_path: Path, start_agent, built) -> None:
    state = tmp_path / "hub"
    hub = await start_hub(state)
    try:
        code, out, err = await run_cli("hub", "enroll", "pi-02", "--state-dir", str(state), "-o",
                                       str(tmp_path / "pi-02.creds"))
        assert code == 0, err
        creds = tmp_path / "pi-02.creds"
        assert creds.stat().st_mode & 0o777 == 0o600
        assert "the running hub let in pi-02" in out, out
        assert "--hub-credentials pi-02.creds" in out and f"scp {creds} pi-02.local:" in out, out
        code, _, err = await run_cli("hub", "enroll", "pi-02", "--state-dir", str(state))
        assert code == 1 and "host 'pi-02' is already enrolled" in err, err
        pi2 = await start_agent({"oled-text": built["oled-text"]}, hub=hub, hub_credentials=creds, name=None)
        assert pi2.service.host is not None and pi2.service.host.name == "pi-02"  # its name from its credentials
        await until_hub_sees(hub, "pi-02")

        code, out, err = await run_cli("hub", "revoke", "pi-02", "--state-dir", str(state))
        assert code == 0, err
        assert "the running hub locked out pi-02; disconnected pi-02" in out, out
        assert pi2.service.server is not None
        assert await asyncio.to_thread(pi2.service.server.leaf_refused.wait, 10), "the revoked Pi was not refused"
        async with LatticeClient(hub.url, credentials=hub.operator, timeout=1) as lattice:
            assert [h["name"] for h in await lattice.ping()] == []
        leaf_port = hub.leafnode_port
        await hub.stop()
        hub = await start_hub(state, leafnode_port=leaf_port)
        pi2.service.server.leaf_refused.clear()
        assert await asyncio.to_thread(pi2.service.server.leaf_refused.wait, 10), "revoked, yet back after a restart"
        assert not pi2.service.server.leaf_connected.is_set()
    finally:
        await hub.stop()


async def test_a_name_that_does_not_match_its_credentials_is_refused(hub: Hub, start_agent, tmp_path: Path) -> None:
    creds = await credentials_for(hub, "pi-01")
    with pytest.raises(CredentialsError, match="host name 'pi-02' does not match its credentials: .* is the key of "
                                               "host 'pi-01'"):
        await start_agent({}, hub=hub, name="pi-02", hub_credentials=creds)
    code, _, err = await run_cli("agent", "--name", "pi-02", "--hub", f"nats-leaf://127.0.0.1:{hub.leafnode_port}",
                                 "--hub-credentials", str(creds), "--port", "0", "--state-dir", str(tmp_path / "pi"))
    assert code == 2, err
    assert "--name 'pi-02' does not match its credentials" in err and "enroll pi-02" in err, err
    # A leaf server that skips the agent's check: the hub kicks it, whatever name it claims.
    config = leaf_config("pi-02", 0, f"nats-leaf://127.0.0.1:{hub.leafnode_port}",
                         agent_key=Credentials.generate("agent", "x").public_key,
                         anonymous_key=Credentials.generate("agent", "y").public_key,
                         hub_seed=Credentials.read(creds).seed)
    impostor = NatsServer(config, tmp_path / "impostor")
    with watching("pi_edge.hub") as hub_log:
        impostor.start()
        try:
            await hub_log.until_said("a leaf using host 'pi-01''s key calls itself 'pi-02': kicked", 15)
        finally:
            impostor.stop()


async def test_the_gateway_forwards_to_actors_and_nothing_else(hub: Hub) -> None:
    violations = Violations()
    gateway = await raw_client(hub.url, hub.gateway_creds, violations)
    try:
        await gateway.publish(subjects.ctl("default", "pi-01", "stop"), b"{}")
        await violations.wait_for("permissions violation for publish to \"pe.default.ctl.pi-01.stop\"")
        await gateway.subscribe(subjects.actor("default", "oled-text"), queue="oled-text")
        await violations.wait_for("permissions violation for subscription to \"pe.default.actor.oled-text\"")
        with pytest.raises(nats.errors.NoRespondersError):  # allowed: nobody serves it here
            await gateway.request(subjects.actor("default", "oled-text"), b"x", timeout=5)
    finally:
        await gateway.close()


async def test_request_helper_still_names_a_missing_actor(hub: Hub) -> None:
    nc = await connect(hub.url, name="laptop", credentials=hub.operator)
    try:
        with pytest.raises(Exception, match="no actor 'ghost' is running"):
            await request(nc, subjects.actor("default", "ghost"), b"", None, 5, what="actor 'ghost'")
    finally:
        await nc.close()


async def test_a_stored_message_pushed_at_a_control_subject_is_not_a_control_request(hub: Hub, start_agent,
                                                                                    built) -> None:
    """A JetStream consumer can deliver stored messages to any subject, a host's control subjects included
    (Pis may not create consumers; this is the host's own guard against whoever can)."""
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-01")
    await until_hub_sees(hub, "pi-01")
    nc = await connect(hub.url, name="laptop", credentials=hub.operator)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket=subjects.LINKS_BUCKET)
        await kv.put("stop", json.dumps({"name": "oled-text"}).encode())
        with watching("pi_edge.host") as log:
            await js.add_consumer(f"KV_{subjects.LINKS_BUCKET}",
                                  deliver_subject=subjects.ctl("default", "pi-01", "stop"))
            await log.until_said(f"pi-01 ignored a message on its stop subject that was sent to "
                                 f"$KV.{subjects.LINKS_BUCKET}.stop", 15)
        assert agent.service.host is not None and "oled-text" in agent.service.host.actors
    finally:
        await nc.close()
