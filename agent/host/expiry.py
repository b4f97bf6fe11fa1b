"""Claims that expire while their actor runs: judged again at the expiry, and at least every minute before.

A Pi has no clock of its own and sets it from NTP after boot, so the wall
clock can jump: claims that expire in an hour by the boot-time clock may have
expired already by the real one.  Rechecking every ``EXPIRY_RECHECK_S`` bounds
how long such an actor runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pi_edge.agent.errors import ClaimsError
from pi_edge.agent.host.actor import Actor
from pi_edge.agent.tasks import TaskScope
from pi_edge.agent.trust.claims import Claims

EXPIRY_RECHECK_S = 60.0


class ExpiryWatch:
    """``admit`` raises ClaimsError for claims not accepted at a moment; ``refuse`` stops such an actor."""

    def __init__(self, scope: TaskScope, clock: Callable[[], float], admit: Callable[[Claims | None, float], None],
                 refuse: Callable[[Actor, ClaimsError], Awaitable[object]]) -> None:
        self.scope = scope
        self.clock = clock
        self.admit = admit
        self.refuse = refuse
        self.closed = False

    def watch(self, actor: Actor) -> None:
        """Judge ``actor``'s claims again when they expire (or sooner, see EXPIRY_RECHECK_S)."""
        if actor.claims is None or actor.claims.expires is None:
            return
        delay = min(max(actor.claims.expires - self.clock(), 0.0), EXPIRY_RECHECK_S)
        actor.expiry = asyncio.get_running_loop().call_later(delay, self._due, actor)

    def _due(self, actor: Actor) -> None:
        if not self.closed:
            self.scope.spawn(self.judge(actor), f"expiry-{actor.name}")

    async def judge(self, actor: Actor) -> None:
        if actor.stopped or self.closed:
            return
        try:
            self.admit(actor.claims, self.clock())
        except ClaimsError as exc:
            await self.refuse(actor, exc)
            return
        self.watch(actor)  # not yet: the clock was behind, or the expiry is further than a recheck
