"""An actor as the event loop sees it: messages in, replies out, Wasm off the loop.

Each instance has its own single worker thread, so its store is only ever
touched by one thread and it handles one message at a time (the actor model);
heartbeats and NATS keep running while a call is in progress.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from collections.abc import Callable

from .errors import ActorTrapError
from .instance import ActorInstance, Message
from .supervision import Supervisor

log = logging.getLogger("pi_edge.actor_host")


class Actor:
    def __init__(self, instance: ActorInstance, supervisor: Supervisor | None = None,
                 on_failed: Callable[[str], None] | None = None) -> None:
        self.instance = instance
        self.name = instance.name
        self.supervisor = supervisor or Supervisor(self.name)
        self.on_failed = on_failed
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"actor-{self.name}")
        self.handled = 0
        self.failed = 0
        self.waiting = 0  # accepted messages not yet answered, the one running included

    async def handle(self, message: Message) -> bytes:
        self.supervisor.admit()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._worker, self.instance.call, message)
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

    def close(self) -> None:
        """Let an in-flight call finish, then release the worker."""
        self._worker.shutdown(wait=True)


class ActorGroup:
    """All running instances of one actor on this host: same component, same subject and queue group.

    NATS spreads messages over the instances' subscriptions, so ``scale`` is
    just how many instances (each with its own store and worker) listen.
    """

    def __init__(self, name: str, digest: str) -> None:
        self.name = name
        self.digest = digest
        self.instances: list[tuple[Actor, object]] = []  # (actor, its subscription)
        self.broadcast: object | None = None  # the group's one subscription to the broadcast subject
        self.granted: frozenset[str] | None = None  # interfaces its claims grant; None: unsigned, all
        self.signer: str | None = None

    @property
    def failed_reason(self) -> str | None:
        reasons = [actor.supervisor.failed_reason for actor, _ in self.instances if actor.supervisor.failed_reason]
        return reasons[0] if reasons else None

    @property
    def scale(self) -> int:
        return len(self.instances)

    @property
    def handled(self) -> int:
        return sum(actor.handled for actor, _ in self.instances)

    @property
    def failed(self) -> int:
        return sum(actor.failed for actor, _ in self.instances)
