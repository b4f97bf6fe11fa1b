"""An actor as the host sees it: an instance on a lane of its own, one message at a time.

Each instance has its own lane (thread, event loop, NATS connection), so its
store is only ever touched by that thread and it handles one message at a time
(the actor model); the host's loop keeps serving control requests and
heartbeats while a call is in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pi_edge.agent.errors import ActorTrapError
from pi_edge.agent.host.lane import Lane
from pi_edge.agent.host.supervision import Supervisor
from pi_edge.agent.trust.claims import Claims
from pi_edge.agent.wasm.instance import ActorInstance, Message


class Actor:
    def __init__(self, instance: ActorInstance, supervisor: Supervisor | None = None,
                 on_failed: Callable[[str], None] | None = None) -> None:
        self.instance = instance
        self.name = instance.name
        self.supervisor = supervisor or Supervisor(self.name)
        self.on_failed = on_failed
        self.lane = Lane(self.name)
        self.handled = 0
        self.failed = 0
        self.waiting = 0  # accepted messages not yet answered, the one running included

    def call(self, message: Message) -> bytes:
        """Run one message; called on the lane's thread, where the message arrived."""
        self.supervisor.admit()
        try:
            result = self.instance.call(message)
        except ActorTrapError:
            self.failed += 1
            if self.supervisor.trapped() and self.on_failed is not None:
                self.on_failed(self.supervisor.failed_reason or "")
            raise
        except Exception:
            self.failed += 1
            raise
        self.supervisor.succeeded()
        self.handled += 1
        return result

    async def close(self, grace: float) -> None:
        """Stop taking messages, let those accepted finish (up to ``grace`` s), release the lane."""
        await self.lane.close(grace)


class ActorGroup:
    """All running instances of one actor on this host: same component, same subject and queue group.

    NATS spreads messages over the instances' subscriptions, so ``scale`` is
    just how many instances (each with its own store and lane) listen.
    """

    def __init__(self, name: str, digest: str) -> None:
        self.name = name
        self.digest = digest
        self.instances: list[Actor] = []
        self.stopped = False  # set once stopping begins; an instance still starting then stops too
        self.granted: frozenset[str] | None = None  # interfaces its claims grant; None: unsigned, all
        self.signer: str | None = None
        self.claims: Claims | None = None  # as verified at start; judged again when the host's trust changes
        self.expiry: asyncio.TimerHandle | None = None  # when its claims are next judged against the clock
        self.refused = False  # set once the host refuses it while running (trust revoked, claims expired)

    @property
    def failed_reason(self) -> str | None:
        reasons = [actor.supervisor.failed_reason for actor in self.instances if actor.supervisor.failed_reason]
        return reasons[0] if reasons else None

    @property
    def scale(self) -> int:
        return len(self.instances)

    @property
    def handled(self) -> int:
        return sum(actor.handled for actor in self.instances)

    @property
    def failed(self) -> int:
        return sum(actor.failed for actor in self.instances)
