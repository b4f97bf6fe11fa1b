"""The host: actors on one side, the lattice on the other.

It subscribes each actor's subject with the actor's name as queue group, turns
every outcome (reply, actor error, trap, oversized message) into a reply, and
answers ``ctl.ping`` so the laptop can see it.  Nothing a message does may stop
the host from serving the next one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import platform
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from . import __version__, subjects
from .actor import Actor
from .errors import ActorCallError, PiEdgeError
from .instance import ActorInstance, Message
from .lattice import error_headers
from .limits import Limits
from .provider import DisplayProvider, ProviderError
from .runtime import Runtime

log = logging.getLogger("pi_edge.host")


class Host:
    def __init__(self, nc: Client, runtime: Runtime, provider: DisplayProvider, *, lattice: str,
                 name: str | None = None, limits: Limits | None = None) -> None:
        self.nc = nc
        self.runtime = runtime
        self.provider = provider
        self.lattice = subjects.check_token("lattice", lattice)
        self.name = subjects.check_token("host", name or default_host_name())
        self.id = f"{self.name}-{secrets.token_hex(4)}"
        self.limits = limits or Limits()
        self.started = time.monotonic()
        self.actors: dict[str, Actor] = {}
        self._subs: list[Subscription] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._frame_event_due = False
        self._tasks: set[asyncio.Future[None]] = set()

    async def start_actor(self, name: str, wasm_path: Path) -> Actor:
        """Load, instantiate and subscribe; errors leave the host as it was."""
        subjects.check_token("actor", name)
        # Compiling takes seconds on a Pi: off the loop, so actors already running keep serving.
        loaded = await asyncio.to_thread(self.runtime.load_file, name, wasm_path)
        actor = Actor(await asyncio.to_thread(ActorInstance, self.runtime, loaded, self.provider, self.limits))
        sub = await self.nc.subscribe(subjects.actor(self.lattice, name), queue=name,
                                      cb=functools.partial(self._serve, actor))
        self._subs.append(sub)
        self.actors[name] = actor
        log.info("host=%s actor=%s started digest=%s", self.name, name, loaded.digest[:12])
        return actor

    async def start_control(self) -> None:
        """Answer pings and control requests, publish display events.

        Called after the actors start, so a ping reply means they are reachable.
        """
        self._loop = asyncio.get_running_loop()
        self._subs.append(await self.nc.subscribe(subjects.ctl_ping(self.lattice), cb=self._ping))
        self._subs.append(await self.nc.subscribe(subjects.ctl(self.lattice, self.name, "snapshot"),
                                                  cb=self._snapshot))
        self.provider.listen(on_health=self._health_changed, on_frame=self._frame_shown)
        await self.nc.flush()

    # -- the display, seen from the lattice ------------------------------------------

    async def _snapshot(self, msg: Msg) -> None:
        try:
            screen = await asyncio.to_thread(self.provider.snapshot)
        except ProviderError as exc:
            await self._reply(msg, str(exc).encode(), error_headers(str(exc)))
            return
        await self._reply(msg, json.dumps({"host": self.name, "screen": screen.to_json()}).encode(), None)

    def _health_changed(self, healthy: bool, reason: str) -> None:
        """From the provider's thread: publish ``evt.HOST.provider-health``."""
        body = json.dumps({"host": self.name, "provider": "display", "healthy": healthy, "reason": reason,
                           "at": time.time()}).encode()
        self._publish_soon(subjects.event(self.lattice, self.name, "provider-health"), body)

    def _frame_shown(self) -> None:
        """From the provider's thread: a frame reached the panel; announce the newest one, once."""
        if self._frame_event_due:
            return
        self._frame_event_due = True
        self._from_thread(self._publish_frame)

    async def _publish_frame(self) -> None:
        self._frame_event_due = False  # frames after this point get an event of their own
        try:
            screen = await asyncio.to_thread(self.provider.snapshot)
        except ProviderError:
            return  # unknown panel memory: the health event says why
        body = json.dumps({"host": self.name, "screen": screen.to_json()}).encode()
        await self._publish(subjects.event(self.lattice, self.name, "frame"), body)

    def _publish_soon(self, subject: str, body: bytes) -> None:
        self._from_thread(functools.partial(self._publish, subject, body))

    def _from_thread(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` on the host's loop; the task is kept until done so it is not collected."""
        def spawn() -> None:
            task = asyncio.ensure_future(job())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(spawn)
            except RuntimeError:  # the loop closed while the provider was still finishing a frame
                pass

    async def _publish(self, subject: str, body: bytes) -> None:
        try:
            await self.nc.publish(subject, body)
        except Exception as exc:
            log.debug("host=%s could not publish %s: %s", self.name, subject, exc)

    async def _serve(self, actor: Actor, msg: Msg) -> None:
        if not msg.reply:
            log.debug("actor=%s dropping a message with no reply subject", actor.name)
        try:
            if len(msg.data) > self.limits.max_message_bytes:
                raise ActorCallError(
                    f"message of {len(msg.data)} bytes is over the {self.limits.max_message_bytes}-byte limit"
                )
            headers = [(k, v) for k, v in (msg.headers or {}).items()]
            result = await actor.handle(Message(msg.subject, msg.data, headers))
        except PiEdgeError as exc:
            log.info("actor=%s error: %s", actor.name, exc)
            await self._reply(msg, str(exc).encode(), error_headers(str(exc)))
        except Exception as exc:  # the host must survive anything a message provokes
            log.exception("actor=%s unexpected failure", actor.name)
            text = f"host failed while running actor {actor.name!r}: {type(exc).__name__}: {exc}"
            await self._reply(msg, text.encode(), error_headers(text))
        else:
            await self._reply(msg, result, None)

    async def _reply(self, msg: Msg, body: bytes, headers: dict[str, str] | None) -> None:
        if not msg.reply:
            return
        try:
            await self.nc.publish(msg.reply, body, headers=headers)
        except Exception as exc:
            log.warning("host=%s could not send reply to %s: %s", self.name, msg.reply, exc)

    def describe(self) -> dict[str, object]:
        info = self.provider.info()
        health = self.provider.health()
        return {
            "id": self.id,
            "name": self.name,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "labels": {"arch": platform.machine(), "os": platform.system().lower(),
                       "display": info.driver},
            "actors": sorted(self.actors),
            "display": {"healthy": health.healthy, "reason": health.reason},
        }

    async def _ping(self, msg: Msg) -> None:
        await self._reply(msg, json.dumps(self.describe()).encode(), None)

    async def stop(self) -> None:
        """Stop taking messages, let in-flight calls finish, then release the actors."""
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribe failed: %s", exc)
        self._subs.clear()
        self.provider.listen()
        for actor in self.actors.values():
            actor.close()
        self.actors.clear()


def default_host_name() -> str:
    """The machine's short hostname, made safe for a subject token."""
    raw = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)
    return cleaned or "pi"
