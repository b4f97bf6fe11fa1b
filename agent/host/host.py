"""The actors on this host: started, scaled, refused and stopped, each instance on a lane of its own.

Each instance's lane subscribes to the actor's subject in the queue group
named after the actor, to its host-only subject, and to its broadcast subject
in a queue group of this agent process's own, so a broadcast is handled once
per host.  Messages then arrive in ``inbox``; claims that expire are judged
again by ``expiry``; where an actor's ``display`` import draws is its link.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from pi_edge.agent import __version__
from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ActorCallError, ActorLoadError, CapabilityError, ClaimsError, ConfigError, ControlError
from pi_edge.agent.host.actor import Actor
from pi_edge.agent.host.compiled_code import CompiledCode
from pi_edge.agent.host.expiry import ExpiryWatch
from pi_edge.agent.host.inbox import Inbox
from pi_edge.agent.host.instance import Instance
from pi_edge.agent.host.links import ProviderSlot
from pi_edge.agent.host.supervision import SupervisionPolicy, Supervisor
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.events import (
    ACTOR_FAILED,
    ACTOR_REFUSED,
    ACTOR_SCALED,
    ACTOR_STARTED,
    ACTOR_STOPPED,
    EventPublisher,
)
from pi_edge.agent.lattice.remote_provider import RemoteProvider
from pi_edge.agent.tasks import TaskScope
from pi_edge.agent.trust.claims import TrustPolicy
from pi_edge.agent.trust.credentials import Credentials
from pi_edge.agent.wasm.compile_cache import digest
from pi_edge.agent.wasm.instance import ComponentInstance
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.log_limit import LogLimit
from pi_edge.agent.wasm.runtime import LoadedComponent, Runtime, check_binary

log = logging.getLogger("pi_edge.host")

MAX_INSTANCES = 16  # of one actor on one host
STOP_GRACE_S = 10.0  # how long messages already accepted may take to finish when an instance stops
#: What the host refuses to run (its claims, or the capabilities they grant), as opposed to what it cannot load.
REFUSALS = (ClaimsError, CapabilityError)


@dataclass(frozen=True)
class NotRunning:
    """An actor this host is meant to run (configured or deployed) but does not: inventory says why."""

    reason: str
    refused: bool  # the host refused it (claims, trust, capabilities); else it could not be loaded


def check_scale(name: str, scale: int) -> int:
    if not 1 <= scale <= MAX_INSTANCES:
        raise ConfigError(f"scale {scale} for actor {name!r} is outside 1..{MAX_INSTANCES}")
    return scale


class Host:
    def __init__(self, nc: Client, runtime: Runtime, provider: DisplayProvider, *, lattice: str,
                 name: str | None = None, limits: Limits | None = None, host_id: str | None = None,
                 labels: dict[str, str] | None = None, links: dict[str, str] | None = None,
                 policy: TrustPolicy | None = None, supervision: SupervisionPolicy | None = None,
                 url: str | None = None, credentials: Credentials | None = None,
                 compiled_code: CompiledCode | None = None) -> None:
        self.nc = nc
        #: What each actor instance's lane connects as: the agent's own key on its own leaf server.
        self.credentials = credentials
        #: Where each actor instance's lane connects: the server ``nc`` is connected to.
        self.url = url or (nc.connected_url.geturl() if nc.connected_url is not None else "")
        self.runtime = runtime
        #: Where compiled code comes from: the cache, the hub (if this host trusts a compiler), or a compile here.
        self.compiled_code = compiled_code or CompiledCode(runtime)
        self.provider = provider
        self.lattice = subjects.check_token("lattice", lattice)
        self.name = subjects.check_token("host", name or default_host_name())
        self.id = host_id or f"{self.name}-{secrets.token_hex(4)}"
        self.labels = dict(labels or {})
        self.limits = limits or Limits()
        self.policy = policy or TrustPolicy()
        self.supervision = supervision or SupervisionPolicy()
        self.started = time.monotonic()
        self.actors: dict[str, Actor] = {}
        #: Kept by the agent for actors it wants but could not start; an actor that starts leaves it.
        self.not_running: dict[str, NotRunning] = {}
        #: State files found damaged at start (set aside; see ``state_file``): inventory says what was lost.
        self.state_damage: list[str] = []
        self.expired_requests = 0  # control and display requests dropped unrun: their sender had given up
        self.provider_name = subjects.provider_instance(self.name)
        self.links: dict[str, str] = dict(links or {})  # actor -> provider instance it draws on
        self._slots: dict[str, ProviderSlot] = {}
        self.events = EventPublisher(nc, self.lattice, self.name, self.id)
        self._closing = TaskScope(f"host {self.name}: lanes closing")  # by a stop, scale-down or redeploy
        self._judging = TaskScope(f"host {self.name}: claims judged")  # by the expiry watch
        self.inbox = Inbox(self.name, lambda: self.limits)
        #: The wall clock claims are judged by (tests move it).
        self.clock = time.time
        self.expiry = ExpiryWatch(self._judging, lambda: self.clock(),
                                  lambda claims, now: self.policy.admit(claims, now), self.refuse_running)
        self._stopping = False
        #: Names this agent process's queue group on broadcast subjects: unique even when two
        #: Pis were cloned from one SD card and share an identity, so each of them answers.
        self._broadcast_token = secrets.token_hex(6)

    # -- actors ----------------------------------------------------------------------------------

    async def start_actor(self, name: str, wasm_path: Path, scale: int = 1,
                          on_phase: Callable[[str], Awaitable[None]] | None = None) -> Actor:
        """Load, instantiate ``scale`` instances and subscribe them; errors leave the host as it was.

        If the actor already runs, the new instances start first and the old
        ones stop after, so a redeploy never leaves the subject unserved.
        ``on_phase`` is told "compiling" (not compiled here yet) or "loading" before its code is loaded.
        """
        subjects.check_token("actor", name)
        check_scale(name, scale)
        try:
            wasm = await asyncio.to_thread(Path(wasm_path).read_bytes)
        except OSError as exc:
            raise ActorLoadError(f"actor {name!r}: cannot read {wasm_path}: {exc.strerror}") from None
        try:
            claims = await asyncio.to_thread(self.policy.check, wasm, self.clock())
        except ClaimsError as exc:
            await self.events.publish(ACTOR_REFUSED, {"actor": name, "reason": str(exc)})
            raise ClaimsError(f"actor {name!r} refused: {exc}") from None
        check_binary(name, wasm)
        self.runtime.check_imports(name, wasm)  # in a millisecond, before anything compiles it
        wasm_digest = claims.digest if claims else await asyncio.to_thread(digest, wasm)
        if on_phase is not None:
            await on_phase("loading" if self.runtime.compiled(wasm_digest) else "compiling")
        # Compiling takes a minute on a Pi: in a child process, so actors already running keep serving.
        code = await self.compiled_code.ensure(name, wasm, wasm_digest)
        loaded = await asyncio.to_thread(self.runtime.load, name, wasm, wasm_digest)
        actor = Actor(name, loaded.digest, claims)
        actor.code = code
        try:
            for _ in range(scale):
                await self._add_instance(actor, loaded)
        except CapabilityError as exc:
            await self._stop_instances(actor)
            await self.events.publish(ACTOR_REFUSED, {"actor": name, "reason": str(exc)})
            raise
        except BaseException:
            await self._stop_instances(actor)
            raise
        old = self.actors.get(name)
        self.actors[name] = actor
        self.not_running.pop(name, None)
        self.expiry.watch(actor)
        if old is not None:
            await self._stop_instances(old)
        log.info("host=%s actor=%s started digest=%s scale=%d", self.name, name, loaded.digest[:12], scale)
        await self.events.publish(ACTOR_STARTED, {"actor": name, "digest": loaded.digest, "scale": scale})
        return actor

    async def scale_actor(self, name: str, scale: int) -> Actor:
        actor = self.actor(name)
        check_scale(name, scale)
        if scale > actor.scale:
            try:  # new instances only for claims still accepted (they may have expired since it started)
                self.policy.admit(actor.claims, self.clock())
            except ClaimsError as exc:
                raise ClaimsError(f"actor {name!r} refused: {exc}; not scaled") from None
        previous = actor.scale
        while actor.scale < scale:
            await self._add_instance(actor, actor.instances[0].component.loaded)
        if actor.scale > scale:
            leaving = actor.instances[scale:]
            del actor.instances[scale:]
            await self._close_instances(name, leaving, STOP_GRACE_S)
        log.info("host=%s actor=%s scaled from %d to %d", self.name, name, previous, scale)
        await self.events.publish(ACTOR_SCALED, {"actor": name, "digest": actor.digest, "scale": scale,
                                                 "previous": previous})
        return actor

    async def stop_actor(self, name: str) -> None:
        actor = self.actor(name)
        del self.actors[name]
        await self._stop_instances(actor)
        log.info("host=%s actor=%s stopped", self.name, name)
        await self.events.publish(ACTOR_STOPPED, {"actor": name, "digest": actor.digest})

    def actor(self, name: str) -> Actor:
        """The running actor ``name``, or ActorCallError saying why it does not run here."""
        try:
            return self.actors[name]
        except KeyError:
            if name in self.not_running:
                raise ActorCallError(f"actor {name!r} is not running on host {self.name}: "
                                     f"{self.not_running[name].reason}") from None
            running = ", ".join(sorted(self.actors)) or "none"
            raise ActorCallError(f"actor {name!r} is not running on host {self.name} (running: {running})") from None

    # -- trust -----------------------------------------------------------------------------------

    async def apply_policy(self, policy: TrustPolicy) -> dict[str, str]:
        """New trust (a reload): running actors whose claims it no longer accepts stop gracefully; returns why,
        by name.

        They are marked not running rather than dropped, so the agent still wants them and trusting their
        issuer again (and reloading) brings them back.
        """
        self.policy = policy
        refused: dict[str, str] = {}
        for name, actor in list(self.actors.items()):
            try:
                policy.admit(actor.claims, self.clock())
            except ClaimsError as exc:
                refused[name] = await self.refuse_running(actor, exc)
        return refused

    async def refuse_running(self, actor: Actor, why: ClaimsError) -> str:
        """Stop a running actor its claims no longer admit; it stays wanted (not running), so trust or a
        new signature and a reload bring it back."""
        reason = f"actor {actor.name!r} refused: {why}"
        if self.actors.get(actor.name) is not actor or actor.refused:  # stopped, redeployed or being refused
            return reason
        actor.refused = True  # a reload and the expiry timer judging it at once: one refusal, one event
        log.error("host=%s %s; stopping it", self.name, reason)
        await self.events.publish(ACTOR_REFUSED, {"actor": actor.name, "reason": str(why)})
        if self.actors.get(actor.name) is actor:  # a stop or deploy during the publish has the last word
            self.not_running[actor.name] = NotRunning(reason, refused=True)
            await self.stop_actor(actor.name)
        return reason

    # -- where the display import draws -------------------------------------------------------------

    def link(self, actor: str, provider: str | None) -> None:
        """Bind ``actor``'s display import to ``provider`` (None: this host's own display), live."""
        subjects.check_token("actor", actor)
        if provider is None:
            self.links.pop(actor, None)
        else:
            self.links[actor] = subjects.check_token("provider", provider)
        if actor in self._slots:
            self._retarget(actor)
        log.info("host=%s actor=%s draws on %s", self.name, actor, self.links.get(actor, self.provider_name))
        if actor in self.actors and self.actors[actor].forgive():  # it may have failed for the old link's sake
            log.info("host=%s actor=%s is no longer marked failed: its display changed", self.name, actor)

    def _slot(self, actor: str) -> ProviderSlot:
        if actor not in self._slots:
            self._slots[actor] = ProviderSlot(self.provider, self.provider_name)
            self._retarget(actor)
        return self._slots[actor]

    def _retarget(self, actor: str) -> None:
        slot, wanted = self._slots[actor], self.links.get(actor, self.provider_name)
        if wanted == self.provider_name:
            slot.target = self.provider
        else:
            slot.target = RemoteProvider(self.nc, asyncio.get_running_loop(), self.lattice, wanted)
        slot.name = wanted

    # -- instances -------------------------------------------------------------------------------

    def _instance_failed(self, actor: str, reason: str) -> None:
        """From a lane's thread: the supervisor marked ``actor`` failed."""
        log.error("host=%s actor=%s failed: %s", self.name, actor, reason)
        self.events.from_thread(lambda: self.events.publish(ACTOR_FAILED, {"actor": actor, "reason": reason}))

    async def _add_instance(self, actor: Actor, loaded: LoadedComponent) -> None:
        """A new instance on a lane of its own, taking its share of the actor's subject and broadcasts."""
        slot = self._slot(actor.name)
        if actor.log_limit is None:
            actor.log_limit = LogLimit(self.limits.log_lines_per_s)
        component = await asyncio.to_thread(ComponentInstance, self.runtime, loaded, slot, self.limits, actor.granted,
                                            actor.log_limit)
        instance = Instance(component, Supervisor(actor.name, self.supervision),
                            on_failed=lambda reason: self._instance_failed(actor.name, reason))
        subscriptions = [(subjects.actor(self.lattice, actor.name), actor.name),
                         (subjects.actor_on(self.lattice, self.name, actor.name), actor.name),
                         (subjects.actor_all(self.lattice, actor.name),
                          subjects.broadcast_queue(actor.name, self._broadcast_token))]
        try:
            await instance.lane.open(self.url, f"pi-edge-{self.name}-{actor.name}", subscriptions,
                                     self.inbox.callback(instance), self.credentials)
            if actor.stopped or self._stopping:  # stopped (stop, redeploy, agent stop) while it was starting
                raise ControlError(f"actor {actor.name!r} was stopped while its instances were starting")
        except BaseException:
            await instance.close(0)
            raise
        actor.instances.append(instance)

    async def _stop_instances(self, actor: Actor, grace: float = STOP_GRACE_S) -> None:
        """Every instance stops taking messages at once, then finishes what it accepted."""
        actor.stopped = True
        if actor.expiry is not None:
            actor.expiry.cancel()
        instances, actor.instances = actor.instances, []
        await self._close_instances(actor.name, instances, grace)

    async def _close_instances(self, name: str, instances: list[Instance], grace: float) -> None:
        """Close ``instances``' lanes; ``stop`` waits for this even if whoever started it was cancelled."""
        async def close_all() -> None:
            outcomes = await asyncio.gather(*(i.close(grace) for i in instances), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    log.warning("host=%s actor=%s did not stop cleanly: %s", self.name, name, outcome)

        await asyncio.shield(self._closing.spawn(close_all(), f"close-{name}"))

    # -- what the lattice sees -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What ``hosts`` shows: enough to pick a host by name or label."""
        health = self.provider.health()
        return {
            "id": self.id,
            "name": self.name,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "labels": self.labels,
            "provider": self.provider_name,
            "actors": {name: actor.scale for name, actor in sorted(self.actors.items())},
            "failed": sorted(name for name, actor in self.actors.items() if actor.failed_reason),
            "not_running": sorted(self.not_running),  # so 'stop' finds the hosts that still want them
            "display": {"healthy": health.healthy, "reason": health.reason},
            "engine": self.runtime.cache.key.as_dict(),  # what compiled code it loads: 'deploy --compile-key'
        }

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Every actor stops taking messages; in-flight ones get ``grace`` seconds to finish."""
        self._stopping = True
        self.expiry.closed = True
        actors = list(self.actors.values())
        self.actors.clear()
        await asyncio.gather(*(self._stop_instances(actor, grace) for actor in actors))
        await self._judging.close()  # claims being judged: every actor has stopped anyway
        await self._closing.wait()  # lanes a stop, scale or redeploy was closing when we were asked to stop


def default_host_name() -> str:
    """The machine's short hostname, made safe for a subject token."""
    raw = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)
    return cleaned or "pi"
