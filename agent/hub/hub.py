"""The hub process on the laptop: its nats-server with who may do what, the watcher of its Pis' links,
the control socket ``enroll`` and ``revoke`` use, and the HTTP gateway if asked for, served until SIGINT
or SIGTERM.

Its state directory (mode 0700) holds the enrolment table and
``operator.creds``; the keys of the hub's own connections (gateway, watcher)
are made at each start and never written down.  If the nats-server dies
underneath, the hub stops as a signal would stop it but exits 1, so that
systemd's Restart=on-failure starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_edge.agent.errors import ConfigError, EnrolmentError, PortInUseError
from pi_edge.agent.host.config import directory_problem
from pi_edge.agent.host.options import AgentOptions
from pi_edge.agent.hub.admin import AdminSocket
from pi_edge.agent.hub.gateway import HttpGateway
from pi_edge.agent.hub.watch import HubWatch
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import HubAccess, ServerConfig, hub_config
from pi_edge.agent.paths import default_state_dir
from pi_edge.agent.signals import set_from_thread, start_unless_stopped, stop_on_signals, stop_when
from pi_edge.agent.trust.credentials import Credentials, new_user_seed, public_key
from pi_edge.agent.trust.enrolment import Enrolment, private_dir

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
    auth: bool = True  # only enrolled Pis and the operator get in (--no-auth: anyone, every right)
    tls: bool = False  # make a private CA and a certificate (first start), TLS on the leaf port
    tls_names: tuple[str, ...] = ()  # more names or addresses the certificate must cover
    tls_cert: str | None = None  # the leaf port speaks TLS with this certificate and key
    tls_key: str | None = None
    http_port: int | None = None  # also serve the HTTP gateway on this port
    http_listen: str = "127.0.0.1"
    name: str = "pi-edge-hub"


def hub_state_dir(given: Path | None) -> Path:
    """``given``, else the default (``$PI_EDGE_STATE_DIR/hub``), checked; ConfigError says why it cannot be used."""
    state = given or default_state_dir() / "hub"
    if (problem := directory_problem(state)) is not None:
        raise ConfigError(f"cannot use the hub's state directory {state} ({problem}); pick another with --state-dir")
    return private_dir(state)


class Hub:
    """The hub's parts, made ready to start: the state directory checked, the keys read or made."""

    def __init__(self, options: HubOptions) -> None:
        self.options = options
        self.state_dir = hub_state_dir(options.state_dir)
        self.enrolment = Enrolment(self.state_dir)
        self.tls_cert, self.tls_key = options.tls_cert, options.tls_key
        if options.tls:
            from pi_edge.agent.trust.tls import ensure_hub_tls

            extra = [options.listen] if options.listen not in ("0.0.0.0", "::") else []
            cert, key = ensure_hub_tls(self.state_dir, [*extra, *options.tls_names])
            self.tls_cert, self.tls_key = str(cert), str(key)
        self.operator = self.enrolment.operator()
        # The hub's own connections: new keys at every start, seeds only in memory.
        self.gateway_creds = Credentials.generate("gateway", "gateway")
        self.hub_creds = Credentials.generate("hub", "hub")
        self.system_creds = Credentials.generate("hub", "system")
        self._open_key = public_key(new_user_seed())
        self._applied = self._enrolled()  # the hosts the server lets in: name -> key
        self.server = NatsServer(self._config(self._applied), self.state_dir / "nats")
        self.watch: HubWatch | None = None
        self.admin = AdminSocket(self.state_dir, self._on_admin)
        self.gateway: HttpGateway | None = None
        self.lost = asyncio.Event()  # the nats-server exited by itself
        self._applying = asyncio.Lock()

    def _enrolled(self) -> dict[str, str]:
        return {name: host.key for name, host in self.enrolment.hosts().items()}

    def _config(self, enrolled: dict[str, str]) -> ServerConfig:
        o = self.options
        access = HubAccess(operator=self.operator.public_key, gateway=self.gateway_creds.public_key,
                           hub=self.hub_creds.public_key, system=self.system_creds.public_key,
                           hosts=enrolled, open=not o.auth,
                           open_user=self._open_key)
        return hub_config(o.listen, o.port, o.leafnode_port, access, name=o.name,
                          store_dir=str(self.state_dir / "jetstream"), tls_cert=self.tls_cert, tls_key=self.tls_key)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def leafnode_port(self) -> int | None:
        return self.server.leafnode_port

    @property
    def operator_path(self) -> Path:
        return self.enrolment.operator_path

    async def start(self) -> None:
        self.server.on_exit = set_from_thread(self.lost)
        try:
            await self.server.start_async()
        except PortInUseError as exc:
            raise exc.naming("--leafnode-port" if exc.port == self.options.leafnode_port else "--port") from None
        if not self.options.auth:
            log.warning("%s: --no-auth: anyone who can reach ports %s and %s controls every Pi, deploys and reads "
                        "everything; for development on a trusted network only", PROG, self.server.client_port,
                        self.server.leafnode_port)
        self.watch = HubWatch(self.url, self.system_creds, self.hub_creds, self._enrolled)
        self.watch.enrolled_only = self.options.auth
        await self.watch.start()
        await self.admin.start()
        if self.options.http_port is not None:
            self.gateway = HttpGateway(self.url, listen=self.options.http_listen, port=self.options.http_port,
                                       credentials=self.gateway_creds)
            await self.gateway.start()

    async def stop(self) -> None:
        """Safe at any point of ``start``, and twice."""
        await self.admin.stop()
        if self.gateway is not None:  # first: its NATS client closes while the server is still up
            await self.gateway.stop()
        if self.watch is not None:
            await self.watch.stop()
            self.watch = None
        await asyncio.to_thread(self.server.stop)

    # -- enrolment, applied live --------------------------------------------------------------------

    async def enroll(self, name: str) -> Path:
        """Enrol ``name`` and let it in (as ``pi-edge hub enroll`` does): the path of its credentials."""
        path = self.state_dir / "hosts" / f"{name}.creds"
        self.enrolment.enroll(name, path)
        if self.server.running():  # else it is let in at the next start, which reads the table
            await self.apply()
        return path

    async def apply(self) -> str:
        """The enrolment table as it is now: the server reloaded, every leaf of a key no longer enrolled
        disconnected.  What was done, in a sentence."""
        async with self._applying:
            before, enrolled = self._applied, self._enrolled()
            await asyncio.to_thread(self.server.reload, self._config(enrolled))
            self._applied = enrolled
            kicked = []
            if self.watch is not None:
                for name, key in before.items():
                    if enrolled.get(name) != key and await self.watch.kick_key(key, f"host {name} was revoked"):
                        kicked.append(name)
            changes = (("let in", sorted(enrolled.keys() - before.keys())),
                       ("locked out", sorted(before.keys() - enrolled.keys())), ("disconnected", kicked))
            done = [f"{what} {', '.join(names)}" for what, names in changes if names]
            return "the running hub " + ("; ".join(done) if done else "had nothing to change")

    async def _on_admin(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") != "apply":
            raise EnrolmentError(f"unknown request {request.get('op')!r}")
        return {"message": await self.apply(), "leafnode_port": self.server.leafnode_port}

    def announcement(self) -> list[str]:
        """What a person needs once the hub runs: where it listens, and how Pis join."""
        o, server = self.options, self.server
        tls = " (TLS)" if self.tls_cert else ""
        lines = [f"{PROG}: clients on {o.listen}:{server.client_port}, leaf nodes on {o.listen}:{server.leafnode_port}"
                 f"{tls}"]
        if server.client_port == AGENT_PORT:  # an agent's own server wants that port too
            lines.append(f"  an agent on this machine also needs --port 0: the hub has port {AGENT_PORT}")
        if o.auth:
            lines.append(f"  operator credentials: {self.operator_path} (laptop commands find them there)")
            lines.append(f"  enrol each Pi:  pi-edge hub enroll NAME{self._state_flag()}  "
                         f"({len(self.enrolment.hosts())} enrolled)")
        else:
            lines.append("  --no-auth: anyone who can reach these ports has every right")
        if self.gateway is not None:
            lines.append(f"  HTTP gateway: {self.gateway.url}  (curl -d 'Hello' {self.gateway.url})")
        lines.append("  Ctrl-C stops the hub")
        return lines

    def _state_flag(self) -> str:
        return f" --state-dir {self.state_dir}" if self.options.state_dir is not None else ""


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
