"""Following a host's events in tests, from the moment the subscription is really live.

nats-py's ``flush()`` can return before the server has a new subscription
(its PING may overtake the queued SUB), so a probe published on the same
connection must come back first: the server delivers it only after the SUB.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client

from agent import subjects

PROBE = "Pi-Edge-Test-Probe"


async def follow(nc: Client, kind: str, host: str = "test-pi", lattice: str = "default") -> asyncio.Queue[dict[str, Any]]:
    """A queue of the ``data`` of each ``kind`` event from ``host``."""
    subject = subjects.event(lattice, host, kind)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    live = asyncio.Event()

    async def on_event(msg) -> None:  # type: ignore[no-untyped-def]
        if msg.headers and PROBE in msg.headers:
            live.set()
            return
        await queue.put(json.loads(msg.data)["data"])

    await nc.subscribe(subject, cb=on_event)
    await nc.publish(subject, b"{}", headers={PROBE: "1"})
    await asyncio.wait_for(live.wait(), 10)
    return queue
