"""Make nats-py's buffered writes late, to expose code that assumes they are already on the wire."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client


def hold_back_writes(nc: Client, seconds: float) -> None:
    """nats-py writes queued commands (SUB, UNSUB, PUB) ``seconds`` late; its flush() PING still goes at once.

    The delay runs on whichever loop asks for the flush (a lane's, for a lane's
    connection); a write still held when that loop closes is never made.
    """
    original = nc._flush_pending

    async def late(force_flush: bool = False) -> None:
        asyncio.get_running_loop().call_later(seconds, lambda: asyncio.ensure_future(original(force_flush)))

    nc._flush_pending = late  # type: ignore[method-assign]
