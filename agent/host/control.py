"""Control of this host from the lattice: every operation on ``pe.<lattice>.ctl.<host>.<op>``, in one place.

JSON in, JSON out; a malformed request, a refusal or a bug each come back as
a one-line error reply, and the host serves on whatever a request provokes.
What a reply says is what happened: a deploy, stop, scale or link that the
reply calls done is applied and saved.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pi_edge.agent.errors import ActorLoadError, ControlError, PiEdgeError, StateError
from pi_edge.agent.host.deploy_progress import DeployProgress
from pi_edge.agent.host.desired import DesiredActor, DesiredState
from pi_edge.agent.host.host import MAX_INSTANCES, REFUSALS, Host
from pi_edge.agent.host.links import LinkTable
from pi_edge.agent.host.log_buffer import MAX_ANSWER_LINES, LogBuffer
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import unsubscribe_all
from pi_edge.agent.lattice.replies import error_headers, expired
from pi_edge.agent.lattice.store import ComponentStore
from pi_edge.agent.trust import claims

log = logging.getLogger("pi_edge.host")

Operation = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
T = TypeVar("T")


class RuntimeTrust(Protocol):
    """Who changes this host's trust at run time (the agent: it owns the configuration and the restore)."""

    def trusted_issuers(self) -> dict[str, str]: ...

    async def add_trust(self, issuer: str) -> dict[str, list[str]]: ...

    async def remove_trust(self, issuer: str) -> dict[str, list[str]]: ...


class Control:
    def __init__(self, host: Host, desired: DesiredState, link_table: LinkTable,
                 trust: RuntimeTrust | None = None, logs: LogBuffer | None = None) -> None:
        self.host = host
        self.desired = desired
        self.link_table = link_table
        self.runtime_trust = trust
        self.log_buffer = logs
        self.operations: dict[str, Operation] = {
            "inventory": self.inventory, "snapshot": self.snapshot, "deploy": self.deploy, "stop": self.stop_actor,
            "scale": self.scale_actor, "link": self.link_actor, "trust": self.trust, "logs": self.logs,
        }
        self._subs: list[Subscription] = []

    async def subscribe(self) -> None:
        """Subscribe ``ctl.<host>.<op>`` for every operation (the caller confirms the server holds them)."""
        nc, host = self.host.nc, self.host
        for op, operation in self.operations.items():
            self._subs.append(await nc.subscribe(subjects.ctl(host.lattice, host.name, op),
                                                 cb=functools.partial(self._answer, op, operation)))

    async def unsubscribe(self) -> None:
        subs, self._subs = self._subs, []
        await unsubscribe_all(subs)

    async def _answer(self, op: str, operation: Operation, msg: Msg) -> None:
        """One control request: JSON in, JSON out, any failure a one-line error reply."""
        name = self.host.name
        if msg.subject != subjects.ctl(self.host.lattice, name, op):
            # JetStream push delivery keeps the stored subject ($KV..., $O...) on messages it aims at a deliver
            # subject: such a message was not sent as a control request by anyone, so it is not one.
            log.warning("host=%s ignored a message on its %s subject that was sent to %s", name, op, msg.subject[:80])
            return
        if expired(msg.headers):
            self.host.expired_requests += 1
            log.info("host=%s ctl %s dropped: its sender gave up (past its deadline); nothing done", name, op)
            return
        try:
            request = json.loads(msg.data) if msg.data.strip() else {}
            if not isinstance(request, dict):
                raise ControlError(f"{op}: the request must be a JSON object")
            answer = await operation(request)
        except ValueError as exc:  # also json.JSONDecodeError
            await self._reply(msg, f"{op}: malformed request: {exc}", failed=True)
        except PiEdgeError as exc:
            log.info("host=%s ctl %s refused: %s", name, op, exc)
            await self._reply(msg, str(exc), failed=True)
        except Exception as exc:  # the host must survive anything a request provokes
            log.exception("host=%s ctl %s failed", name, op)
            await self._reply(msg, f"host {name} failed on {op}: {type(exc).__name__}: {exc}", failed=True)
        else:
            await self._reply(msg, json.dumps(answer), failed=False)

    async def _reply(self, msg: Msg, text: str, failed: bool) -> None:
        if not msg.reply:
            return
        try:
            await self.host.nc.publish(msg.reply, text.encode(), headers=error_headers(text) if failed else None)
        except Exception as exc:
            log.warning("host=%s could not send reply to %s: %s", self.host.name, msg.reply, exc)

    # -- the operations --------------------------------------------------------------------------

    async def inventory(self, _request: dict[str, Any]) -> dict[str, Any]:
        """What ``inventory HOST`` shows: the host's description, in detail."""
        host = self.host
        info, described = host.provider.info(), host.describe()
        return {
            **described,
            "actors": {name: {"digest": a.digest, "scale": a.scale, "handled": a.handled, "failed": a.failed,
                              "expired": a.expired,
                              "failed_reason": a.failed_reason, "signer": a.signer,
                              "capabilities": sorted(a.granted) if a.granted is not None else "all",
                              "display": host.links.get(name, host.provider_name)}
                       for name, a in sorted(host.actors.items())},
            "not_running": {name: {"reason": down.reason, "refused": down.refused}
                            for name, down in sorted(host.not_running.items())},
            "links": dict(sorted(host.links.items())),
            "display": {"driver": info.driver, "width": info.width, "height": info.height, **described["display"]},
            "limits": {"deadline_ms": host.limits.deadline_ms, "memory_bytes": host.limits.memory_bytes,
                       "max_message_bytes": host.limits.max_message_bytes},
            "state_damaged": list(host.state_damage),
            # Requests dropped unrun because their sender had given up (control and display ones; the
            # actors' own are counted per actor): what a partition held back and delivered late.
            "expired_requests": host.expired_requests,
        }

    async def snapshot(self, _request: dict[str, Any]) -> dict[str, Any]:
        screen = await asyncio.to_thread(self.host.provider.snapshot)
        return {"host": self.host.name, "screen": screen.to_json()}

    async def deploy(self, request: dict[str, Any]) -> dict[str, Any]:
        host = self.host
        name, digest, scale = field(request, "name", str), field(request, "digest", str), scale_of(request)
        subjects.check_token("actor", name)
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ControlError(f"digest {digest!r} is not a sha256 hex digest")
        started = time.perf_counter()
        path = self.desired.component_path(digest)
        progress = DeployProgress(host.events, name, digest)
        try:
            fetched = await ComponentStore(host.nc).fetch(digest, path, host.limits.max_component_bytes,
                                                          on_progress=progress.fetching)
            await progress.phase("fetched" if fetched else "cached")
            try:
                actor = await self._saved_then_applied(self.desired.with_actor(DesiredActor(name, digest, scale)),
                                                       lambda: host.start_actor(name, path, scale, progress.phase))
            except (*REFUSALS, ActorLoadError):
                if fetched and not self._wanted(digest):
                    path.unlink(missing_ok=True)  # refused: it takes no room on this host
                raise
        except Exception as exc:
            await progress.phase("failed", reason=str(exc))
            raise
        await progress.phase("started", scale=actor.scale)
        return {"host": host.name, "actor": name, "digest": actor.digest, "scale": actor.scale,
                "fetched": fetched, "code": actor.code, "seconds": round(time.perf_counter() - started, 3)}

    async def stop_actor(self, request: dict[str, Any]) -> dict[str, Any]:
        host = self.host
        name = field(request, "name", str)
        if name not in host.actors and (name in self.desired.actors or name in host.not_running):
            # Wanted but not running (it failed to start): stopping it means no longer wanting it.
            if name in self.desired.actors:
                self.desired.save(self.desired.without(name))
            host.not_running.pop(name, None)
            log.info("agent: actor=%s was not running; forgotten", name)
            return {"host": host.name, "actor": name, "stopped": False, "forgotten": True}
        host.actor(name)  # one that is not running is refused before anything is saved
        await self._saved_then_applied(self.desired.without(name), lambda: host.stop_actor(name))
        return {"host": host.name, "actor": name, "stopped": True}

    async def scale_actor(self, request: dict[str, Any]) -> dict[str, Any]:
        host = self.host
        name, scale = field(request, "name", str), scale_of(request)
        host.actor(name)
        wanted = self.desired.actors.get(name)
        if wanted is None:  # a configured actor: its scale lives until the agent restarts
            actor = await host.scale_actor(name, scale)
        else:
            rescaled = self.desired.with_actor(DesiredActor(name, wanted.digest, scale))
            actor = await self._saved_then_applied(rescaled, lambda: host.scale_actor(name, scale))
        return {"host": host.name, "actor": name, "scale": actor.scale}

    async def link_actor(self, request: dict[str, Any]) -> dict[str, Any]:
        host = self.host
        actor = subjects.check_token("actor", field(request, "actor", str))
        provider = request.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise ControlError(f"request field 'provider' must be a provider name or null, got {provider!r}")
        if provider is not None:
            subjects.check_token("provider", provider)
        previous = host.links.get(actor)
        self.link_table.set(actor, provider)  # saved first: a link that cannot be saved is not made
        host.link(actor, provider)
        # "previous": the link this host had (null: none), so 'link del' can tell a removal from a no-op.
        return {"host": host.name, "actor": actor, "previous": previous,
                "provider": host.links.get(actor, host.provider_name)}

    def _wanted(self, digest: str) -> bool:
        """Whether any deployed actor runs (or wants) the component with this digest."""
        return any(actor.digest == digest for actor in self.desired.actors.values())

    async def trust(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"add": ISSUER}`` or ``{"remove": ISSUER}`` (saved, then applied), or ``{}``: the issuers trusted."""
        if self.runtime_trust is None:
            raise ControlError(f"host {self.host.name} cannot change its trust at run time")
        changes = {op: request[op] for op in ("add", "remove") if op in request}
        if len(changes) > 1:
            raise ControlError("trust: give one of 'add' and 'remove', not both")
        outcome: dict[str, list[str]] = {"stopped": [], "started": []}
        for op, issuer in changes.items():
            if not isinstance(issuer, str) or not claims.is_public_key(issuer, "account"):
                raise ControlError(f"trust: {op} needs an account public key (56 characters starting with 'A', "
                                   f"from 'pi-edge keys gen account'), got {str(issuer)[:60]!r}")
            apply = self.runtime_trust.add_trust if op == "add" else self.runtime_trust.remove_trust
            outcome = await apply(issuer)
            log.info("host=%s trust %s %s: stopped %s, started %s", self.host.name, op, issuer,
                     outcome["stopped"] or "none", outcome["started"] or "none")
        return {"host": self.host.name, "issuers": self.runtime_trust.trusted_issuers(), **outcome}

    async def logs(self, request: dict[str, Any]) -> dict[str, Any]:
        """The host's recent log lines: ``{"since": epoch seconds, "actor": NAME, "limit": N, "follow": S}``,
        each optional; ``follow`` also publishes new lines as ``log`` events for S seconds (a lease, renewed)."""
        if self.log_buffer is None:
            raise ControlError(f"host {self.host.name} keeps no log lines")
        since, actor = request.get("since"), request.get("actor")
        limit, follow = request.get("limit", 200), request.get("follow", 0)
        if since is not None and (not isinstance(since, int | float) or isinstance(since, bool)):
            raise ControlError(f"logs: since must be a time in seconds since the epoch, got {since!r}")
        if actor is not None:
            subjects.check_token("actor", field(request, "actor", str))
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_ANSWER_LINES:
            raise ControlError(f"logs: limit must be a whole number 0..{MAX_ANSWER_LINES}, got {limit!r}")
        if not isinstance(follow, int | float) or isinstance(follow, bool) or not follow >= 0:
            raise ControlError(f"logs: follow must be a number of seconds, got {follow!r}")
        lines, seq = self.log_buffer.recent(since, actor, limit)
        granted = self.log_buffer.follow(float(follow)) if follow else 0.0
        return {"host": self.host.name, "lines": lines, "seq": seq, "follow_s": granted,
                "kept": self.log_buffer.lines.maxlen}

    async def _saved_then_applied(self, wanted: dict[str, DesiredActor], apply: Callable[[], Awaitable[T]]) -> T:
        """Save what the host will run, then make it so; if that fails, the saved state goes back.

        A reply then says what happened: not saved (StateError) means not applied, and applied means saved.
        """
        before = dict(self.desired.actors)
        self.desired.save(wanted)
        try:
            return await apply()
        except BaseException:
            try:
                self.desired.save(before)
            except StateError as exc:
                log.error("host=%s %s: the saved state names a change that failed; it is tried again at "
                          "the next start", self.host.name, exc)
            raise


def field(request: dict[str, Any], key: str, kind: type[T]) -> T:
    """``request[key]`` if it is a ``kind`` (a bool is not an int here), else ControlError naming it."""
    value = request.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ControlError(f"request field {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def scale_of(request: dict[str, Any]) -> int:
    scale = request.get("scale", 1)
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= MAX_INSTANCES:
        raise ControlError(f"scale must be a whole number 1..{MAX_INSTANCES}, got {scale!r}")
    return scale
