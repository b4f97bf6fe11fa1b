"""Each actor instance on a lane of its own: a thread, an event loop and a NATS connection.

What that must keep true: a broadcast is handled once per host however many
instances run (and by each of two hosts cloned from one SD card), a busy
instance holds up neither the host's control plane nor another actor, a reply
never waits behind the next message's call, a flood beyond the waiting limit is
refused with a reason, stopping answers every message already sent (and none
sent after a drain is routed to the lane), and every lane is gone once its
instance stops, even one still starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from pi_edge.agent.host.inbox import MAX_WAITING
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import ping, request
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.replies import ERROR_HEADER, HOST_HEADER, RETRY_HEADER
from pi_edge.agent.wasm.limits import Limits


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


@contextlib.contextmanager
def spinning_seen() -> Iterator[_FirstLine]:
    """The misbehave actor logs "spinning" (INFO, logger pi_edge.actor) when a spin starts."""
    logger = logging.getLogger("pi_edge.actor")
    handler, level = _FirstLine("spinning"), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


SPIN = b"spin:1000000000000"  # runs until the deadline stops it


@contextlib.asynccontextmanager
async def misbehave_agent(start_agent, built, deadline_ms: int) -> AsyncIterator[tuple]:  # type: ignore[no-untyped-def]
    """An agent running the misbehave actor, its subject, and a client connected to the agent's server."""
    agent = await start_agent({"misbehave": built["misbehave"]}, limits=Limits(deadline_ms=deadline_ms))
    nc = await connect(agent.url, name="test-lanes", credentials=agent.credentials)
    try:
        yield agent, subjects.actor("default", "misbehave"), nc
    finally:
        await nc.close()


async def spin_started(nc, subject: str) -> asyncio.Future:  # type: ignore[no-untyped-def]
    """A request that spins until its deadline, returned once the actor has started spinning it."""
    with spinning_seen() as spinning:
        spin = asyncio.ensure_future(nc.request(subject, SPIN, timeout=30))
        await asyncio.wait_for(spinning.seen, 10)
    return spin


async def test_a_broadcast_is_handled_by_one_instance_per_host(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"]})
    host = agent.service.host
    await host.scale_actor("misbehave", 3)
    assert len(lane_threads("misbehave")) == 3
    nc = await connect(agent.url, name="test-broadcast", credentials=agent.credentials)
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
                              limits=Limits(deadline_ms=4000))
    nc = await connect(agent.url, name="test-busy", credentials=agent.credentials)
    try:
        spin = await spin_started(nc, subjects.actor("default", "misbehave"))
        [described] = await ping(nc, "default", window=0.3)
        assert described["name"] == "test-pi"
        shown = await request(nc, subjects.actor("default", "oled-text"), b"meanwhile", None, 10, what="oled-text")
        assert shown.body.startswith(b"shown:")
        assert not spin.done(), "the spinning message finished before the others were answered"
        assert agent.bus.image().getbbox() is not None
        spin.cancel()
    finally:
        await nc.close()


async def test_messages_beyond_the_waiting_limit_are_refused_as_busy(start_agent, built) -> None:
    async with misbehave_agent(start_agent, built, 2000) as (_agent, subject, nc):
        spin = await spin_started(nc, subject)
        # All of these reach the lane while it spins; it takes them once the spin hits its deadline.
        replies = await asyncio.gather(*(nc.request(subject, f"m{i}".encode(), timeout=30)
                                         for i in range(MAX_WAITING + 10)))
        busy = [r.data.decode() for r in replies if ERROR_HEADER in (r.headers or {})]
        served = [r.data for r in replies if r.data.startswith(b"ok:m")]
        assert busy and len(busy) + len(served) == MAX_WAITING + 10, (busy, served)
        assert all("actor 'misbehave' is busy" in text and "try again" in text for text in busy), busy
        assert all((r.headers or {}).get(RETRY_HEADER) == "1" for r in replies if ERROR_HEADER in (r.headers or {}))
        assert ERROR_HEADER in (await spin).headers  # the spinning message itself ran out of time


async def test_a_quick_reply_is_not_held_behind_the_next_call(start_agent, built) -> None:
    """A quick request and a spin reach the lane in one read (both arrive while it is busy with a first
    spin); the quick one's reply must leave before the second spin's call starts, not after it."""
    async with misbehave_agent(start_agent, built, 1500) as (_agent, subject, nc):
        first = await spin_started(nc, subject)
        quick = asyncio.ensure_future(nc.request(subject, b"quick", timeout=30))
        second = asyncio.ensure_future(nc.request(subject, SPIN, timeout=30))
        await nc.flush()  # both are at the server, on their way to the busy lane
        assert not first.done(), "the first spin ended before the others were sent; raise its deadline"
        assert (await quick).data == b"ok:quick"
        assert first.done() and not second.done(), "the quick reply waited for the second spin"
        assert ERROR_HEADER in (await second).headers


async def test_stopping_answers_every_message_already_sent(start_agent, built) -> None:
    """Messages that reached the instance before it stopped listening are answered: run within the
    grace period, told the actor is stopping after it; none is left to time out."""
    async with misbehave_agent(start_agent, built, 1500) as (agent, subject, nc):
        host = agent.service.host
        for stop, expect_ok in ((lambda: host.stop_actor("misbehave"), True), (lambda: host.stop(grace=0), False)):
            if "misbehave" not in host.actors:
                await host.start_actor("misbehave", built["misbehave"])
            spin = await spin_started(nc, subject)
            waiting = [asyncio.ensure_future(nc.request(subject, f"w{i}".encode(), timeout=30)) for i in range(5)]
            await nc.flush()  # the server has them, so they are on their way to the lane
            await stop()
            replies = await asyncio.gather(*waiting)
            if expect_ok:
                assert [r.data for r in replies] == [f"ok:w{i}".encode() for i in range(5)]
            else:
                assert all(ERROR_HEADER in r.headers and b"is stopping on host test-pi" in r.data
                           for r in replies), [r.data for r in replies]
            assert ERROR_HEADER in (await spin).headers


async def test_a_message_routed_while_the_lane_drains_is_never_left_unanswered(start_agent, built,
                                                                              monkeypatch) -> None:
    """Once a lane has drained a subscription the server must no longer route to it: a request sent then is
    answered by someone or refused at once ("no responders"), never dropped to time out.  nats-py's drain()
    confirms with a PING written ahead of its buffered UNSUB, so the lane's UNSUB is held back here to show
    a drain that trusts that PONG."""
    from nats.aio.subscription import Subscription
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    from tests.held_writes import hold_back_writes

    async with misbehave_agent(start_agent, built, 1500) as (agent, subject, nc):
        host = agent.service.host
        lane = host.actors["misbehave"].instances[0].lane
        loop = asyncio.get_running_loop()
        drained = asyncio.Event()
        go_on = threading.Event()
        real_drain = Subscription.drain

        async def drain_then_wait(self: Subscription) -> None:
            await real_drain(self)
            if self.subject == subject:
                loop.call_soon_threadsafe(drained.set)
                await asyncio.to_thread(go_on.wait, 10)  # the lane's loop keeps reading meanwhile

        monkeypatch.setattr(Subscription, "drain", drain_then_wait)
        hold_back_writes(lane.nc, 30)
        stopping = asyncio.ensure_future(host.stop_actor("misbehave"))
        try:
            await asyncio.wait_for(drained.wait(), 10)
            late = asyncio.ensure_future(nc.request(subject, b"late", timeout=2))
            await nc.flush()  # the server has routed it, to whoever still listens
        finally:
            go_on.set()
        await stopping
        try:
            reply = await late
        except NoRespondersError:
            return
        except NatsTimeout:
            pytest.fail("a request sent after the drain was routed to the lane and dropped")
        assert reply.data == b"ok:late", reply.data


async def test_lanes_end_with_their_instances(start_agent, built) -> None:
    agent = await start_agent({"misbehave": built["misbehave"]})
    host = agent.service.host
    await host.scale_actor("misbehave", 3)
    assert len(lane_threads("misbehave")) == 3
    await host.scale_actor("misbehave", 1)
    assert len(lane_threads("misbehave")) == 1
    nc = await connect(agent.url, name="test-lanes", credentials=agent.credentials)
    try:
        reply = await request(nc, subjects.actor("default", "misbehave"), b"still", None, 10, what="misbehave")
        assert reply.body == b"ok:still"
    finally:
        await nc.close()
    await agent.service.stop()
    assert lane_threads("misbehave") == []


async def test_an_instance_starting_while_its_actor_stops_stops_too(start_agent, built, monkeypatch) -> None:
    """scale and stop arriving together: the instance being added must not outlive its stopped actor."""
    from pi_edge.agent.errors import ControlError
    from pi_edge.agent.host.lane import Lane

    agent = await start_agent({"misbehave": built["misbehave"]})
    host = agent.service.host
    opening = asyncio.Event()
    real_open = Lane.open

    async def open_and_tell(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opening.set()
        return await real_open(self, *args, **kwargs)

    monkeypatch.setattr(Lane, "open", open_and_tell)
    scaling = asyncio.ensure_future(host.scale_actor("misbehave", 2))
    await opening.wait()  # the second instance exists and its lane is connecting
    await host.stop_actor("misbehave")
    with pytest.raises(ControlError, match="was stopped while its instances were starting"):
        await scaling
    assert lane_threads("misbehave") == []


async def test_hosts_sharing_an_identity_each_answer_a_broadcast(hub, start_agent, built, tmp_path) -> None:
    """Two Pis cloned from one SD card share their host key; both must still answer ``--all``."""
    from tests.test_fleet import until_hub_sees

    state = tmp_path / "cloned-state"
    for name in ("pi-a", "pi-b"):
        await start_agent({"misbehave": built["misbehave"]}, hub=hub, name=name, state_dir=state)
    await until_hub_sees(hub, "pi-a", "pi-b")
    nc = await connect(hub.url, name="test-clones", credentials=hub.operator)
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(subjects.actor_all("default", "misbehave"), b"everyone", reply=inbox)
        hosts = {(await sub.next_msg(timeout=10)).headers[HOST_HEADER] for _ in range(2)}
        assert hosts == {"pi-a", "pi-b"}
    finally:
        await nc.close()


async def test_busy_refusals_leave_before_the_next_call(start_agent, built) -> None:
    """Refusals are sent as the flood is read, not after the call that runs next."""
    async with misbehave_agent(start_agent, built, 2000) as (_agent, subject, nc):
        first = await spin_started(nc, subject)
        second = asyncio.ensure_future(nc.request(subject, SPIN, timeout=30))  # waits its turn behind the first
        flood = [asyncio.ensure_future(nc.request(subject, f"f{i}".encode(), timeout=30)) for i in range(MAX_WAITING)]
        done, _ = await asyncio.wait(flood, return_when=asyncio.FIRST_COMPLETED)
        assert b"is busy" in next(iter(done)).result().data
        assert first.done() and not second.done(), "the refusals waited for the second spin"
        await asyncio.gather(second, *flood)


async def test_stopping_the_agent_waits_for_an_actor_already_stopping(start_agent, built, monkeypatch) -> None:
    """A stop request is closing a busy lane when the agent itself is told to stop: the agent must wait for
    it (answering what it holds), not leave a lane running after the agent is gone."""
    from pi_edge.agent.host.lane import Lane

    async with misbehave_agent(start_agent, built, 1500) as (agent, subject, nc):
        host = agent.service.host
        closing = asyncio.Event()
        real_close = Lane.close

        async def close_and_tell(self, grace):  # type: ignore[no-untyped-def]
            closing.set()
            await real_close(self, grace)

        monkeypatch.setattr(Lane, "close", close_and_tell)
        spin = await spin_started(nc, subject)
        queued = [asyncio.ensure_future(nc.request(subject, f"q{i}".encode(), timeout=30)) for i in range(3)]
        await nc.flush()
        stopping_actor = asyncio.ensure_future(host.stop_actor("misbehave"))
        await closing.wait()  # the actor has left the host's table; its lane is finishing the spin
        await host.stop()
        assert lane_threads("misbehave") == []
        assert [r.data for r in await asyncio.gather(*queued)] == [b"ok:q0", b"ok:q1", b"ok:q2"]
        assert ERROR_HEADER in (await spin).headers
        await stopping_actor
