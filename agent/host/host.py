"""The host: actors on one side, the lattice on the other.

Each actor instance gets a lane (its own thread, event loop and connection,
see ``lane``) subscribed to the actor's subject in the queue group named after
the actor, and to its broadcast subject in a queue group of this agent
process's own, so a broadcast is handled once per host.  The host turns every outcome (reply,
actor error, trap, oversized message) into a reply and answers ``ctl.ping`` on
its own loop, so the laptop sees it however busy the actors are.  Nothing a
message does may stop the host from serving the next one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pi_edge.agent import __version__
from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import (
    ActorCallError,
    ActorLoadError,
    CapabilityError,
    ClaimsError,
    ConfigError,
    ControlError,
    PiEdgeError,
    ProviderError,
)
from pi_edge.agent.host.actor import Actor, ActorGroup
from pi_edge.agent.host.links import ProviderSlot, provider_instance
from pi_edge.agent.host.supervision import SupervisionPolicy, Supervisor
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import HOST_HEADER, error_headers, subscriptions_live
from pi_edge.agent.lattice.events import (
    ACTOR_FAILED,
    ACTOR_REFUSED,
    ACTOR_STARTED,
    ACTOR_STOPPED,
    FRAME,
    HEARTBEAT,
    HOST_STARTED,
    HOST_STOPPED,
    PROVIDER_HEALTH,
    EventPublisher,
)
from pi_edge.agent.lattice.remote_provider import RemoteProvider, serve_provider
from pi_edge.agent.trust.claims import TrustPolicy
from pi_edge.agent.wasm.instance import ActorInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import LoadedComponent, Runtime

log = logging.getLogger("pi_edge.host")

MAX_SCALE = 16
MAX_WAITING = 64  # messages queued for one instance before new ones are refused as busy
STOP_GRACE_S = 10.0  # how long messages already accepted may take to finish when an instance stops
#: A running actor whose claims expire is judged again at its expiry, and at least this often before:
#: a Pi has no clock of its own and sets it from NTP after boot, so the wall clock can jump.
EXPIRY_RECHECK_S = 60.0
#: Frame events are a preview (``pi-edge watch``), not a video feed: at most one per this many seconds,
#: always the newest frame, so a busy panel costs the host a snapshot per interval, not per frame.
FRAME_EVENT_INTERVAL_S = 0.05
ControlHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Publish = Callable[..., Awaitable[None]]  # (subject, payload, headers=...), as nats-py's Client.publish
#: What the host refuses to run (its claims, or the capabilities they grant), as opposed to what it cannot load.
REFUSALS = (ClaimsError, CapabilityError)


@dataclass(frozen=True)
class NotRunning:
    """An actor this host is meant to run (configured or deployed) but does not: inventory says why."""

    reason: str
    refused: bool  # the host refused it (claims, trust, capabilities); else it could not be loaded


class Host:
    def __init__(self, nc: Client, runtime: Runtime, provider: DisplayProvider, *, lattice: str,
                 name: str | None = None, limits: Limits | None = None, host_id: str | None = None,
                 labels: dict[str, str] | None = None, links: dict[str, str] | None = None,
                 policy: TrustPolicy | None = None, supervision: SupervisionPolicy | None = None,
                 url: str | None = None) -> None:
        self.nc = nc
        #: Where each actor instance's lane connects: the server ``nc`` is connected to.
        self.url = url or nc.connected_url.geturl()  # type: ignore[union-attr]
        self.runtime = runtime
        self.provider = provider
        self.lattice = subjects.check_token("lattice", lattice)
        self.name = subjects.check_token("host", name or default_host_name())
        self.id = host_id or f"{self.name}-{secrets.token_hex(4)}"
        self.labels = dict(labels or {})
        self.limits = limits or Limits()
        self.policy = policy or TrustPolicy()
        self.supervision = supervision or SupervisionPolicy()
        self.started = time.monotonic()
        self.actors: dict[str, ActorGroup] = {}
        #: Kept by the agent for actors it wants but could not start; an actor that starts leaves it.
        self.not_running: dict[str, NotRunning] = {}
        self.provider_name = provider_instance(self.name)
        self.links: dict[str, str] = dict(links or {})  # actor -> provider instance it draws on
        self._slots: dict[str, ProviderSlot] = {}
        self.events = EventPublisher(nc, self.lattice, self.name, self.id)
        self._subs: list[Subscription] = []
        self._frame_event_due = False
        self._last_frame_event = float("-inf")
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        self._closing: set[asyncio.Task[None]] = set()  # lanes being closed (stop, scale down, redeploy)
        #: Names this agent process's queue group on broadcast subjects: unique even when two
        #: Pis were cloned from one SD card and share an identity, so each of them answers.
        self._broadcast_token = secrets.token_hex(6)
        #: The wall clock claims are judged by (tests move it).
        self.clock: Callable[[], float] = time.time
        self._expiring: set[asyncio.Task[None]] = set()

    async def start_actor(self, name: str, wasm_path: Path, scale: int = 1) -> ActorGroup:
        """Load, instantiate ``scale`` instances and subscribe them; errors leave the host as it was.

        If the actor already runs, the new instances start first and the old
        ones stop after, so a redeploy never leaves the subject unserved.
        """
        subjects.check_token("actor", name)
        if not 1 <= scale <= MAX_SCALE:
            raise ConfigError(f"scale {scale} for actor {name!r} is outside 1..{MAX_SCALE}")
        try:
            wasm = await asyncio.to_thread(Path(wasm_path).read_bytes)
        except OSError as exc:
            raise ActorLoadError(f"actor {name!r}: cannot read {wasm_path}: {exc.strerror}") from None
        try:
            claims = await asyncio.to_thread(self.policy.check, wasm, self.clock())
        except ClaimsError as exc:
            await self.events.publish(ACTOR_REFUSED, {"actor": name, "reason": str(exc)})
            raise ClaimsError(f"actor {name!r} refused: {exc}") from None
        # Compiling takes seconds on a Pi: off the loop, so actors already running keep serving.
        loaded = await asyncio.to_thread(self.runtime.load, name, wasm, claims.digest if claims else None)
        group = ActorGroup(name, loaded.digest)
        group.granted = frozenset(claims.capabilities) if claims else None
        group.signer = claims.issuer if claims else None
        group.claims = claims
        try:
            for _ in range(scale):
                await self._add_instance(group, loaded)
        except CapabilityError as exc:
            await self._stop_group(group)
            await self.events.publish(ACTOR_REFUSED, {"actor": name, "reason": str(exc)})
            raise
        except BaseException:
            await self._stop_group(group)
            raise
        old = self.actors.get(name)
        self.actors[name] = group
        self.not_running.pop(name, None)
        self._watch_expiry(group)
        if old is not None:
            await self._stop_group(old)
        log.info("host=%s actor=%s started digest=%s scale=%d", self.name, name, loaded.digest[:12], scale)
        await self.events.publish(ACTOR_STARTED, {"actor": name, "digest": loaded.digest, "scale": scale})
        return group

    async def scale_actor(self, name: str, scale: int) -> ActorGroup:
        group = self._group(name)
        if not 1 <= scale <= MAX_SCALE:
            raise ConfigError(f"scale {scale} for actor {name!r} is outside 1..{MAX_SCALE}")
        if scale > group.scale:
            try:  # new instances only for claims still accepted (they may have expired since it started)
                self.policy.admit(group.claims, self.clock())
            except ClaimsError as exc:
                raise ClaimsError(f"actor {name!r} refused: {exc}; not scaled") from None
        while group.scale < scale:
            loaded = group.instances[0].instance.loaded
            await self._add_instance(group, loaded)
        while group.scale > scale:
            await self._close_actors(group.name, [group.instances.pop()], STOP_GRACE_S)
        log.info("host=%s actor=%s scaled to %d", self.name, name, scale)
        await self.events.publish(ACTOR_STARTED, {"actor": name, "digest": group.digest, "scale": scale})
        return group

    async def apply_policy(self, policy: TrustPolicy) -> dict[str, str]:
        """New trust (a reload): running actors whose claims it no longer accepts stop gracefully; returns why, by name.

        They are marked not running rather than dropped, so the agent still wants them and trusting their
        issuer again (and reloading) brings them back.
        """
        self.policy = policy
        refused: dict[str, str] = {}
        for name, group in list(self.actors.items()):
            try:
                policy.admit(group.claims, self.clock())
            except ClaimsError as exc:
                refused[name] = await self._refuse_running(group, exc)
        return refused

    async def _refuse_running(self, group: ActorGroup, why: ClaimsError) -> str:
        """Stop a running actor its claims no longer admit; it stays wanted (not running), so trust or a
        new signature and a reload bring it back."""
        reason = f"actor {group.name!r} refused: {why}"
        if self.actors.get(group.name) is not group or group.refused:  # stopped, redeployed or being refused
            return reason
        group.refused = True  # a reload and the expiry timer judging it at once: one refusal, one event
        log.error("host=%s %s; stopping it", self.name, reason)
        await self.events.publish(ACTOR_REFUSED, {"actor": group.name, "reason": str(why)})
        if self.actors.get(group.name) is group:  # a stop or deploy during the publish has the last word
            self.not_running[group.name] = NotRunning(reason, refused=True)
            await self.stop_actor(group.name)
        return reason

    def _watch_expiry(self, group: ActorGroup) -> None:
        """Judge ``group``'s claims again when they expire (or sooner, see EXPIRY_RECHECK_S)."""
        if group.claims is None or group.claims.expires is None:
            return
        delay = min(max(group.claims.expires - self.clock(), 0.0), EXPIRY_RECHECK_S)
        group.expiry = asyncio.get_running_loop().call_later(delay, self._expiry_due, group)

    def _expiry_due(self, group: ActorGroup) -> None:
        task = asyncio.ensure_future(self._judge_expiry(group))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _judge_expiry(self, group: ActorGroup) -> None:
        if group.stopped or self._stopping:
            return
        try:
            self.policy.admit(group.claims, self.clock())
        except ClaimsError as exc:
            await self._refuse_running(group, exc)
            return
        self._watch_expiry(group)  # not yet: the clock was behind, or the expiry is further than a recheck

    async def stop_actor(self, name: str) -> None:
        group = self._group(name)
        del self.actors[name]
        await self._stop_group(group)
        log.info("host=%s actor=%s stopped", self.name, name)
        await self.events.publish(ACTOR_STOPPED, {"actor": name, "digest": group.digest})

    def _group(self, name: str) -> ActorGroup:
        try:
            return self.actors[name]
        except KeyError:
            if name in self.not_running:
                raise ActorCallError(f"actor {name!r} is not running on host {self.name}: "
                                     f"{self.not_running[name].reason}") from None
            running = ", ".join(sorted(self.actors)) or "none"
            raise ActorCallError(f"actor {name!r} is not running on host {self.name} (running: {running})") from None

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

    def _actor_failed(self, actor: str, reason: str) -> None:
        log.error("host=%s actor=%s failed: %s", self.name, actor, reason)
        self.events.from_thread(lambda: self.events.publish(ACTOR_FAILED, {"actor": actor, "reason": reason}))

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

    async def _add_instance(self, group: ActorGroup, loaded: LoadedComponent) -> None:
        """A new instance on a lane of its own, taking its share of the actor's subject and broadcasts."""
        slot = self._slot(group.name)
        instance = await asyncio.to_thread(ActorInstance, self.runtime, loaded, slot, self.limits, group.granted)
        actor = Actor(instance, Supervisor(group.name, self.supervision),
                      on_failed=functools.partial(self._actor_failed, group.name))
        subscriptions = [(subjects.actor(self.lattice, group.name), group.name),
                         (subjects.actor_on(self.lattice, self.name, group.name), group.name),
                         (subjects.actor_all(self.lattice, group.name),
                          subjects.broadcast_queue(group.name, self._broadcast_token))]
        try:
            await actor.lane.open(self.url, f"pi-edge-{self.name}-{group.name}", subscriptions,
                                  functools.partial(self._accept, actor))
            if group.stopped or self._stopping:  # stopped (stop, redeploy, agent stop) while it was starting
                raise ControlError(f"actor {group.name!r} was stopped while its instances were starting")
        except BaseException:
            await actor.close(0)
            raise
        group.instances.append(actor)

    async def _stop_group(self, group: ActorGroup, grace: float = STOP_GRACE_S) -> None:
        """Every instance stops taking messages at once, then finishes what it accepted."""
        group.stopped = True
        if group.expiry is not None:
            group.expiry.cancel()
        actors, group.instances = group.instances, []
        await self._close_actors(group.name, actors, grace)

    async def _close_actors(self, name: str, actors: list[Actor], grace: float) -> None:
        """Close ``actors``' lanes; ``stop`` waits for this even if whoever started it was cancelled."""
        async def close_all() -> None:
            for outcome in await asyncio.gather(*(actor.close(grace) for actor in actors), return_exceptions=True):
                if isinstance(outcome, BaseException):
                    log.warning("host=%s actor=%s did not stop cleanly: %s", self.name, name, outcome)

        task = asyncio.ensure_future(close_all())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        await asyncio.shield(task)

    async def start_control(self, handlers: dict[str, ControlHandler] | None = None) -> None:
        """Answer pings and control requests, publish events and heartbeats.

        Called after the actors start, so a ping reply means they are reachable.
        ``handlers`` adds operations on ``ctl.<host>.<op>`` (the agent adds deploy, stop, scale).
        """
        self.events.bind_loop()
        ops: dict[str, ControlHandler] = {"inventory": self._inventory, "snapshot": self._snapshot,
                                          **(handlers or {})}
        self._subs.append(await self.nc.subscribe(subjects.ctl_ping(self.lattice), cb=self._ping))
        self._subs += await serve_provider(self.nc, self.lattice, self.provider_name, self.provider)
        for op, handler in ops.items():
            self._subs.append(await self.nc.subscribe(subjects.ctl(self.lattice, self.name, op),
                                                      cb=functools.partial(self._control, op, handler)))
        self.provider.listen(on_health=self._health_changed, on_frame=self._frame_shown)
        await subscriptions_live(self.nc)  # "ready" must mean a ping from anywhere is answered
        await self.events.publish(HOST_STARTED, self.describe())

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    def start_heartbeat(self, every: float) -> None:
        async def beat() -> None:
            while True:
                await asyncio.sleep(every)  # a period, not synchronisation
                await self.events.publish(HEARTBEAT, self.describe())

        self._heartbeat = asyncio.ensure_future(beat())

    async def _control(self, op: str, handler: ControlHandler, msg: Msg) -> None:
        """One control request: JSON in, JSON out, any failure a one-line error reply."""
        try:
            request = json.loads(msg.data) if msg.data.strip() else {}
            if not isinstance(request, dict):
                raise ControlError(f"{op}: the request must be a JSON object")
            answer = await handler(request)
        except ValueError as exc:  # also json.JSONDecodeError
            text = f"{op}: malformed request: {exc}"
            await self._reply(msg, text.encode(), error_headers(text))
        except (PiEdgeError, ProviderError) as exc:
            log.info("host=%s ctl %s refused: %s", self.name, op, exc)
            await self._reply(msg, str(exc).encode(), error_headers(str(exc)))
        except Exception as exc:  # the host must survive anything a request provokes
            log.exception("host=%s ctl %s failed", self.name, op)
            text = f"host {self.name} failed on {op}: {type(exc).__name__}: {exc}"
            await self._reply(msg, text.encode(), error_headers(text))
        else:
            await self._reply(msg, json.dumps(answer).encode(), None)

    async def _inventory(self, _request: dict[str, Any]) -> dict[str, Any]:
        return self.inventory()

    # -- the display, seen from the lattice ------------------------------------------

    async def _snapshot(self, _request: dict[str, Any]) -> dict[str, Any]:
        screen = await asyncio.to_thread(self.provider.snapshot)
        return {"host": self.name, "screen": screen.to_json()}

    def _health_changed(self, healthy: bool, reason: str) -> None:
        """From the provider's thread: publish ``evt.HOST.provider-health``."""
        self.events.publish_from_thread(PROVIDER_HEALTH, {"provider": "display", "healthy": healthy,
                                                          "reason": reason})

    def _frame_shown(self) -> None:
        """From the provider's thread: a frame reached the panel; announce the newest one, once."""
        if self._frame_event_due:
            return
        self._frame_event_due = True
        self.events.from_thread(self._publish_frame)

    async def _publish_frame(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_frame_event + FRAME_EVENT_INTERVAL_S - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)  # rate limit; frames meanwhile are covered by the snapshot below
        self._last_frame_event = loop.time()
        self._frame_event_due = False  # frames after this point get an event of their own
        try:
            screen = await asyncio.to_thread(self.provider.snapshot)
        except ProviderError:
            return  # unknown panel memory: the health event says why
        await self.events.publish(FRAME, {"screen": screen.to_json()})

    async def _accept(self, actor: Actor, msg: Msg) -> None:
        """The subscription's callback, on the instance's lane: hand the message to a task and return.

        nats-py runs callbacks inside the subscription's task, which unsubscribing
        cancels; a message already accepted must survive a graceful stop, so it
        runs in a task of its own that the lane waits for.  The lane runs one
        message at a time; too many waiting are refused.
        """
        if actor.waiting >= MAX_WAITING:
            text = f"actor {actor.name!r} is busy: {actor.waiting} messages are already waiting; try again"
            await self._actor_reply(actor, msg, text.encode(), error_headers(text))
            return
        actor.waiting += 1
        actor.lane.track(asyncio.ensure_future(self._serve(actor, msg)))

    async def _serve(self, actor: Actor, msg: Msg) -> None:
        try:
            async with actor.lane.turn:  # one message at a time, in the order they came
                await self._run(actor, msg)
        finally:
            actor.waiting -= 1

    async def _run(self, actor: Actor, msg: Msg) -> None:
        if not msg.reply:
            log.debug("actor=%s dropping a message with no reply subject", actor.name)
        try:
            if actor.lane.past_grace():
                raise ActorCallError(f"actor {actor.name!r} is stopping on host {self.name}; try again")
            if len(msg.data) > self.limits.max_message_bytes:
                raise ActorCallError(
                    f"message of {len(msg.data)} bytes is over the {self.limits.max_message_bytes}-byte limit"
                )
            headers = [(k, v) for k, v in (msg.headers or {}).items()]
            result = actor.call(Message(msg.subject, msg.data, headers))
        except PiEdgeError as exc:
            log.info("actor=%s error: %s", actor.name, exc)
            await self._actor_reply(actor, msg, str(exc).encode(), error_headers(str(exc)))
        except Exception as exc:  # the host must survive anything a message provokes
            log.exception("actor=%s unexpected failure", actor.name)
            text = f"host failed while running actor {actor.name!r}: {type(exc).__name__}: {exc}"
            await self._actor_reply(actor, msg, text.encode(), error_headers(text))
        else:
            await self._actor_reply(actor, msg, result, None)

    async def _actor_reply(self, actor: Actor, msg: Msg, body: bytes, headers: dict[str, str] | None) -> None:
        """Through the actor's lane; the reply names the host, so a broadcast's replies can be told apart."""
        await self._reply(msg, body, {**(headers or {}), HOST_HEADER: self.name}, publish=actor.lane.publish)

    async def _reply(self, msg: Msg, body: bytes, headers: dict[str, str] | None,
                     publish: Publish | None = None) -> None:
        if not msg.reply:
            return
        try:
            await (publish or self.nc.publish)(msg.reply, body, headers=headers)
        except Exception as exc:
            log.warning("host=%s could not send reply to %s: %s", self.name, msg.reply, exc)

    def describe(self) -> dict[str, object]:
        """What ``hosts`` shows: enough to pick a host by name or label."""
        health = self.provider.health()
        return {
            "id": self.id,
            "name": self.name,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "labels": self.labels,
            "provider": self.provider_name,
            "actors": {name: group.scale for name, group in sorted(self.actors.items())},
            "failed": sorted(name for name, group in self.actors.items() if group.failed_reason),
            "not_running": sorted(self.not_running),  # so 'stop' finds the hosts that still want them
            "display": {"healthy": health.healthy, "reason": health.reason},
        }

    def inventory(self) -> dict[str, Any]:
        """What ``inventory HOST`` shows: everything above, in detail."""
        info = self.provider.info()
        return {
            **self.describe(),
            "actors": {name: {"digest": g.digest, "scale": g.scale, "handled": g.handled, "failed": g.failed,
                              "failed_reason": g.failed_reason,
                              "signer": g.signer, "capabilities": sorted(g.granted) if g.granted is not None else "all",
                              "display": self.links.get(name, self.provider_name)}
                       for name, g in sorted(self.actors.items())},
            "not_running": {name: {"reason": down.reason, "refused": down.refused}
                            for name, down in sorted(self.not_running.items())},
            "links": dict(sorted(self.links.items())),
            "display": {"driver": info.driver, "width": info.width, "height": info.height,
                        **self.describe()["display"]},  # type: ignore[dict-item]
            "limits": {"deadline_ms": self.limits.deadline_ms, "memory_bytes": self.limits.memory_bytes,
                       "max_message_bytes": self.limits.max_message_bytes},
        }

    async def _ping(self, msg: Msg) -> None:
        await self._reply(msg, json.dumps(self.describe()).encode(), None)

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop taking messages, give in-flight ones ``grace`` seconds to finish, then release the actors."""
        self._stopping = True
        self.stop_heartbeat()
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribe failed: %s", exc)
        self._subs.clear()
        groups = list(self.actors.values())
        self.actors.clear()
        await asyncio.gather(*(self._stop_group(group, grace) for group in groups))
        for task in self._expiring:  # an expiry being judged: every actor has stopped anyway
            task.cancel()
        await asyncio.gather(*self._expiring, return_exceptions=True)
        while self._closing:  # lanes a stop, scale or redeploy was closing when we were asked to stop
            await asyncio.gather(*self._closing, return_exceptions=True)
        self.provider.listen()
        await self.events.cancel_pending()
        await self.events.publish(HOST_STOPPED, {"name": self.name})


def default_host_name() -> str:
    """The machine's short hostname, made safe for a subject token."""
    raw = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)
    return cleaned or "pi"
