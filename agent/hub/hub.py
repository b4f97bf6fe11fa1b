"""The hub process on the laptop: its nats-server, the leaf credentials Pis join with, and the
HTTP gateway if asked for, served until SIGINT or SIGTERM.

If the nats-server dies underneath, the hub stops as a signal would stop it but
exits 1, so that systemd's Restart=on-failure starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_edge.agent.errors import ConfigError, PortInUseError
from pi_edge.agent.host.config import directory_problem
from pi_edge.agent.host.options import AgentOptions
from pi_edge.agent.hub.gateway import HttpGateway
from pi_edge.agent.lattice.credentials import LeafCredentials
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import hub_config
from pi_edge.agent.paths import default_state_dir
from pi_edge.agent.signals import set_from_thread, start_unless_stopped, stop_on_signals, stop_when

log = logging.getLogger("pi_edge.hub")

PROG = "pi-edge hub"


#: The client port an agent's own leaf server takes unless told otherwise.
AGENT_PORT = AgentOptions.port


@dataclass(frozen=True)
class HubOptions:
    """What ``pi-edge hub`` was asked for; port 0 picks a free one."""

    listen: str = "0.0.0.0"  # clients and leaf nodes
    port: int = 4222
    leafnode_port: int = 7422
    state_dir: Path | None = None  # default: $PI_EDGE_STATE_DIR/hub or ~/.local/state/pi-edge/hub
    auth: bool = True  # leaf nodes must present the credentials kept in the state directory
    tls_cert: str | None = None  # the leaf port speaks TLS with this certificate and key
    tls_key: str | None = None
    http_port: int | None = None  # also serve the HTTP gateway on this port
    http_listen: str = "127.0.0.1"


class Hub:
    """The hub's parts, made ready to start: the state directory checked, the credentials read or made."""

    def __init__(self, options: HubOptions) -> None:
        self.options = options
        state = options.state_dir or default_state_dir() / "hub"
        if options.state_dir is None and (problem := directory_problem(state)) is not None:
            raise ConfigError(f"cannot use the hub's state directory {state} ({problem}); "
                              "pick another with --state-dir")
        self.credentials_path = state / "leaf.creds"
        self.credentials: LeafCredentials | None = None
        if options.auth:
            if self.credentials_path.exists():
                self.credentials = LeafCredentials.read(self.credentials_path)
            else:
                self.credentials = LeafCredentials.generate()
                self.credentials.write(self.credentials_path)
        self.server = NatsServer(hub_config(options.listen, options.port, options.leafnode_port,
                                            store_dir=str(state / "jetstream"), credentials=self.credentials,
                                            tls_cert=options.tls_cert, tls_key=options.tls_key))
        self.gateway: HttpGateway | None = None
        self.lost = asyncio.Event()  # the nats-server exited by itself

    async def start(self) -> None:
        self.server.on_exit = set_from_thread(self.lost)
        try:
            await self.server.start_async()
        except PortInUseError as exc:
            raise exc.naming("--leafnode-port" if exc.port == self.options.leafnode_port else "--port") from None
        if self.options.http_port is not None:
            self.gateway = HttpGateway(self.server.url, listen=self.options.http_listen, port=self.options.http_port)
            await self.gateway.start()

    async def stop(self) -> None:
        """Safe at any point of ``start``, and twice."""
        if self.gateway is not None:  # first: its NATS client closes while the server is still up
            await self.gateway.stop()
        await asyncio.to_thread(self.server.stop)

    def announcement(self) -> list[str]:
        """What a person needs once the hub runs: where it listens, and what to run on each Pi."""
        o, server, creds = self.options, self.server, self.credentials
        lines = [f"{PROG}: clients on {o.listen}:{server.client_port}, "
                 f"leaf nodes on {o.listen}:{server.leafnode_port}{' (TLS)' if o.tls_cert else ''}"]
        how = f" --hub-credentials {self.credentials_path}" if creds else ""
        lines.append(f"  on the Pi:  pi-edge agent --hub nats-leaf://<this-machine>:{server.leafnode_port}{how}")
        if server.client_port == AGENT_PORT:  # an agent's own server wants that port too
            lines.append(f"  an agent on this machine also needs --port 0: the hub has port {AGENT_PORT}")
        if creds:
            lines.append(f"  leaf credentials: {self.credentials_path} (copy it to each Pi; a leaf without it is "
                         "refused)")
        else:
            lines.append("  leaf port open to anyone who can reach it (--no-auth)")
        if self.gateway is not None:
            lines.append(f"  HTTP gateway: {self.gateway.url}  (curl -d 'Hello' {self.gateway.url})")
        lines.append("  Ctrl-C stops the hub")
        return lines


async def serve(hub: Hub, say: Callable[[str], None]) -> int:
    """Start, announce, wait for SIGINT/SIGTERM, stop; a signal during start stops too.  The exit code."""
    stopping = stop_on_signals()
    asyncio.get_running_loop().set_exception_handler(AcceptErrors().handle)
    relay = stop_when(hub.lost, stopping)
    started = False
    try:
        started, _ = await start_unless_stopped(hub.start(), stopping)
        if started:
            for line in hub.announcement():
                say(line)
            await stopping.wait()
        return 1 if hub.lost.is_set() else 0
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        if hub.lost.is_set():
            log.info("%s: stopping because its nats-server is gone; exit code 1 so that systemd "
                     "(Restart=on-failure) starts it again", PROG)
        await hub.stop()
        if started:
            say(f"{PROG}: stopped")


class AcceptErrors:
    """asyncio reports each failed accept (out of file descriptors: EMFILE) with a traceback, and retries
    in a loop: 49 000 of them, 22 MB of log, in 20 s.  Said once, then once every REPORT_S with a count."""

    REPORT_S = 10.0

    def __init__(self) -> None:
        self.last = float("-inf")
        self.since = 0

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "socket.accept() out of system resource" not in str(context.get("message", "")):
            loop.default_exception_handler(context)
            return
        self.since += 1
        now = time.monotonic()
        if now - self.last >= self.REPORT_S:
            exc = context.get("exception")
            log.error("%s: cannot accept connections: %s (%d time(s) since the last report); the process is out "
                      "of file descriptors", PROG, exc, self.since)
            self.last, self.since = now, 0


def run_hub(options: HubOptions, say: Callable[[str], None]) -> int:
    """``pi-edge hub``: everything up, served until a signal; ``say`` prints a line for the person."""
    hub = Hub(options)
    return asyncio.run(serve(hub, say))
