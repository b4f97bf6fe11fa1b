"""Events a host publishes on ``pe.<lattice>.evt.<host>.<kind>``: one JSON envelope for all.

``{"kind", "host", "host_id", "at", "data"}`` -- ``pi-edge events`` prints
them, the laptop's tools can match on kind and host without knowing payloads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client

from pi_edge.agent.lattice import subjects

log = logging.getLogger("pi_edge.events")

HOST_STARTED = "host-started"
HOST_STOPPED = "host-stopped"
HEARTBEAT = "heartbeat"
ACTOR_STARTED = "actor-started"
ACTOR_STOPPED = "actor-stopped"
ACTOR_FAILED = "actor-failed"
ACTOR_REFUSED = "actor-refused"
PROVIDER_HEALTH = "provider-health"
FRAME = "frame"
STATE_DAMAGED = "state-damaged"
ACTOR_SCALED = "actor-scaled"
#: Where a deploy is on this host: fetching (with its percent), fetched or cached, compiling or loading,
#: started or failed.
DEPLOY = "deploy"
#: The host's new log lines, published only while someone follows them (``pi-edge logs -f``).
LOG = "log"
#: Published by the hub, not the host: the host's leaf link to the hub was lost, and is back.
HOST_UNREACHABLE = "host-unreachable"
HOST_BACK = "host-back"
#: Every kind a host (or the hub, about a host) publishes, for followers that filter by kind.
KINDS = (HOST_STARTED, HOST_STOPPED, HEARTBEAT, ACTOR_STARTED, ACTOR_STOPPED, ACTOR_SCALED, ACTOR_FAILED,
         ACTOR_REFUSED, PROVIDER_HEALTH, FRAME, STATE_DAMAGED, DEPLOY, LOG, HOST_UNREACHABLE, HOST_BACK)


def envelope(kind: str, host: str, host_id: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"kind": kind, "host": host, "host_id": host_id, "at": round(time.time(), 3),
                       "data": data}).encode()


class EventPublisher:
    """Publishes from the loop or, via ``from_thread``, from a provider's or actor's thread."""

    def __init__(self, nc: Client, lattice: str, host: str, host_id: str) -> None:
        self.nc = nc
        self.lattice = lattice
        self.host = host
        self.host_id = host_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._stopped = False  # after cancel_pending: jobs handed over from threads are dropped

    def bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Best effort: an event that cannot go out is logged, never raised."""
        try:
            await self.nc.publish(subjects.event(self.lattice, self.host, kind),
                                  envelope(kind, self.host, self.host_id, data))
        except Exception as exc:
            log.debug("host=%s could not publish %s: %s", self.host, kind, exc)

    def from_thread(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` on the loop; the task is kept until done so it is not collected."""
        def spawn() -> None:
            if self._stopped:
                return
            task = asyncio.ensure_future(job())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(spawn)
            except RuntimeError:  # the loop closed while a thread was still finishing
                pass

    async def cancel_pending(self) -> None:
        """At stop: events still waiting to go out (a frame event sitting out its rate limit) are dropped."""
        self._stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def publish_from_thread(self, kind: str, data: dict[str, Any]) -> None:
        self.from_thread(lambda: self.publish(kind, data))
