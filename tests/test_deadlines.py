"""Requests carry their deadline; a host drops one its sender gave up on, unrun and counted (what a
partition held back and delivered late must not undo newer work); a linked provider is given no more time
than the actor's caller waits; an actor marked failed gets another chance when its link or configuration
changes."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pi_edge.agent.errors import ActorReplyError
from pi_edge.agent.host.supervision import SupervisionPolicy
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import LatticeClient, request
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.replies import DEADLINE_HEADER


async def test_every_request_from_the_client_carries_its_deadline(existing_server) -> None:
    nc = await connect(existing_server.url, "test-watch")
    seen: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def answer(msg) -> None:  # type: ignore[no-untyped-def]
        await seen.put(dict(msg.headers or {}))
        await msg.respond(b"ok")

    await nc.subscribe(subjects.actor("default", "probe"), cb=answer)
    await subscriptions_live(nc)
    try:
        async with LatticeClient(existing_server.url, timeout=4.0) as client:
            sent = time.time()
            await client.send("probe", b"x")
        headers = seen.get_nowait()
        assert sent + 3.5 < float(headers[DEADLINE_HEADER]) < time.time() + 4.5, headers
    finally:
        await nc.close()


async def stale(nc, subject: str, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """A request whose sender gave up a minute ago, as a partition delivers it when the link comes back."""
    await nc.publish(subject, body, reply=nc.new_inbox(), headers={DEADLINE_HEADER: f"{time.time() - 60:.3f}"})


async def test_a_request_past_its_deadline_is_dropped_unrun_and_counted(start_agent, built: dict[str, Path]) -> None:
    """Requests that timed out on the laptop during a cut ran when it healed, out of order, and the last one
    overwrote a newer text on the panel."""
    agent = await start_agent({"oled-text": built["oled-text"]})
    nc = await connect(agent.url, "test-laptop", credentials=agent.credentials)
    host = agent.service.host
    try:
        actor = subjects.actor("default", "oled-text")
        await stale(nc, actor, b"Stale text")
        # The same lane takes messages in order: when this one is answered, the stale one had its turn.
        reply = await request(nc, actor, b"Fresh", None, 10, what="actor")
        assert reply.body.startswith(b"shown:")
        await stale(nc, subjects.ctl("default", "test-pi", "stop"), json.dumps({"name": "oled-text"}).encode())
        await stale(nc, subjects.provider("default", "test-pi-display", "set-invert"), b'{"on": true}')
        inventory = json.loads((await request(nc, subjects.ctl("default", "test-pi", "inventory"), b"", None, 10,
                                              what="host")).body)
        assert inventory["actors"]["oled-text"]["expired"] == 1 and inventory["actors"]["oled-text"]["handled"] == 1
        assert inventory["expired_requests"] == 2, inventory  # the stop and the invert
        assert "oled-text" in host.actors and not agent.provider.inverted
    finally:
        await nc.close()


async def test_a_silent_linked_provider_gets_no_more_time_than_the_caller_waits(start_agent,
                                                                                built: dict[str, Path]) -> None:
    """The remote provider's 5 s timeout outlived the caller's wait: the caller timed out, the actor's
    answer came too late."""
    agent = await start_agent({"misbehave": built["misbehave"]})
    nc = await connect(agent.url, "test-laptop", credentials=agent.credentials)
    try:
        silent = await nc.subscribe(subjects.provider("default", "silent-display", "show-text"))  # never answers
        await subscriptions_live(nc)
        agent.service.host.link("misbehave", "silent-display")
        started = time.monotonic()
        with pytest.raises(ActorReplyError, match="display provider 'silent-display' did not answer within"):
            await request(nc, subjects.actor("default", "misbehave"), b"hello", None, 2, what="actor")
        assert time.monotonic() - started < 2
        await silent.unsubscribe()
    finally:
        await nc.close()


async def test_an_actor_marked_failed_gets_another_chance_when_its_link_or_configuration_changes(
        start_agent, built: dict[str, Path]) -> None:
    """It stayed failed after 'link del' and a reload."""
    agent = await start_agent({"misbehave": built["misbehave"]},
                              supervision=SupervisionPolicy(max_traps=2, first_backoff_s=0))
    nc = await connect(agent.url, "test-laptop", credentials=agent.credentials)
    subject = subjects.actor("default", "misbehave")

    async def fail_it() -> None:
        for _ in range(2):
            with pytest.raises(ActorReplyError, match="raised RuntimeError: asked to trap"):  # counted as a trap
                await request(nc, subject, b"trap", None, 10, what="actor")
        with pytest.raises(ActorReplyError, match="is marked failed"):
            await request(nc, subject, b"fine", None, 10, what="actor")

    try:
        await fail_it()
        agent.service.host.link("misbehave", None)
        assert (await request(nc, subject, b"fine", None, 10, what="actor")).body == b"ok:fine"
        await fail_it()
        await agent.service.reconfigure(replace(agent.service.options))
        assert (await request(nc, subject, b"again", None, 10, what="actor")).body == b"ok:again"
    finally:
        await nc.close()
