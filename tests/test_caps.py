"""Caps wherever a stranger can push bytes at a Pi: message size counts headers, an actor's reply the
server cannot carry is still answered, and an actor's log has a rate."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pi_edge.agent.errors import ActorReplyError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.wasm.limits import Limits


async def test_headers_count_toward_the_message_cap(start_agent, built: dict[str, Path]) -> None:
    """1 MB of headers with an empty body was handed to the actor whole."""
    agent = await start_agent({"misbehave": built["misbehave"]}, limits=Limits(max_message_bytes=4096))
    nc = await connect(agent.url, "test", credentials=agent.credentials)
    try:
        subject = subjects.actor("default", "misbehave")
        assert (await request(nc, subject, b"small", {"h": "x" * 100}, 10, what="actor")).body == b"ok:small"
        with pytest.raises(ActorReplyError, match=r"message of 5\d\d\d bytes \(headers included\) is over the "
                                                  r"4096-byte limit"):
            await request(nc, subject, b"", {"a": "x" * 2500, "b": "y" * 2500}, 10, what="actor")
    finally:
        await nc.close()


async def test_a_reply_over_the_servers_max_payload_is_an_error_reply(start_agent, built: dict[str, Path]) -> None:
    """The reply was dropped and the caller waited out its whole timeout (the gateway answered 504)."""
    agent = await start_agent({"misbehave": built["misbehave"]})
    nc = await connect(agent.url, "test", credentials=agent.credentials)
    try:
        subject = subjects.actor("default", "misbehave")
        too_big = nc.max_payload + 1
        with pytest.raises(ActorReplyError, match=f"answered with {too_big} bytes, more than the NATS server takes"):
            await request(nc, subject, f"big:{too_big}".encode(), None, 10, what="actor")
        assert (await request(nc, subject, b"big:10", None, 10, what="actor")).body == b"x" * 10
    finally:
        await nc.close()


async def test_an_actor_that_floods_the_log_is_cut_to_its_rate(start_agent, built: dict[str, Path],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """One actor wrote 138 MiB of log in 2 s; now it writes a burst at its rate and one line says what was dropped."""
    agent = await start_agent({"misbehave": built["misbehave"]}, limits=Limits(log_lines_per_s=10))
    nc = await connect(agent.url, "test", credentials=agent.credentials)
    caplog.set_level(logging.INFO, logger="pi_edge.actor")
    try:
        reply = await request(nc, subjects.actor("default", "misbehave"), b"spam:5000", None, 30, what="actor")
        assert reply.body == b"ok:spammed"
        lines = [r.getMessage() for r in caplog.records if r.name == "pi_edge.actor"]
        # Still over its rate: counted on, but not reported on every message (that would be a flood too).
        reply = await request(nc, subjects.actor("default", "misbehave"), b"spam:100", None, 30, what="actor")
        assert reply.body == b"ok:spammed"
    finally:
        await nc.close()
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 1
    written = [line for line in lines if "context=misbehave line " in line]
    assert 50 <= len(written) <= 60, len(written)  # 5 s of burst at 10 lines/s (and what refilled meanwhile)
    summary = [line for line in lines if "log line(s) dropped" in line]
    assert summary == [f"actor=misbehave {5000 - len(written)} log line(s) dropped: over its 10 lines/s"], summary
