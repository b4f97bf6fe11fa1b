"""The agent's lifecycle: leaf server up, connect, actors in, serve; then the reverse.

Kept apart from the CLI so tests run the very same code in-process with a
provider over a fake bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import (
    ActorLoadError,
    BuildError,
    ConfigError,
    ControlError,
    NatsServerError,
    PiEdgeError,
    ProviderError,
)
from pi_edge.agent.host.desired import DesiredActor, DesiredState
from pi_edge.agent.host.host import MAX_SCALE, REFUSALS, Host, NotRunning, default_host_name
from pi_edge.agent.host.links import LinkTable
from pi_edge.agent.host.supervision import SupervisionPolicy
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.nats_server import LeafCredentials, NatsServer, leaf_config, redact
from pi_edge.agent.lattice.store import ComponentStore, read_links
from pi_edge.agent.signals import set_from_thread
from pi_edge.agent.trust import claims
from pi_edge.agent.trust.claims import TrustPolicy
from pi_edge.agent.trust.identity import AUTOMATIC_LABELS, HostIdentity, default_state_dir
from pi_edge.agent.wasm.build import build_actor_async
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime

log = logging.getLogger("pi_edge.agent")


@dataclass
class ActorSpec:
    """``NAME=PATH``: PATH is a built component (.wasm) or an actor source directory."""

    name: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> ActorSpec:
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
    state_dir: Path | None = None  # host key, desired state, fetched components
    labels: dict[str, str] = field(default_factory=dict)
    heartbeat_s: float = 30.0
    supervision: SupervisionPolicy = field(default_factory=SupervisionPolicy)
    trusted: list[str] = field(default_factory=list)  # issuer public keys whose signed actors run here
    allow_unsigned: bool = False  # development only
    hub_credentials: Path | None = None  # the file 'pi-edge hub' wrote
    hub_ca: Path | None = None  # verify the hub's TLS certificate with this CA


class AgentService:
    def __init__(self, options: AgentOptions, provider: DisplayProvider) -> None:
        self.options = options
        self.provider = provider
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.runtime: Runtime | None = None
        self.host: Host | None = None
        self.desired: DesiredState | None = None
        self.link_table: LinkTable | None = None
        self.identity: HostIdentity | None = None
        self.state_dir: Path | None = None
        self.running: dict[str, DesiredActor] = {}  # deployed actors, as saved in the state directory
        #: What ``start`` is doing now, for systemd's status line while it runs (a first start takes minutes on a Pi).
        self.phase = "not started"
        self.on_phase: Callable[[str], None] | None = None  # told each new phase
        self._links_later: asyncio.Task[None] | None = None  # fetches links once a late hub link comes up
        #: Set when the leaf server exits without being stopped: nothing reaches this host's actors any more,
        #: so the agent stops and exits non-zero for systemd to restart it.
        self.server_exited = asyncio.Event()

    @property
    def url(self) -> str:
        if self.options.nats_url:
            return self.options.nats_url
        assert self.server is not None
        return self.server.url

    def _enter(self, phase: str) -> None:
        self.phase = phase
        if self.on_phase is not None:
            self.on_phase(phase)

    async def start(self) -> Host:
        """Everything up, or everything that was started stopped again and the error raised."""
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> Host:
        opts = self.options
        self._enter("reading the state directory")
        name = opts.name or default_host_name()
        state_dir = opts.state_dir or default_state_dir()
        identity = HostIdentity.create(state_dir, name, opts.labels, self.provider.info().driver)
        self.desired = DesiredState(state_dir)
        wanted = self.desired.load()
        if not opts.nats_url:
            creds = LeafCredentials.read(opts.hub_credentials) if opts.hub_credentials else None
            config = leaf_config(name, opts.port, opts.hub, host=opts.host, credentials=creds,
                                 tls_ca=str(opts.hub_ca) if opts.hub_ca else None)
            self._enter("starting the leaf nats-server")
            # Kept before it is up: a stop while it starts stops it.
            self.server = NatsServer(config, on_exit=set_from_thread(self.server_exited))
            await self.server.start_async()
            if opts.hub:
                log.info("agent: leaf server joins hub %s%s", redact(opts.hub),
                         " with credentials" if creds or "@" in opts.hub else "")
        self.nc = await connect(self.url, name=f"pi-edge-agent-{name}", timeout=5.0, reconnect=True)
        self.runtime = Runtime(cache_dir=opts.cache_dir)
        self.link_table = LinkTable(state_dir)
        if opts.allow_unsigned:
            log.warning("agent: --allow-unsigned: unsigned actors will run; for development only")
        # What this host builds from source it signs itself, so its own key is trusted too.
        policy = TrustPolicy(frozenset(opts.trusted) | {identity.id}, opts.allow_unsigned)
        self.host = Host(self.nc, self.runtime, self.provider, lattice=opts.lattice, name=name,
                         limits=opts.limits, host_id=identity.id, labels=identity.labels,
                         links=self.link_table.load(), policy=policy, supervision=opts.supervision,
                         url=self.url)
        if opts.hub or opts.nats_url:
            self._enter("fetching display links from the hub")
            if not await self._refresh_links() and self.server is not None:
                self._links_later = asyncio.ensure_future(self._refresh_links_once_joined())
        self.identity, self.state_dir = identity, state_dir
        for spec in opts.actors:
            await self._start_configured(spec)
        if opts.actors and not self.host.actors:
            log.warning("agent: no configured actor started (see the errors above); the agent still answers "
                        "control requests, deploys and display calls: fix them and reload (SIGHUP)")
        self._enter("restoring deployed actors")
        await self._restore(wanted)
        self._enter("subscribing to the lattice")
        await self.host.start_control({"deploy": self._deploy, "stop": self._stop_actor, "scale": self._scale,
                                       "link": self._link})
        if opts.heartbeat_s > 0:
            self.host.start_heartbeat(opts.heartbeat_s)
        self.phase = "running"
        return self.host

    async def reconfigure(self, new: AgentOptions) -> None:
        """Apply a re-read configuration without dropping the lattice connection.

        Labels, trust, limits (for instances started from now on), heartbeat and
        the actors listed in the configuration change live; the rest needs a restart.
        """
        host, old = self.host, self.options
        if host is None:
            return
        found = {k: v for k, v in host.labels.items() if k in AUTOMATIC_LABELS}
        host.labels = {**found, **new.labels}
        revoked = await host.apply_policy(TrustPolicy(frozenset(new.trusted) | {host.id}, new.allow_unsigned))
        host.limits = new.limits
        if new.heartbeat_s != old.heartbeat_s:
            host.stop_heartbeat()
            if new.heartbeat_s > 0:
                host.start_heartbeat(new.heartbeat_s)
        before = {spec.name: spec.path for spec in old.actors}
        after = {spec.name: spec for spec in new.actors}
        for name in before.keys() - after.keys():
            if name not in self.running:
                host.not_running.pop(name, None)  # no longer wanted, so no longer "not running"
                if name in host.actors:
                    await host.stop_actor(name)
        for name, spec in after.items():
            unchanged = before.get(name) == spec.path
            # One this reload just stopped for its trust would only be refused again.
            if not unchanged or (name not in host.actors and name not in revoked):
                try:
                    await self._start_configured(spec)
                except PiEdgeError as exc:  # a bad new entry must not take the others down
                    log.error("reload: actor=%s not started: %s", name, exc)
                    host.not_running[name] = NotRunning(str(exc), refused=False)
        # Trust may have changed since they failed: deployed actors that did not start get another chance.
        await self._restore_desired([name for name in self.running if name not in host.actors.keys() | revoked.keys()])
        old.labels, old.trusted, old.allow_unsigned = new.labels, new.trusted, new.allow_unsigned
        old.limits, old.heartbeat_s, old.actors = new.limits, new.heartbeat_s, new.actors
        self.phase = "running"

    async def _start_configured(self, spec: ActorSpec) -> None:
        """Start a configured actor; one the host refuses or cannot load is recorded, not raised.

        A refusal (trust, claims, capabilities), a build that fails or a component
        that does not fit the world will be the same after a restart, so exiting
        would only make systemd restart the agent in a loop: the rest of it runs
        on.  (A missing file is caught earlier, as a configuration error.)
        """
        assert self.host is not None
        try:
            await self._start_spec(spec)
        except (*REFUSALS, ActorLoadError, BuildError) as exc:  # a refusal's actor-refused event is published
            log.error("agent: %s; the agent runs without it", exc)
            self.host.not_running[spec.name] = NotRunning(str(exc), refused=isinstance(exc, REFUSALS))

    async def _start_spec(self, spec: ActorSpec) -> None:
        assert self.host is not None and self.identity is not None and self.state_dir is not None
        path = spec.path
        if path.is_dir():
            self._enter(f"building actor {spec.name} from {path} (a first build takes minutes on a small Pi)")
            built = await build_actor_async(spec.path, self.options.cache_dir)
            path = await asyncio.to_thread(self._sign_local, spec.name, built.path, self.identity, self.state_dir)
        self._enter(f"loading actor {spec.name} (compiled once, then cached)")
        await self.host.start_actor(spec.name, path)

    @staticmethod
    def _sign_local(name: str, built: Path, identity: HostIdentity, state_dir: Path) -> Path:
        """An actor built here from source, signed with the host's key, granting the whole world."""
        target = state_dir / "local" / f"{name}.wasm"
        wasm = built.read_bytes()  # 17 MiB for oled-text: read once
        if target.exists() and claims.component_digest(target.read_bytes()) == claims.component_digest(wasm):
            return target  # signed before, same build
        assert identity.key is not None
        signed = claims.sign(wasm, identity.key, claims.generate_key("actor"),
                             list(claims.CAPABILITIES), name=name, version="local build")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(signed)
        tmp.replace(target)
        return target

    async def _restore(self, wanted: dict[str, DesiredActor]) -> None:
        """Start what this host was told to run, from its own cache: the hub may be far away."""
        self.running = dict(wanted)
        await self._restore_desired(list(wanted))

    async def _restore_desired(self, names: list[str]) -> None:
        """Start these desired actors; one that fails stays desired and is listed as not running, with why.

        It is kept rather than dropped so that fixing the cause (trust, at a reload) brings it back, and
        ``pi-edge stop`` can still forget it.
        """
        assert self.host is not None and self.desired is not None
        for name in names:
            actor = self.running[name]
            path = self.desired.component_path(actor.digest)
            try:
                await self.host.start_actor(actor.name, path, actor.scale)
                log.info("agent: restored actor=%s scale=%d from %s", actor.name, actor.scale, path.name)
            except (PiEdgeError, OSError) as exc:  # one bad entry must not keep the others down
                log.error("agent: cannot restore actor=%s: %s; 'pi-edge stop %s' forgets it",
                          actor.name, exc, actor.name)
                self.host.not_running[actor.name] = NotRunning(str(exc), refused=isinstance(exc, REFUSALS))

    # -- control operations from the lattice -------------------------------------------------

    async def _deploy(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.host is not None and self.desired is not None and self.nc is not None
        name, digest, scale = _field(request, "name", str), _field(request, "digest", str), _scale(request)
        subjects.check_token("actor", name)
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ControlError(f"digest {digest!r} is not a sha256 hex digest")
        started = time.perf_counter()
        path = self.desired.component_path(digest)
        cached = path.exists()
        await ComponentStore(self.nc).fetch(digest, path)
        group = await self.host.start_actor(name, path, scale)
        self._remember(DesiredActor(name, digest, scale))
        return {"host": self.host.name, "actor": name, "digest": group.digest, "scale": group.scale,
                "fetched": not cached, "seconds": round(time.perf_counter() - started, 3)}

    async def _stop_actor(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.host is not None
        name = _field(request, "name", str)
        if name not in self.host.actors and (name in self.running or name in self.host.not_running):
            # Wanted but not running (it failed to start): stopping it means no longer wanting it.
            self.host.not_running.pop(name, None)
            self._forget(name)
            log.info("agent: actor=%s was not running; forgotten", name)
            return {"host": self.host.name, "actor": name, "stopped": False, "forgotten": True}
        await self.host.stop_actor(name)
        self._forget(name)
        return {"host": self.host.name, "actor": name, "stopped": True}

    async def _scale(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.host is not None
        name, scale = _field(request, "name", str), _scale(request)
        group = await self.host.scale_actor(name, scale)
        if name in self.running:
            self._remember(DesiredActor(name, self.running[name].digest, scale))
        return {"host": self.host.name, "actor": name, "scale": group.scale}

    async def _link(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.host is not None and self.link_table is not None
        actor = _field(request, "actor", str)
        provider = request.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise ControlError(f"request field 'provider' must be a provider name or null, got {provider!r}")
        previous = self.host.links.get(actor)
        self.host.link(actor, provider)
        self.link_table.set(actor, provider)
        # "previous": the link this host had (null: none), so 'link del' can tell a removal from a no-op.
        return {"host": self.host.name, "actor": actor, "previous": previous,
                "provider": self.host.links.get(actor, self.host.provider_name)}

    async def _refresh_links(self) -> bool:
        """The lattice's links from the hub, if it answers soon; else the saved copy stands (False)."""
        assert self.host is not None and self.nc is not None and self.link_table is not None
        if self.server is not None and not self.server.leaf_connected.is_set():
            # Not waited for: the actors start with the saved links, and the lattice's follow once it joins
            # (waiting here would hold every restart up by the join, a few hundred ms).
            log.info("agent: using saved links until the hub link is up")
            return False
        try:
            links = await asyncio.wait_for(read_links(self.nc), 3)
        except (TimeoutError, PiEdgeError, nats.errors.Error) as exc:
            log.info("agent: using saved links (%s)", str(exc) or "the hub did not answer")
            return False
        for actor, provider in links.items():
            if self.host.links.get(actor) != provider:
                self.host.link(actor, provider)
                self.link_table.set(actor, provider)
        log.info("agent: %d display link(s) from the hub", len(links))
        return True

    async def _refresh_links_once_joined(self) -> None:
        """A host that started before its hub (or raced its own leaf link) still learns the lattice's links."""
        while self.host is not None:
            if await self.wait_for_hub(1.0) and await self._refresh_links():
                return
            if self.server is not None and self.server.leaf_connected.is_set():
                await asyncio.sleep(1.0)  # linked, but the store did not answer: ask again in a second

    def _remember(self, actor: DesiredActor) -> None:
        assert self.desired is not None
        self.running[actor.name] = actor
        self.desired.save(self.running)

    def _forget(self, name: str) -> None:
        assert self.desired is not None
        if self.running.pop(name, None) is not None:
            self.desired.save(self.running)

    async def wait_for_hub(self, timeout: float) -> bool:
        """True once the leaf server holds a connection to the hub."""
        if self.server is None:
            raise NatsServerError("this agent uses --nats-url; it has no leaf server of its own")
        return await asyncio.to_thread(self.server.leaf_connected.wait, timeout)

    async def stop(self, grace: float = 10.0, blank_display: bool = False) -> None:
        """Stop serving (in-flight messages get ``grace`` s), close NATS, stop the leaf server; safe twice."""
        if self._links_later is not None:
            self._links_later.cancel()
            self._links_later = None
        if self.host is not None:
            await self.host.stop(grace)
            self.host = None
            if blank_display:
                try:
                    await asyncio.to_thread(self.provider.clear)
                except ProviderError as exc:
                    log.warning("agent: could not blank the display: %s", exc)
        if self.nc is not None:
            try:
                await self.nc.drain()
            except Exception as exc:  # the server is gone (or going): nothing left to drain
                log.debug("agent: drain failed: %s", exc)
                try:
                    await self.nc.close()  # else its reconnect task runs on against the stopped server
                except Exception as exc:
                    log.debug("agent: closing the connection failed: %s", exc)
            self.nc = None
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
            self.server = None


T = TypeVar("T")


def _field(request: dict[str, Any], key: str, kind: type[T]) -> T:
    value = request.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ControlError(f"request field {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _scale(request: dict[str, Any]) -> int:
    scale = request.get("scale", 1)
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= MAX_SCALE:
        raise ControlError(f"scale must be a whole number 1..{MAX_SCALE}, got {scale!r}")
    return scale
