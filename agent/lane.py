"""An actor instance's lane: a thread of its own with its own event loop and NATS connection.

Requests for an instance arrive on the thread that runs its Wasm, so a message
costs no hand-off between threads.  Handing each call to a worker thread and
the reply back to the host's loop cost two thread wake-ups per message, about
0.2 ms of a 1.2 ms round trip on a small VM (bench/roundtrip).  A slow or looping actor holds up only its own lane: the
host's loop (control subjects, heartbeats, events) and other instances run on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from .lattice import connect, subscriptions_live

log = logging.getLogger("pi_edge.lane")

T = TypeVar("T")
MessageHandler = Callable[[Msg], Awaitable[None]]


class Lane:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.nc: Client | None = None
        self._subs: list[Subscription] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._run_loop, name=f"actor-{name}", daemon=True)
        self._thread.start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    async def run(self, job: Coroutine[Any, Any, T]) -> T:
        """Run ``job`` on the lane's loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(job, self.loop))

    async def open(self, url: str, client_name: str, subscriptions: list[tuple[str, str]],
                   on_message: MessageHandler) -> None:
        """Connect to ``url`` and subscribe each (subject, queue group); returns once the server holds them."""
        await self.run(self._open(url, client_name, subscriptions, on_message))

    async def _open(self, url: str, client_name: str, subscriptions: list[tuple[str, str]],
                    on_message: MessageHandler) -> None:
        self.nc = await connect(url, name=client_name, timeout=5.0, reconnect=True)
        for subject, queue in subscriptions:
            self._subs.append(await self.nc.subscribe(subject, queue=queue, cb=on_message))
        await subscriptions_live(self.nc)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count ``task`` (on this lane's loop) as a message in flight, which closing waits for."""
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def close(self, grace: float) -> None:
        """Stop taking messages, give those in flight ``grace`` seconds, disconnect, end the thread."""
        if not self._thread.is_alive():
            return
        if self._inflight:  # counted from here: the lane itself is busy with them until they finish
            log.info("actor=%s letting %d in-flight message(s) finish (up to %g s)", self.name,
                     len(self._inflight), grace)
        try:
            await self.run(self._close(grace))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self._thread.join)

    async def _close(self, grace: float) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("actor=%s unsubscribe failed: %s", self.name, exc)
        if self._inflight:
            _done, late = await asyncio.wait(set(self._inflight), timeout=grace)
            if late:
                log.warning("actor=%s %d message(s) still waiting after %g s; dropped", self.name, len(late), grace)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        if self.nc is not None:
            try:
                await self.nc.flush(timeout=2)  # replies still in the client's buffer go out first
            except Exception as exc:
                log.debug("actor=%s flush before closing failed: %s", self.name, exc)
            await self.nc.close()
