"""The embedded nats-server: real processes, ports chosen by the server itself."""

import asyncio
import os
import signal
import sys
import threading
from typing import Any

import nats
import pytest

from pi_edge.agent.errors import NatsServerError
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import HubAccess, ServerConfig, hub_config, leaf_config
from pi_edge.agent.trust.credentials import new_user_seed, public_key
from tests.processes import ENV, alive, children, exited

# A process that starts a server the way `pi-edge hub` does (on its event loop), says so, and waits.
HOLDER = """
import asyncio, sys, tempfile
from pathlib import Path
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import ServerConfig

async def main():
    server = await NatsServer(ServerConfig("holder", port=0), Path(sys.argv[1])).start_async()
    print(server.url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def key() -> str:
    return public_key(new_user_seed())


def access() -> HubAccess:
    return HubAccess(operator=key(), gateway=key(), hub=key(), system=key())


def plain_hub(name: str = "hub", **config: Any) -> ServerConfig:
    """A hub-shaped server (clients and a leaf port) with no users: the server's own behaviour under test."""
    return ServerConfig(name=name, port=0, leafnode_listen="127.0.0.1", leafnode_port=0, **config)


def test_config_renders_leaf_remote_and_random_ports() -> None:
    text = leaf_config("pi-01", 0, "nats-leaf://laptop:7422", agent_key=key(), anonymous_key=key()).render()
    assert 'listen: "127.0.0.1:-1"' in text
    assert '"nats-leaf://laptop:7422"' in text
    assert 'ping_interval: "2s"' in text and "ping_max: 2" in text
    hub = hub_config("0.0.0.0", 4222, 7422, access()).render()
    assert 'listen: "0.0.0.0:7422"' in hub and "remotes" not in hub
    assert 'ping_interval: "2s"' in hub and "ping_max: 2" in hub


async def test_hub_and_leaf_carry_a_message_across_the_leaf_link(tmp_path) -> None:
    with NatsServer(plain_hub(jetstream_dir=str(tmp_path / "js")), tmp_path / "hub") as hub:
        assert hub.client_port and hub.leafnode_port
        leaf = NatsServer(ServerConfig("leaf", port=0, remotes=[f"nats-leaf://127.0.0.1:{hub.leafnode_port}"]),
                          tmp_path / "leaf")
        with leaf:
            assert await asyncio.to_thread(leaf.leaf_connected.wait, 10)
            on_leaf = await nats.connect(leaf.url)
            on_hub = await nats.connect(hub.url)
            try:
                async def pong(msg: nats.aio.msg.Msg) -> None:
                    await msg.respond(b"pong:" + msg.data)

                sub = await on_leaf.subscribe("probe", cb=pong)
                await on_leaf.flush()
                reply = None
                for _ in range(100):  # interest crosses the leaf link shortly after the flush
                    try:
                        reply = await on_hub.request("probe", b"1", timeout=0.2)
                        break
                    except nats.errors.NoRespondersError:
                        await asyncio.sleep(0.02)
                assert reply is not None and reply.data == b"pong:1"
                await sub.unsubscribe()
            finally:
                await on_leaf.close()
                await on_hub.close()
        assert not leaf.running()
    assert not hub.running()


async def test_an_ipv6_listen_address_serves_clients(tmp_path) -> None:
    """``--host ::1`` reached nats-server as ``::1:-1``, which it cannot parse: the address needs brackets."""
    with NatsServer(ServerConfig("v6", listen="::1", port=0), tmp_path) as server:
        assert server.url == f"nats://[::1]:{server.client_port}"
        nc = await nats.connect(server.url)
        try:
            sub = await nc.subscribe("probe")
            await nc.publish("probe", b"1")
            assert (await sub.next_msg(timeout=5)).data == b"1"
        finally:
            await nc.close()


def test_port_in_use_is_reported_with_the_servers_words(tmp_path) -> None:
    with NatsServer(plain_hub(), tmp_path / "first") as first:
        clash = NatsServer(ServerConfig(name="clash", port=first.client_port or 0), tmp_path / "clash")
        with pytest.raises(NatsServerError, match="did not start"):
            clash.start(timeout=5)
        assert not clash.running()


def test_missing_binary_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(NatsServerError, match="cannot run"):
        NatsServer(plain_hub(), tmp_path, binary="/nonexistent/nats-server").start()


async def test_the_server_exits_when_its_parent_is_killed(tmp_path) -> None:
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER, str(tmp_path), env=ENV,
                                                  stdout=asyncio.subprocess.PIPE, start_new_session=True)
    servers: list[int] = []
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.startswith(b"nats://"), line
        servers = children(holder.pid)
        assert servers
        assert all(os.getsid(pid) == pid for pid in servers), "the server shares its parent's session"
        holder.kill()
        await holder.wait()
        assert all([await exited(pid, 10) for pid in servers]), "nats-server outlived its SIGKILLed parent"
    finally:
        for pid in servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


def test_an_unexpected_exit_is_reported_once_and_a_stop_is_not(caplog: pytest.LogCaptureFixture, tmp_path) -> None:
    reasons: list[str] = []
    reported = threading.Event()

    def on_exit(reason: str) -> None:
        reasons.append(reason)
        reported.set()

    server = NatsServer(plain_hub("doomed"), tmp_path, on_exit=on_exit)
    with server:
        pass
    assert reasons == [] and "exited unexpectedly" not in caplog.text  # stop() is expected
    server.start()
    try:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        assert reported.wait(10), "on_exit was not called"
    finally:
        server.stop()
    assert reasons == ["nats-server 'doomed' exited unexpectedly (killed by SIGKILL)"]
    assert [r.levelname for r in caplog.records if "exited unexpectedly" in r.getMessage()] == ["ERROR"]


def test_a_config_the_server_refuses_is_reported_with_its_reason(tmp_path) -> None:
    """Such errors come before the server's log starts, as a bare line and an empty one."""
    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("not a certificate\n")
    server = NatsServer(hub_config("127.0.0.1", 0, 0, access(), tls_cert=str(bad), tls_key=str(bad)), tmp_path)
    with pytest.raises(NatsServerError, match=r"did not start on 127\.0\.0\.1:0: error parsing X509 certificate/key "
                                              r"pair: tls: failed to find any PEM data in certificate input$"):
        server.start(timeout=5)
    assert not server.running()
