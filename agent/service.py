"""The agent's lifecycle: leaf server up, connect, actors in, serve; then the reverse.

Kept apart from the CLI so tests run the very same code in-process with a
provider over a fake bus.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client

from . import subjects
from .build import build_actor
from .errors import ConfigError, NatsServerError
from .host import Host, default_host_name
from .lattice import connect
from .limits import Limits
from .natsserver import NatsServer, leaf_config
from .provider import DisplayProvider
from .runtime import Runtime

log = logging.getLogger("pi_edge.agent")


@dataclass
class ActorSpec:
    """``NAME=PATH``: PATH is a built component (.wasm) or an actor source directory."""

    name: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> "ActorSpec":
        name, sep, path = text.partition("=")
        if not sep:
            path, name = name, Path(name).name.removesuffix(".wasm").replace("_", "-")
        try:
            subjects.check_token("actor", name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(name, Path(path))


@dataclass
class AgentOptions:
    lattice: str = subjects.DEFAULT_LATTICE
    name: str | None = None
    hub: str | None = None  # leaf remote, e.g. nats-leaf://laptop:7422
    nats_url: str | None = None  # use this server instead of starting one
    host: str = "127.0.0.1"
    port: int = 4222
    actors: list[ActorSpec] = field(default_factory=list)
    cache_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)


class AgentService:
    def __init__(self, options: AgentOptions, provider: DisplayProvider) -> None:
        self.options = options
        self.provider = provider
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.runtime: Runtime | None = None
        self.host: Host | None = None

    @property
    def url(self) -> str:
        if self.options.nats_url:
            return self.options.nats_url
        assert self.server is not None
        return self.server.url

    async def start(self) -> Host:
        """Everything up, or everything that was started stopped again and the error raised."""
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> Host:
        opts = self.options
        name = opts.name or default_host_name()
        if not opts.nats_url:
            config = leaf_config(name, opts.port, opts.hub, host=opts.host)
            self.server = await asyncio.to_thread(NatsServer(config).start)
            if opts.hub:
                log.info("agent: leaf server joins hub %s", opts.hub)
        self.nc = await connect(self.url, name=f"pi-edge-agent-{name}", timeout=5.0, reconnect=True)
        self.runtime = Runtime(cache_dir=opts.cache_dir)
        self.host = Host(self.nc, self.runtime, self.provider, lattice=opts.lattice, name=name,
                         limits=opts.limits)
        for spec in opts.actors:
            path = spec.path
            if path.is_dir():
                path = (await asyncio.to_thread(build_actor, path, opts.cache_dir)).path
            await self.host.start_actor(spec.name, path)
        await self.host.start_control()
        return self.host

    async def wait_for_hub(self, timeout: float) -> bool:
        """True once the leaf server holds a connection to the hub."""
        if self.server is None:
            raise NatsServerError("this agent uses --nats-url; it has no leaf server of its own")
        return await asyncio.to_thread(self.server.leaf_connected.wait, timeout)

    async def stop(self) -> None:
        """Stop serving, close NATS, stop the leaf server; safe to call twice."""
        if self.host is not None:
            await self.host.stop()
            self.host = None
        if self.nc is not None:
            try:
                await self.nc.drain()
            except Exception as exc:
                log.debug("agent: drain failed: %s", exc)
            self.nc = None
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
            self.server = None
