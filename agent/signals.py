"""Starting a long-running command so that Ctrl-C or SIGTERM at any moment stops it cleanly.

Signal handlers go in before anything starts: a SIGTERM that arrives while a
server is starting or an actor is compiling still stops every child process.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("pi_edge.signals")

T = TypeVar("T")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    return stopping


def set_from_thread(event: asyncio.Event) -> Callable[..., None]:
    """A callback that sets ``event`` from any thread (nats-server's log reader calls ``on_exit`` there).

    Made on the event loop's thread; once that loop has closed, nobody waits any more and it does nothing.
    """
    loop = asyncio.get_running_loop()

    def setter(*_: object) -> None:
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop is closed
            pass

    return setter


def stop_when(cause: asyncio.Event, stopping: asyncio.Event) -> asyncio.Task[None]:
    """Set ``stopping`` once ``cause`` is set, as a stop signal would; cancel the task when done."""
    async def relay() -> None:
        await cause.wait()
        stopping.set()

    return asyncio.ensure_future(relay())


async def start_unless_stopped(start: Awaitable[T], stopping: asyncio.Event) -> tuple[bool, T | None]:
    """``(True, result)`` once started; ``(False, None)`` if a stop signal came first (the start is cancelled)."""
    starting = asyncio.ensure_future(start)
    waiting = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if not starting.done():
        log.info("stop requested while starting; stopping")
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return False, None
    return True, starting.result()
