"""Each actor instance on a lane of its own: a thread, an event loop and a NATS connection.

What that must keep true: a broadcast is still handled once per host however
many instances run, a busy instance holds up neither the host's control plane
nor another actor, a flood beyond the waiting limit is refused with a reason,
and every lane is gone once its instance stops.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from agent import subjects
from agent.host import MAX_WAITING
from agent.lattice import ERROR_HEADER, HOST_HEADER, connect, ping, request
from agent.limits import Limits


def lane_threads(actor: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"actor-{actor}"]


class _FirstLine(logging.Handler):
    """Resolves a future (on the test's loop) when a log line containing ``text`` arrives from any thread."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.loop = asyncio.get_running_loop()
        self.seen: asyncio.Future[None] = self.loop.create_future()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.loop.call_soon_threadsafe(lambda: self.seen.done() or self.seen.set_result(None))


async def test_a_broadcast_is_handled_by_one_instance_per_host(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"]})
    host = agent.service.host
    await host.scale_actor("misbehave", 3)
    assert len(lane_threads("misbehave")) == 3
    nc = await connect(agent.url, name="test-broadcast")
    try:
        for i in range(30):
            msg = await nc.request(subjects.actor_all("default", "misbehave"), f"all {i}".encode(), timeout=10)
            assert msg.data == f"ok:all {i}".encode() and msg.headers[HOST_HEADER] == "test-pi"
        # Replies are sent after the count goes up, so every handled message is counted by now;
        # instances each on the broadcast subject without a shared queue group would count 90.
        assert host.actors["misbehave"].handled == 30
    finally:
        await nc.close()


async def test_a_busy_instance_holds_up_neither_the_host_nor_another_actor(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"], "oled-text": built["oled-text"]},
                              limits=Limits(deadline_ms=3000))
    spinning = _FirstLine("spinning")
    logging.getLogger("pi_edge.actor").addHandler(spinning)
    nc = await connect(agent.url, name="test-busy")
    try:
        spin = asyncio.ensure_future(request(nc, subjects.actor("default", "misbehave"), b"spin:1000000000000",
                                             None, 30, what="misbehave"))
        await asyncio.wait_for(spinning.seen, 10)
        [described] = await ping(nc, "default", window=0.5)
        assert described["name"] == "test-pi"
        shown = await request(nc, subjects.actor("default", "oled-text"), b"meanwhile", None, 10, what="oled-text")
        assert shown.body.startswith(b"shown:")
        assert not spin.done(), "the spinning message finished before the others were answered"
        assert agent.bus.image().getbbox() is not None
        spin.cancel()
    finally:
        logging.getLogger("pi_edge.actor").removeHandler(spinning)
        await nc.close()


async def test_messages_beyond_the_waiting_limit_are_refused_as_busy(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"]}, limits=Limits(deadline_ms=2000))
    spinning = _FirstLine("spinning")
    logging.getLogger("pi_edge.actor").addHandler(spinning)
    subject = subjects.actor("default", "misbehave")
    nc = await connect(agent.url, name="test-flood")
    try:
        spin = asyncio.ensure_future(nc.request(subject, b"spin:1000000000000", timeout=30))
        await asyncio.wait_for(spinning.seen, 10)
        # All of these reach the lane while it spins; it takes them once the spin hits its deadline.
        replies = await asyncio.gather(*(nc.request(subject, f"m{i}".encode(), timeout=30)
                                         for i in range(MAX_WAITING + 10)))
        busy = [r.data.decode() for r in replies if ERROR_HEADER in (r.headers or {})]
        served = [r.data for r in replies if r.data.startswith(b"ok:m")]
        assert busy and len(busy) + len(served) == MAX_WAITING + 10, (busy, served)
        assert all("actor 'misbehave' is busy" in text and "try again" in text for text in busy), busy
        assert ERROR_HEADER in (await spin).headers  # the spinning message itself ran out of time
    finally:
        logging.getLogger("pi_edge.actor").removeHandler(spinning)
        await nc.close()


async def test_lanes_end_with_their_instances(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"]})
    host = agent.service.host
    await host.scale_actor("misbehave", 3)
    assert len(lane_threads("misbehave")) == 3
    await host.scale_actor("misbehave", 1)
    assert len(lane_threads("misbehave")) == 1
    nc = await connect(agent.url, name="test-lanes")
    try:
        reply = await request(nc, subjects.actor("default", "misbehave"), b"still", None, 10, what="misbehave")
        assert reply.body == b"ok:still"
    finally:
        await nc.close()
    await agent.service.stop()
    assert lane_threads("misbehave") == []
