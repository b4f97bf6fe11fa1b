"""The laptop's lattice client on its own, against a real hub."""

from __future__ import annotations

import asyncio

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import LatticeClient
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.events import envelope
from pi_edge.agent.lattice.nats_server import NatsServer


async def test_events_that_are_not_json_objects_come_as_malformed_and_the_feed_goes_on(existing_server: NatsServer) -> None:
    publisher = await connect(existing_server.url, name="test-publisher")
    try:
        async with LatticeClient(existing_server.url) as lattice, lattice.events("pi-a") as everything, \
                lattice.events("pi-a", ["frame"]) as frames:
            subject = subjects.event("default", "pi-a", "frame")
            for data in (b"{not json", b"[1, 2]", b'"text"', envelope("frame", "pi-a", "id", {"n": 1})):
                await publisher.publish(subject, data)
            got = [await asyncio.wait_for(anext(everything), 10) for _ in range(4)]
            assert [e["kind"] for e in got] == ["malformed", "malformed", "malformed", "frame"]
            assert got[0]["host"] == subject
            # A follower of some kinds only gets those: the malformed ones are left out, not raised.
            frame = await asyncio.wait_for(anext(frames), 10)
            assert (frame["kind"], frame["data"]) == ("frame", {"n": 1})
    finally:
        await publisher.close()
