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
from .provider import DisplayProvider
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
        """Answer pings; called after the actors so a ping reply means they are reachable."""
        self._subs.append(await self.nc.subscribe(subjects.ctl_ping(self.lattice), cb=self._ping))
        await self.nc.flush()

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
        return {
            "id": self.id,
            "name": self.name,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "labels": {"arch": platform.machine(), "os": platform.system().lower(),
                       "display": info.driver},
            "actors": sorted(self.actors),
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
        for actor in self.actors.values():
            actor.close()
        self.actors.clear()


def default_host_name() -> str:
    """The machine's short hostname, made safe for a subject token."""
    raw = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)
    return cleaned or "pi"
