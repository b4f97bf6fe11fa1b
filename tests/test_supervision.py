"""An actor that keeps trapping: restarted, then paused, then marked failed, and never in the
way of the other actors."""

from __future__ import annotations

import asyncio
import re

import pytest

from pi_edge.agent.errors import ActorReplyError
from pi_edge.agent.host.supervision import SupervisionPolicy
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request
from pi_edge.agent.lattice.connection import connect
from tests.events import follow
from tests.processes import run_cli


async def sender(url: str):  # type: ignore[no-untyped-def]
    nc = await connect(url, name="test")

    async def send(actor: str, body: bytes) -> bytes:
        return (await request(nc, subjects.actor("default", actor), body, None, 10, what=f"actor {actor!r}")).body

    return nc, send


async def test_traps_in_a_row_pause_the_actor_and_the_others_keep_serving(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"], "oled-text": built["oled-text"]},
                              supervision=SupervisionPolicy(max_traps=10, first_backoff_s=60))
    nc, send = await sender(agent.url)
    try:
        for _ in range(2):  # an exception the actor does not catch counts as a trap
            with pytest.raises(ActorReplyError, match="raised RuntimeError: asked to trap"):
                await send("misbehave", b"trap")
        with pytest.raises(ActorReplyError, match="restarting after 2 traps in a row; retry in"):
            await send("misbehave", b"fine")
        assert (await send("oled-text", b"unaffected")).startswith(b"shown:")
    finally:
        await nc.close()


async def test_too_many_traps_mark_the_actor_failed_with_an_event(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"], "oled-text": built["oled-text"]},
                              supervision=SupervisionPolicy(max_traps=3, window_s=600, first_backoff_s=0))
    nc, send = await sender(agent.url)
    failed = await follow(nc, "actor-failed")
    try:
        for body in (b"trap", b"loop", b"trap"):  # a deadline overrun is a trap too
            with pytest.raises(ActorReplyError, match="raised RuntimeError|trapped"):
                await send("misbehave", body)
        event = await asyncio.wait_for(failed.get(), 10)
        assert event["actor"] == "misbehave" and "trapped 3 times" in event["reason"]
        with pytest.raises(ActorReplyError, match="marked failed: it trapped 3 times within 600 s"):
            await send("misbehave", b"anything")
        assert (await send("oled-text", b"unaffected")).startswith(b"shown:")
        code, out, err = await run_cli("inventory", "test-pi", "--nats-url", agent.url, "--creds", str(agent.creds_path))
        assert code == 0, err
        assert re.search(r"misbehave .*failed 3\n +MARKED FAILED: actor 'misbehave' is marked failed: it trapped 3 "
                         r"times within 600 s", out), out
        code, out, err = await run_cli("hosts", "--nats-url", agent.url, "--creds", str(agent.creds_path))
        assert code == 0 and "misbehave (failed), oled-text" in out and "(failed): marked failed" in out, out + err
    finally:
        await nc.close()


def rss_mib() -> float:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def test_a_memory_bomb_hits_its_cap_and_the_host_stays_small(start_agent, built) -> None:
    from pi_edge.agent.wasm.limits import Limits

    agent = await start_agent({"misbehave": built["misbehave"], "oled-text": built["oled-text"]},
                              limits=Limits(memory_bytes=48 * 2**20, deadline_ms=10_000),
                              supervision=SupervisionPolicy(first_backoff_s=0))
    nc, send = await sender(agent.url)
    try:
        before = rss_mib()
        for _ in range(2):
            with pytest.raises(ActorReplyError, match="raised MemoryError at app.py:\\d+ in handle .*48 MiB memory cap"):
                await send("misbehave", b"grow")
        grown = rss_mib() - before
        assert grown < 3 * 48, f"the host grew by {grown:.0f} MiB for an actor capped at 48 MiB"
        assert (await send("misbehave", b"calm again")) == b"ok:calm again"
        assert (await send("oled-text", b"unaffected")).startswith(b"shown:")
    finally:
        await nc.close()
