"""``send_now``: what nats-py has buffered leaves at once, not on a later turn of a loop that may be blocked."""

from __future__ import annotations

import threading

from pi_edge.agent.host.lane import Lane
from pi_edge.agent.lattice.connection import connect, send_now
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import ServerConfig


async def test_a_message_leaves_while_the_loop_stays_blocked(tmp_path) -> None:
    with NatsServer(ServerConfig("plain", port=0), tmp_path) as server:
        await blocked_loop_still_sends(server.url)


async def blocked_loop_still_sends(url: str) -> None:
    got = threading.Event()
    listener = Lane("listener")  # another thread and loop, so it can receive while this one is blocked

    async def on_message(_msg) -> None:  # type: ignore[no-untyped-def]
        got.set()

    await listener.open(url, "listener", [("send.now", "")], on_message)
    nc = await connect(url, name="sender")
    try:
        await nc.publish("send.now", b"now")  # buffered: nats-py's flusher would send it on a later turn
        assert send_now(nc) is True  # this nats-py keeps its buffer where send_now looks
        # Block this loop (as a Wasm call blocks a lane): only a message already written can arrive.
        assert got.wait(10), "the message stayed in nats-py's buffer"
    finally:
        await nc.close()
        await listener.close(0)
