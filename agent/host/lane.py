"""An actor instance's lane: a thread of its own with its own event loop and NATS connection.

Requests for an instance arrive on the thread that runs its Wasm, so a message
costs no hand-off between threads.  Handing each call to a worker thread and
the reply back to the host's loop cost two thread wake-ups per message, about
0.2 ms of a 1.2 ms round trip on a small VM (bench/roundtrip).  A slow or
looping actor holds up only its own lane: the host's loop (control subjects,
heartbeats, events) and other instances run on.

Methods that run on the lane's own loop (its thread) end in ``_on_lane``; the
others are called from the host's loop.
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

from pi_edge.agent.lattice.connection import connect, send_now, subscriptions_live
from pi_edge.agent.trust.credentials import Credentials

log = logging.getLogger("pi_edge.lane")

T = TypeVar("T")
MessageHandler = Callable[[Msg], Awaitable[None]]


class Lane:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.nc: Client | None = None
        #: Held by the message being handled: messages run one at a time, in the order they arrived.
        self.turn = asyncio.Lock()
        self._subs: list[Subscription] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._stop_after: float | None = None  # loop time after which waiting messages are turned away
        self._closing: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run_loop, name=f"actor-{name}", daemon=True)
        self._thread.start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self._cancel_leftovers()
            self.loop.close()

    def _cancel_leftovers(self) -> None:
        """Cancel and await what is still running on the stopped loop, as ``asyncio.run`` does.

        A connection whose server vanished can fail half-way through ``close()``
        and leave its subscription and reconnect tasks behind; closing the loop
        over them printed "Task was destroyed but it is pending!" and a traceback.
        """
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    async def run(self, job: Coroutine[Any, Any, T]) -> T:
        """Run ``job`` on the lane's loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(job, self.loop))

    async def open(self, url: str, client_name: str, subscriptions: list[tuple[str, str]],
                   on_message: MessageHandler, credentials: Credentials | None = None) -> None:
        """Connect to ``url`` (as ``credentials``, the agent's own) and subscribe each (subject, queue group);
        returns once the server holds them."""
        await self.run(self._open_on_lane(url, client_name, subscriptions, on_message, credentials))

    async def _open_on_lane(self, url: str, client_name: str, subscriptions: list[tuple[str, str]],
                            on_message: MessageHandler, credentials: Credentials | None) -> None:
        self.nc = await connect(url, name=client_name, timeout=5.0, reconnect=True, credentials=credentials)
        for subject, queue in subscriptions:
            self._subs.append(await self.nc.subscribe(subject, queue=queue, cb=on_message))
        await subscriptions_live(self.nc)

    async def publish_on_lane(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish on the lane's connection and write it out at once, not on a later turn of the loop:
        the loop blocks during each Wasm call, so a reply left to nats-py's flusher task would wait
        behind the next message's call."""
        assert self.nc is not None, "the lane is not open"
        await self.nc.publish(subject, payload, headers=headers)
        if not send_now(self.nc):
            await asyncio.sleep(0)  # this nats-py hides its buffer: its flusher sends on this loop turn

    def past_grace_on_lane(self) -> bool:
        """True once closing has given waiting messages all the time it allows (on the lane's loop)."""
        return self._stop_after is not None and self.loop.time() > self._stop_after

    def track_on_lane(self, task: asyncio.Task[Any]) -> None:
        """Count ``task`` (on this lane's loop) as a message in flight, which closing waits for."""
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def close(self, grace: float) -> None:
        """Stop taking messages, give those already sent ``grace`` seconds, disconnect, end the thread.

        Messages the server sent before the lane stopped listening are all
        answered: those that start within ``grace`` run, later ones are told the
        actor is stopping (the one running when ``grace`` ends finishes first).
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once(grace))
        await asyncio.shield(self._closing)  # a second caller waits for the first close

    async def _close_once(self, grace: float) -> None:
        if not self._thread.is_alive():
            return
        if self._inflight:  # counted from here: the lane itself is busy with them until they finish
            log.info("actor=%s letting %d in-flight message(s) finish (up to %g s)", self.name,
                     len(self._inflight), grace)
        try:
            await self.run(self._close_on_lane(grace))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self._thread.join)

    async def _close_on_lane(self, grace: float) -> None:
        log.debug("actor=%s stops taking messages", self.name)
        self._stop_after = self.loop.time() + grace
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await self._drain_on_lane(sub)  # no more messages, but those already sent to this lane are taken
            except Exception as exc:
                log.debug("actor=%s draining a subscription failed: %s", self.name, exc)
                try:
                    await sub.unsubscribe()
                except Exception:
                    pass
        if self._inflight:
            await asyncio.wait(set(self._inflight))
        if self.nc is not None:
            try:
                await self.nc.flush(timeout=2)  # replies still in the client's buffer go out first
            except Exception as exc:
                log.debug("actor=%s flush before closing failed: %s", self.name, exc)
            try:
                await self.nc.close()
            except Exception as exc:  # the server is gone already: nothing left to tell it
                log.debug("actor=%s closing its connection failed: %s", self.name, exc)

    async def _drain_on_lane(self, sub: Subscription) -> None:
        """nats-py's ``drain()``, with its UNSUB on the wire before the PING that confirms it.

        ``drain()`` buffers its UNSUB and writes its PING straight to the socket,
        so the PONG can come back while the server still routes to this lane; a
        message routed then arrives after the subscription is gone and is lost,
        its sender left to time out.  Sent first, the UNSUB is what the PONG
        confirms (the server ignores drain's second UNSUB for a gone subscription).
        """
        assert self.nc is not None
        unsubscribe = getattr(self.nc, "_send_unsubscribe", None)
        if unsubscribe is not None:
            await unsubscribe(sub._id)
            send_now(self.nc)
        await sub.drain()
