"""Following a host's events in tests, from the moment the subscription is really live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import subscriptions_live


async def follow(nc: Client, kind: str, host: str = "test-pi", lattice: str = "default") -> asyncio.Queue[dict[str, Any]]:
    """A queue of the ``data`` of each ``kind`` event from ``host``; the server holds the subscription on return."""
    subject = subjects.event(lattice, host, kind)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_event(msg) -> None:  # type: ignore[no-untyped-def]
        await queue.put(json.loads(msg.data)["data"])

    await nc.subscribe(subject, cb=on_event)
    await subscriptions_live(nc)
    return queue
