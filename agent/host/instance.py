"""One instance of an actor as the host sees it: a component instance on a lane of its own.

Each instance has its own lane (thread, event loop, NATS connection), so its
store is only ever touched by that thread and it handles one message at a time
(the actor model); the host's loop keeps serving control requests and
heartbeats while a call is in progress.
"""

from __future__ import annotations

from collections.abc import Callable

from pi_edge.agent.errors import ActorTrapError
from pi_edge.agent.host.lane import Lane
from pi_edge.agent.host.supervision import Supervisor
from pi_edge.agent.wasm.instance import ComponentInstance, Message


class Instance:
    def __init__(self, component: ComponentInstance, supervisor: Supervisor | None = None,
                 on_failed: Callable[[str], None] | None = None) -> None:
        self.component = component
        self.name = component.name
        self.supervisor = supervisor or Supervisor(self.name)
        self.on_failed = on_failed
        self.lane = Lane(self.name)
        self.handled = 0
        self.failed = 0
        self.waiting = 0  # accepted messages not yet answered, the one running included
        self.expired = 0  # messages dropped unrun: their sender had given up (see lattice.replies)

    def call_on_lane(self, message: Message) -> bytes:
        """Run one message; called on the lane's thread, where the message arrived."""
        self.supervisor.admit()
        try:
            result = self.component.call(message)
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
