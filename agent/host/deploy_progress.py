"""Where a deploy is on this host, as ``deploy`` events the deploying laptop follows.

The phases, in order: ``fetching`` (with ``percent``, at most every 10 % or
half second), ``fetched`` or ``cached``, ``compiling`` (the first time, which
on a Pi takes minutes) or ``loading``, then ``started`` or ``failed`` (with
the reason).  Events are the host's own to publish, so a laptop learns this
without being able to ask anything of the host but the deploy itself.
"""

from __future__ import annotations

import time
from typing import Any

from pi_edge.agent.lattice.events import DEPLOY, EventPublisher

EVERY_PERCENT = 10
EVERY_S = 0.5


class DeployProgress:
    def __init__(self, events: EventPublisher, actor: str, digest: str) -> None:
        self.events = events
        self.actor = actor
        self.digest = digest
        self.started = time.monotonic()
        self._percent = -EVERY_PERCENT
        self._at = 0.0

    async def phase(self, phase: str, **data: Any) -> None:
        seconds = round(time.monotonic() - self.started, 3)
        await self.events.publish(DEPLOY, {"actor": self.actor, "digest": self.digest, "phase": phase,
                                           "seconds": seconds, **data})

    async def fetching(self, done: int, size: int) -> None:
        """From the fetch, after each chunk: a ``fetching`` event when it moved on enough."""
        percent = 100 * done // size if size else 100
        now = time.monotonic()
        if percent >= self._percent + EVERY_PERCENT or now - self._at >= EVERY_S or done == size:
            self._percent, self._at = percent, now
            await self.phase("fetching", percent=percent, bytes=done, size=size)
