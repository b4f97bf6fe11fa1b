"""Tasks that belong to something: a scope keeps every task it starts until it ends.

``asyncio.TaskGroup`` fits work that starts and finishes together.  Much of an
agent's background work does not: a heartbeat runs for as long as the host, a
lane closes whenever a scale-down asks, a reload starts when a SIGHUP comes.
A ``TaskScope`` owns such tasks: nothing is left to the garbage collector (the
event loop keeps only weak references to tasks), a failure is logged instead
of vanishing with the task, and ``close()`` cancels and awaits what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("pi_edge.tasks")

T = TypeVar("T")


class TaskScope:
    """Owns the tasks it starts; ``close()`` cancels and awaits them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, job: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Start ``job`` in this scope; its exception, if any, is logged when it ends."""
        if self._closed:
            job.close()
            raise RuntimeError(f"task scope {self.name!r} is closed; {name or 'the task'} was not started")
        task = asyncio.ensure_future(job)
        if name:
            task.set_name(f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s: task %s failed: %s", self.name, task.get_name(), exc, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Until every task started so far (and any they start meanwhile) has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """No new tasks; those running are cancelled and awaited."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
