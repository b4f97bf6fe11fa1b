"""The agent's lifecycle: leaf server up, connect, actors in, serve; then the reverse.

Kept apart from the process (signals, systemd: ``process``) so tests run the
very same code in-process with a provider over a fake bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from nats.aio.client import Client

from pi_edge.actors import is_builtin
from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import (
    ActorLoadError,
    BuildError,
    ControlError,
    CredentialsError,
    NatsServerError,
    PiEdgeError,
    PortInUseError,
    ProviderError,
    StoreError,
)
from pi_edge.agent.files import write_atomically
from pi_edge.agent.host import labels
from pi_edge.agent.host.compiled_code import CompiledCode
from pi_edge.agent.host.control import Control
from pi_edge.agent.host.desired import DesiredState
from pi_edge.agent.host.display_events import DisplayEvents
from pi_edge.agent.host.host import REFUSALS, Host, NotRunning, default_host_name
from pi_edge.agent.host.links import HubLinks, LinkTable
from pi_edge.agent.host.log_buffer import LogBuffer
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.host.presence import Presence
from pi_edge.agent.host.trust_store import TrustChanges, TrustStore
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.events import STATE_DAMAGED
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import leaf_config
from pi_edge.agent.lattice.store import ComponentStore, holds
from pi_edge.agent.lattice.urls import redact
from pi_edge.agent.paths import default_state_dir
from pi_edge.agent.signals import set_from_thread
from pi_edge.agent.trust.claims import TrustPolicy
from pi_edge.agent.trust.credentials import Credentials, new_user_seed, public_key
from pi_edge.agent.trust.identity import HostIdentity
from pi_edge.agent.trust.local_builds import sign_local_build
from pi_edge.agent.wasm.build import build_actor_async
from pi_edge.agent.wasm.compile_memory import compile_room
from pi_edge.agent.wasm.runtime import Runtime

log = logging.getLogger("pi_edge.agent")

#: The agent's own key for its own leaf server (and what an admin on the Pi may use to control it there).
AGENT_CREDENTIALS = "agent.creds"


class Agent:
    def __init__(self, options: AgentOptions, provider: DisplayProvider) -> None:
        self.options = options
        self.provider = provider
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.runtime: Runtime | None = None
        self.host: Host | None = None
        self.desired: DesiredState | None = None
        self.identity: HostIdentity | None = None
        self.state_dir: Path | None = None
        #: What the agent's own connections present to its own leaf server (None with --nats-url).
        self.credentials: Credentials | None = None
        self.control: Control | None = None
        self.presence: Presence | None = None
        self.display_events: DisplayEvents | None = None
        self.hub_links: HubLinks | None = None
        self.trust_store: TrustStore | None = None
        #: The agent's recent log lines, for 'pi-edge logs' (on the pi_edge logger while the agent runs).
        self.logs = LogBuffer()
        #: What ``start`` is doing now, for systemd's status line while it runs (a first start takes minutes on a Pi).
        self.phase = "not started"
        self.on_phase: Callable[[str], None] | None = None  # told each new phase
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
        logging.getLogger("pi_edge").addHandler(self.logs)
        self._enter("reading the state directory")
        hub_creds = Credentials.read(opts.hub_credentials, role="host") if opts.hub_credentials else None
        name = self._name(hub_creds)
        state_dir = opts.state_dir or default_state_dir()
        identity = HostIdentity.load(state_dir)
        self.desired = DesiredState(state_dir)
        wanted = self.desired.load()
        self.trust_store = TrustStore(state_dir)
        self.trust_store.load()
        inbox = None
        if not opts.nats_url:
            self.credentials = self._own_credentials(state_dir, name)
            await self._start_leaf_server(name, state_dir, hub_creds, self.credentials)
            inbox = subjects.inbox_prefix(name)  # the hub forwards a Pi only the replies under its own prefix
        self.nc = await connect(self.url, name=f"pi-edge-agent-{name}", timeout=5.0, reconnect=True,
                                credentials=self.credentials, inbox_prefix=inbox)
        self.runtime = Runtime(cache_dir=opts.cache_dir, room=compile_room(opts.compile_memory_mb))
        link_table = LinkTable(state_dir)
        if opts.allow_unsigned:
            log.warning("agent: --allow-unsigned: unsigned actors will run; for development only")
        host = self.host = Host(
            self.nc, self.runtime, self.provider, lattice=opts.lattice, name=name, limits=opts.limits,
            host_id=identity.id, labels=labels.host_labels(name, self.provider.info().driver, opts.labels),
            links=link_table.load(), policy=self._trust(opts, identity.id), supervision=opts.supervision,
            url=self.url, credentials=self.credentials,
            compiled_code=CompiledCode(self.runtime, self.nc, frozenset(opts.trusted_compiled),
                                       self._hub_ready if opts.hub else None))
        self.hub_links = HubLinks(host, link_table, self.server.leaf_connected if self.server else None)
        if opts.hub or opts.nats_url:
            self._enter("fetching display links from the hub")
            if not await self.hub_links.refresh():
                self.hub_links.refresh_once_joined()
        self.identity, self.state_dir = identity, state_dir
        for spec in opts.actors:
            await self._start_configured(spec)
        if opts.actors and not host.actors:
            log.warning("agent: no configured actor started (see the errors above); the agent still answers "
                        "control requests, deploys and display calls: fix them and reload (SIGHUP)")
        self._enter("restoring deployed actors")
        await self._restore(list(wanted))
        self._enter("subscribing to the lattice")
        await self._serve_lattice(host, link_table)
        self.phase = "running"
        return host

    async def _hub_ready(self, timeout: float) -> bool:
        """Whether the leaf server holds its link to the hub, waiting up to ``timeout`` s for it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.server is not None:
            # In short waits, so that a stop meanwhile leaves no thread behind waiting out the whole timeout.
            left = deadline - asyncio.get_running_loop().time()
            if await asyncio.to_thread(self.server.leaf_connected.wait, max(0.0, min(left, 0.5))):
                return True
            if left <= 0:
                return False
        return False

    def _name(self, hub_creds: Credentials | None) -> str:
        """``--name``, else the host the credentials were enrolled for, else this machine's hostname."""
        name = self.options.name
        if hub_creds is None:
            return name or default_host_name()
        if name is not None and name != hub_creds.name:
            raise CredentialsError(f"host name {name!r} does not match its credentials: {self.options.hub_credentials} "
                                   f"is the key of host {hub_creds.name!r}, and the hub lets it in only as "
                                   f"{hub_creds.name!r}")
        return hub_creds.name

    @staticmethod
    def _own_credentials(state_dir: Path, name: str) -> Credentials:
        """The agent's key on its own leaf server, kept in the state directory (0600), made on first start."""
        path = state_dir / AGENT_CREDENTIALS
        if path.exists():
            creds = Credentials.read(path, role="agent")
            if creds.name == name:
                return creds
        creds = Credentials.generate("agent", name)
        creds.write(path)
        return creds

    async def _start_leaf_server(self, name: str, state_dir: Path, hub_creds: Credentials | None,
                                 own: Credentials) -> None:
        opts = self.options
        ca = opts.hub_ca
        if ca is None and hub_creds is not None and hub_creds.ca_pem and opts.hub:
            ca = state_dir / "hub-ca.pem"  # the CA enrol put in the credentials: the hub is checked with no flag
            try:
                write_atomically(ca, hub_creds.ca_pem.encode(), mode=0o644)
            except OSError as exc:
                raise CredentialsError(f"cannot write the hub's CA to {ca}: {exc.strerror or exc}") from None
        # Anyone else on this machine connects as a key whose seed is never kept: it proves nothing, it only
        # carries the permissions of an anonymous local client.
        config = leaf_config(name, opts.port, opts.hub, agent_key=own.public_key,
                             anonymous_key=public_key(new_user_seed()), listen=opts.listen,
                             hub_seed=hub_creds.seed if hub_creds else None, tls_ca=str(ca) if ca else None)
        self._enter("starting the leaf nats-server")
        # Kept before it is up: a stop while it starts stops it.
        self.server = NatsServer(config, state_dir / "nats", on_exit=set_from_thread(self.server_exited))
        try:
            await self.server.start_async()
        except PortInUseError as exc:
            raise exc.naming("--port (or port in agent.toml, PI_EDGE_PORT)") from None
        if opts.hub:
            log.info("agent: leaf server joins hub %s%s", redact(opts.hub),
                     f" as enrolled host {hub_creds.name!r}" if hub_creds else " without credentials")

    async def _serve_lattice(self, host: Host, link_table: LinkTable) -> None:
        """Answer pings, control requests and display calls, publish events and heartbeats.

        Called after the actors start, so a ping answer means they are reachable.
        """
        assert self.desired is not None and self.nc is not None
        self.presence, self.display_events = Presence(host), DisplayEvents(self.provider, host.events)
        self.control = Control(host, self.desired, link_table, trust=self, logs=self.logs)
        await self.presence.start()
        await self.control.subscribe()
        self.display_events.start()
        self.logs.serve(host.events)
        await subscriptions_live(self.nc)  # "ready" must mean a ping from anywhere is answered
        await self.presence.announce()
        trust_damage = self.trust_store.file.damage if self.trust_store is not None else []
        host.state_damage = [*self.desired.file.damage, *link_table.file.damage, *trust_damage]  # found before
        for damage in host.state_damage:
            await host.events.publish(STATE_DAMAGED, {"reason": damage})
        if self.options.heartbeat_s > 0:
            self.presence.start_heartbeat(self.options.heartbeat_s)

    def _trust(self, options: AgentOptions, host_id: str) -> TrustPolicy:
        """The configuration's issuers as 'pi-edge trust' changed them, and this host's own key (it signs
        what it builds from source itself)."""
        changes = self.trust_store.changes if self.trust_store is not None else TrustChanges()
        return TrustPolicy(changes.applied(options.trusted) | {host_id}, options.allow_unsigned)

    # -- trust at run time ('pi-edge trust', through the control subjects) ----------------------------

    def trusted_issuers(self) -> dict[str, str]:
        """Every issuer this host trusts now, and why: "config", "pi-edge trust" or "this host"."""
        assert self.host is not None and self.trust_store is not None
        changes, configured = self.trust_store.changes, set(self.options.trusted)
        issuers = dict.fromkeys(configured - changes.removed, "config")
        issuers.update(dict.fromkeys(changes.added, "pi-edge trust"))
        issuers[self.host.id] = "this host"
        return dict(sorted(issuers.items()))

    async def add_trust(self, issuer: str) -> dict[str, list[str]]:
        """Trust ``issuer`` (saved, then applied): actors it signed that were refused start."""
        assert self.trust_store is not None
        self.trust_store.add(issuer)
        return await self._apply_trust()

    async def remove_trust(self, issuer: str) -> dict[str, list[str]]:
        """Trust ``issuer`` no more (saved, then applied): actors it signed stop, and stay wanted."""
        assert self.trust_store is not None and self.host is not None
        if issuer == self.host.id:
            raise ControlError(f"{issuer} is this host's own key, which signs the actors it builds itself; "
                               "it cannot be distrusted")
        if issuer not in self.trusted_issuers():
            raise ControlError(f"issuer {issuer} is not trusted by host {self.host.name}; nothing to remove")
        self.trust_store.remove(issuer, self.options.trusted)
        return await self._apply_trust()

    async def _apply_trust(self) -> dict[str, list[str]]:
        host, desired = self.host, self.desired
        assert host is not None and desired is not None
        stopped = await host.apply_policy(self._trust(self.options, host.id))
        before = set(host.actors)
        for spec in self.options.actors:  # configured ones that were refused may start now
            down = host.not_running.get(spec.name)
            if spec.name not in host.actors and spec.name not in stopped and down is not None and down.refused:
                await self._start_configured(spec)
        await self._restore([n for n in desired.actors if n not in host.actors.keys() | stopped.keys()])
        return {"stopped": sorted(stopped), "started": sorted(set(host.actors) - before)}

    async def reconfigure(self, new: AgentOptions) -> None:
        """Apply a re-read configuration without dropping the lattice connection.

        Labels, trust, limits (for instances started from now on), heartbeat and
        the actors listed in the configuration change live; the rest needs a restart.
        """
        host, old, desired = self.host, self.options, self.desired
        if host is None or desired is None:
            return
        host.labels = {**labels.automatic(host.labels), **new.labels}
        for name, actor in host.actors.items():  # a reload gives actors marked failed another chance
            if actor.forgive():
                log.info("reload: actor=%s is no longer marked failed", name)
        host.compiled_code.trusted = frozenset(new.trusted_compiled)
        revoked = await host.apply_policy(self._trust(new, host.id))
        host.limits = new.limits
        if new.heartbeat_s != old.heartbeat_s and self.presence is not None:
            await self.presence.stop_heartbeat()
            if new.heartbeat_s > 0:
                self.presence.start_heartbeat(new.heartbeat_s)
        before = {spec.name: spec.path for spec in old.actors}
        after = {spec.name: spec for spec in new.actors}
        for name in before.keys() - after.keys():
            if name not in desired.actors:
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
        await self._restore([name for name in desired.actors if name not in host.actors.keys() | revoked.keys()])
        old.labels, old.trusted, old.allow_unsigned = new.labels, new.trusted, new.allow_unsigned
        old.trusted_compiled = new.trusted_compiled
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
            path = await asyncio.to_thread(sign_local_build, spec.name, built.path, self.identity.key,
                                           self.state_dir)
        elif is_builtin(path):  # the wheel's prebuilt component: as much this host's own code as the agent is
            path = await asyncio.to_thread(sign_local_build, spec.name, path, self.identity.key, self.state_dir)
        self._enter(f"loading actor {spec.name} (compiled once, then cached)")
        await self.host.start_actor(spec.name, path)

    async def _restore(self, names: list[str]) -> None:
        """Start these deployed actors from this host's own cache (the hub may be far away); one that fails
        stays desired and is listed as not running, with why.

        It is kept rather than dropped so that fixing the cause (trust, at a reload) brings it back, and
        ``pi-edge stop`` can still forget it.
        """
        assert self.host is not None and self.desired is not None
        for name in names:
            actor = self.desired.actors[name]
            path = self.desired.component_path(actor.digest)
            try:
                await self._cached_or_fetched(actor.digest, path)
                await self.host.start_actor(actor.name, path, actor.scale)
                log.info("agent: restored actor=%s scale=%d from %s", actor.name, actor.scale, path.name)
            except (PiEdgeError, OSError) as exc:  # one bad entry must not keep the others down
                log.error("agent: cannot restore actor=%s: %s; 'pi-edge stop %s' forgets it",
                          actor.name, exc, actor.name)
                self.host.not_running[actor.name] = NotRunning(str(exc), refused=isinstance(exc, REFUSALS))

    async def _cached_or_fetched(self, digest: str, path: Path) -> None:
        """The cached component, checked against its digest; a damaged (or missing) one is fetched again
        from the hub if it answers soon, else the actor is not restored, with that reason."""
        if await asyncio.to_thread(holds, path, digest):
            return
        assert self.host is not None
        log.warning("agent: cached component %s is damaged or missing; fetching it again from the hub", path.name)
        await asyncio.to_thread(path.unlink, True)
        try:
            await asyncio.wait_for(ComponentStore(self.host.nc).fetch(digest, path,
                                                                      self.host.limits.max_component_bytes), 30)
        except TimeoutError:
            raise StoreError(f"its cached component {digest[:12]}… was damaged and the hub did not send it "
                             "again in time; a reload tries again") from None

    async def wait_for_hub(self, timeout: float) -> bool:
        """True once the leaf server holds a connection to the hub."""
        if self.server is None:
            raise NatsServerError("this agent uses --nats-url; it has no leaf server of its own")
        return await asyncio.to_thread(self.server.leaf_connected.wait, timeout)

    async def stop(self, grace: float = 10.0, blank_display: bool = False) -> None:
        """Stop serving (in-flight messages get ``grace`` s), close NATS, stop the leaf server; safe twice."""
        if self.hub_links is not None:
            await self.hub_links.close()
            self.hub_links = None
        if self.host is not None:
            await self._stop_host(self.host, grace)
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
        await self.logs.stop()
        logging.getLogger("pi_edge").removeHandler(self.logs)

    async def _stop_host(self, host: Host, grace: float) -> None:
        """Stop taking requests first, then let the actors finish what they accepted, then say goodbye."""
        if self.presence is not None:
            await self.presence.stop()
        if self.control is not None:
            await self.control.unsubscribe()
        await host.stop(grace)
        if self.display_events is not None:
            self.display_events.stop()
        if self.presence is not None:
            await self.presence.farewell()
        self.presence = self.control = self.display_events = None
