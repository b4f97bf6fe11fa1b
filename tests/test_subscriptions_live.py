"""``subscriptions_live``: the server holds a connection's subscriptions, even ones nats-py has not sent yet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from nats.aio.client import Client

from pi_edge.agent.errors import LatticeUnreachableError
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.nats_server import NatsServer
from tests.held_writes import hold_back_writes


async def _received_after(sync: Callable[[Client], Awaitable[None]], server: NatsServer) -> list[bytes]:
    listener, sender = await connect(server.url, name="listener"), await connect(server.url, name="sender")
    try:
        got: list[bytes] = []
        arrived = asyncio.Event()

        async def on_message(msg) -> None:  # type: ignore[no-untyped-def]
            got.append(msg.data)
            arrived.set()

        hold_back_writes(listener, 1.0)
        await listener.subscribe("sync.test", cb=on_message)
        await sync(listener)
        await sender.publish("sync.test", b"right after")
        try:  # the listener's held-back SUB goes out after 1 s: a message lost before that stays lost
            await asyncio.wait_for(arrived.wait(), 2.0)
        except TimeoutError:
            pass
        return got
    finally:
        await listener.close()
        await sender.close()


async def test_a_message_sent_right_after_is_received(existing_server: NatsServer) -> None:
    assert await _received_after(subscriptions_live, existing_server) == [b"right after"]


async def test_nats_py_flush_alone_does_not_prove_it(existing_server: NatsServer) -> None:
    """Why the helper exists: with the SUB still queued, flush()'s PONG comes back first."""
    assert await _received_after(lambda nc: nc.flush(), existing_server) == []


async def test_a_server_that_never_answers_is_named(existing_server: NatsServer) -> None:
    nc = await connect(existing_server.url, name="stalled")
    try:
        hold_back_writes(nc, 3600)
        with pytest.raises(LatticeUnreachableError, match="did not confirm subscriptions within 0.2 s"):
            await subscriptions_live(nc, timeout=0.2)
    finally:
        await nc.close()
