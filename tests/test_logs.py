"""A Pi's log from the laptop: 'pi-edge logs HOST' prints its recent lines from a bounded buffer on the Pi,
-f follows new ones over the lattice (published only while someone follows, and at most at a rate)."""

from __future__ import annotations

import logging
import time

import pytest

from pi_edge.agent.errors import ActorReplyError
from pi_edge.agent.host.log_buffer import LogBuffer
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import LatticeClient, request
from pi_edge.agent.lattice.connection import connect
from tests.processes import CliProcess, run_cli


def emit(buffer: LogBuffer, text: str, name: str = "pi_edge.host", *args: object) -> None:
    buffer.handle(logging.LogRecord(name, logging.INFO, __file__, 1, text, args or None, None))


def test_the_buffer_keeps_the_newest_lines_only() -> None:
    buffer = LogBuffer(max_lines=100)
    for i in range(500):
        emit(buffer, f"line {i} actor=sign")
    lines, seq = buffer.recent()
    assert len(buffer.lines) == 100 and seq == 500
    assert [line["text"] for line in lines][:1] == ["line 400 actor=sign"] and lines[-1]["text"] == "line 499 actor=sign"
    assert {line["actor"] for line in lines} == {"sign"}


def test_lines_are_published_only_while_followed_and_at_most_at_the_rate() -> None:
    buffer = LogBuffer(lines_per_s=10)  # a burst of 5 s: 50 lines
    for i in range(20):
        emit(buffer, f"before {i}")
    assert buffer._new == [], "nobody follows: nothing waits to be published"
    buffer.follow(30)
    for i in range(200):
        emit(buffer, f"followed {i}")
    assert len(buffer._new) == 50 and buffer._dropped == 150
    assert len(buffer.recent()[0]) == 220, "the buffer itself keeps every line"


def test_an_actors_own_lines_are_its_and_since_filters_by_time() -> None:
    buffer = LogBuffer()
    emit(buffer, "actor=%s context=%s %s", "pi_edge.actor", "sign", "ctx", "hello")
    emit(buffer, "host=pi-01 other")
    lines, _ = buffer.recent(actor="sign")
    assert [(line["actor"], line["text"]) for line in lines] == [("sign", "actor=sign context=ctx hello")]
    assert buffer.recent(since=time.time() + 60)[0] == []


async def test_logs_of_a_host_from_the_laptop_and_followed_live(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"]})
    nc = await connect(agent.url, name="test")
    try:
        assert (await request(nc, subjects.actor("default", "misbehave"), b"spin:1", None, 10, "actor")).body == b"ok:spun"
        code, out, err = await run_cli("logs", "test-pi", "--actor", "misbehave", "--since", "1h",
                                       "--nats-url", agent.url, "--creds", str(agent.creds_path))
        assert code == 0, err
        assert [line.split(": ", 1)[1] for line in out.splitlines() if "spinning" in line] == [
            "actor=misbehave context=misbehave spinning"], out
        assert all("actor=misbehave" in line or "misbehave" in line for line in out.splitlines()), out

        follow = await CliProcess.start("logs", "test-pi", "-f", "--actor", "misbehave", "-n", "1",
                                        "--nats-url", agent.url, "--creds", str(agent.creds_path))
        try:
            await follow.wait_line(r"^following test-pi's log", stream="stderr")
            await request(nc, subjects.actor("default", "misbehave"), b"spam:1", None, 10, "actor")
            await follow.wait_line(r"INFO +pi_edge\.actor: actor=misbehave context=misbehave line 0$")
            assert [line.split(": ", 1)[1] for line in follow.lines["stdout"] if line] == [
                "actor=misbehave context=misbehave spinning",  # the newest before it followed (-n 1)
                "actor=misbehave context=misbehave line 0"], follow.transcript()  # then the new one, once
        finally:
            await follow.kill()
    finally:
        await nc.close()


async def test_a_wrong_request_is_refused_with_the_reason(start_agent) -> None:
    agent = await start_agent({})
    async with LatticeClient(agent.url, credentials=agent.credentials) as lattice:
        for body, expected in [({"limit": 5000}, "limit must be a whole number 0..1000"),
                               ({"since": "yesterday"}, "since must be a time in seconds"),
                               ({"actor": "a.b"}, "actor name 'a.b' is not allowed"),
                               ({"follow": -1}, "follow must be a number of seconds")]:
            with pytest.raises(ActorReplyError, match=expected):
                await lattice.control("test-pi", "logs", body)
    code, _out, err = await run_cli("logs", "test-pi", "--since", "ten minutes", "--nats-url", agent.url,
                                     "--creds", str(agent.creds_path))
    assert code == 2 and "is not a duration" in err, err
