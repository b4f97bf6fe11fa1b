"""Talking to the lattice: connecting with clear errors, requests, and the reply convention.

A reply carries the actor's result as raw bytes; a failure carries the header
``Pi-Edge-Error`` with a one-line reason and the full text as the body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from pi_edge.agent.errors import (
    ActorReplyError,
    LatticeError,
    LatticeUnreachableError,
    NoResponderError,
    RequestTimeoutError,
)
from pi_edge.agent.lattice import subjects

log = logging.getLogger("pi_edge.lattice")

ERROR_HEADER = "Pi-Edge-Error"
HOST_HEADER = "Pi-Edge-Host"  # on every actor reply: the host that answered
DEFAULT_URL = "nats://127.0.0.1:4222"


def error_headers(reason: str) -> dict[str, str]:
    """Headers for a failure reply; header values must be one line."""
    one_line = " ".join(reason.split())[:500]
    return {ERROR_HEADER: one_line or "error"}


async def connect(url: str, name: str, timeout: float = 3.0, reconnect: bool = False) -> Client:
    """Connect, failing fast with a sentence; ``reconnect`` keeps a long-lived link alive."""
    async def quiet(exc: Exception) -> None:
        log.debug("nats client %s: %s", name, exc)

    async def back() -> None:
        log.warning("nats client %s: the connection was lost and is back; requests sent meanwhile may have "
                    "gone unanswered", name)

    async def lost() -> None:
        fail_unanswered_flushes(nc)

    nc = Client()
    # nats-py treats max_reconnect_attempts=0 as "unlimited" while picking the first
    # server, so a one-shot client allows one retry, and the first connection of any
    # client is bounded: reconnecting forever is for links that were once up.
    attempt = nc.connect(
        url,
        name=name,
        connect_timeout=timeout,
        allow_reconnect=reconnect,
        max_reconnect_attempts=-1 if reconnect else 1,
        reconnect_time_wait=0.5,
        error_cb=quiet,
        reconnected_cb=back,
        disconnected_cb=lost,
    )
    try:
        await asyncio.wait_for(attempt, timeout=2 * timeout + 1)
        return nc
    except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
        raise LatticeUnreachableError(
            f"cannot reach the lattice at {url}: {str(exc) or 'no connection within the timeout'}; is 'pi-edge hub' "
            "(or the agent's server) running there?"
        ) from None


async def subscriptions_live(nc: Client, timeout: float = 10.0) -> None:
    """Return once the server holds every subscription this connection asked for so far.

    nats-py's ``flush()`` writes its PING straight to the socket, ahead of SUBs
    still waiting in its buffer, so its PONG proves nothing about them.  A
    message this connection publishes to an inbox of its own is queued behind
    those SUBs, and the server delivers it only after it has taken them.
    """
    inbox = nc.new_inbox()
    arrived = asyncio.Event()

    async def on_probe(_msg: Msg) -> None:
        arrived.set()

    sub = await nc.subscribe(inbox, cb=on_probe)
    await nc.publish(inbox, b"")
    try:
        await asyncio.wait_for(arrived.wait(), timeout)
    except TimeoutError:
        raise LatticeUnreachableError(f"the NATS server did not confirm subscriptions within {timeout:g} s") from None
    finally:
        await sub.unsubscribe()


def fail_unanswered_flushes(nc: Client) -> None:
    """Fail, at once, every ``flush()`` still waiting for a PONG when the connection drops.

    nats-py keeps those PONG futures across a disconnect and forgets them on
    reconnect, so each flush waits out its whole timeout.  A subscription's
    ``drain()`` flushes with the default 10 s: an agent whose leaf server died
    while it was stopping (a Ctrl-C reaches the whole process group) took 10 s
    to exit.  Leans on nats-py 2.x's ``_pongs``; without it flushes time out as before.
    """
    for waiting in getattr(nc, "_pongs", ()):
        if not waiting.done():
            waiting.set_exception(nats.errors.ConnectionClosedError())
            waiting.exception()  # retrieved: the ping timer's own futures have nobody awaiting them


def send_now(nc: Client) -> bool:
    """Write what the client has buffered to its socket now; False if this nats-py hides its buffer.

    nats-py sends published messages from a flusher task, on a later turn of
    the loop.  An actor's lane blocks its loop during each Wasm call, so a reply
    left in the buffer would wait behind the next message's call; a loop turn
    per message to let the flusher run costs a fifth of the throughput
    (bench/throughput).  This leans on nats-py's buffer (``_pending``) and
    transport, which 2.x keeps; if they change, the caller yields instead.
    """
    try:
        pending, size, transport = nc._pending, nc._pending_data_size, nc._transport
    except AttributeError:
        return False
    if size and nc.is_connected and transport is not None:
        transport.writelines(pending[:])
        nc._pending = []
        nc._pending_data_size = 0
    return True


@dataclass(frozen=True)
class Reply:
    body: bytes
    seconds: float


async def request(nc: Client, subject: str, body: bytes, headers: dict[str, str] | None, timeout: float,
                  what: str) -> Reply:
    """One request with the errors a person understands; ``what`` names the target."""
    started = time.perf_counter()
    try:
        msg = await nc.request(subject, body, timeout=timeout, headers=headers)
    except nats.errors.NoRespondersError:
        raise NoResponderError(f"no {what} is running in the lattice (nobody serves {subject})") from None
    except nats.errors.TimeoutError:
        raise RequestTimeoutError(f"{what} did not answer within {timeout:g} s") from None
    except nats.errors.MaxPayloadError:
        raise _too_large(nc, body) from None
    elapsed = time.perf_counter() - started
    if msg.headers and ERROR_HEADER in msg.headers:
        detail = msg.data.decode("utf-8", "replace") or msg.headers[ERROR_HEADER]
        raise ActorReplyError(f"{what} answered with an error: {detail}")
    return Reply(msg.data, elapsed)


def _too_large(nc: Client, body: bytes) -> LatticeError:
    """A message the server refuses by size: said with the sizes (text read from standard input has no limit)."""
    return LatticeError(f"the message is {len(body)} bytes, more than the {nc.max_payload} bytes the NATS server "
                        "takes in one message")


@dataclass(frozen=True)
class HostReply:
    """One host's answer to a broadcast: its body, or ``error`` with the reason."""
    host: str
    body: bytes
    error: str | None
    seconds: float


async def broadcast(nc: Client, subject: str, body: bytes, headers: dict[str, str] | None,
                    expect: set[str], timeout: float) -> dict[str, HostReply]:
    """Publish once on a broadcast subject; collect replies until every host in ``expect`` answered
    or ``timeout`` passes.  Hosts are told apart by the ``Pi-Edge-Host`` reply header."""
    inbox = nc.new_inbox()
    answers: dict[str, HostReply] = {}
    sub = await nc.subscribe(inbox)
    try:
        started = time.perf_counter()
        try:
            await nc.publish(subject, body, reply=inbox, headers=headers)
        except nats.errors.MaxPayloadError:
            raise _too_large(nc, body) from None
        deadline = time.monotonic() + timeout
        while not expect <= answers.keys() and (left := deadline - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            elapsed = time.perf_counter() - started
            hdrs = msg.headers or {}
            host = hdrs.get(HOST_HEADER)
            if not host:
                log.warning("ignoring a broadcast reply without a %s header", HOST_HEADER)
                continue
            error = None
            if ERROR_HEADER in hdrs:
                error = msg.data.decode("utf-8", "replace") or hdrs[ERROR_HEADER]
            answers.setdefault(host, HostReply(host, msg.data, error, elapsed))
    finally:
        await sub.unsubscribe()
    return answers


#: However short the caller's timeout, hosts get this long to answer a ping: a command that lists
#: or addresses hosts must not miss one because it was told to wait 1 ms for replies.
MIN_PING_WINDOW = 0.25


def ping_window(timeout: float) -> float:
    """How long a command with ``timeout`` listens for ping answers: up to 1 s, at least MIN_PING_WINDOW."""
    return min(max(timeout, MIN_PING_WINDOW), 1.0)


async def ping(nc: Client, lattice: str, window: float = 0.5) -> list[dict[str, object]]:
    """Every host's self-description that arrives within ``window`` seconds."""
    import json

    inbox = nc.new_inbox()
    replies: list[dict[str, object]] = []
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(subjects.ctl_ping(lattice), b"", reply=inbox)
        deadline = time.monotonic() + window
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            try:
                replies.append(json.loads(msg.data))
            except ValueError:
                log.warning("ignoring a ping reply that is not JSON: %r", msg.data[:80])
    finally:
        await sub.unsubscribe()
    return replies


async def wait_for_actor(nc: Client, lattice: str, actor: str, timeout: float) -> dict[str, object]:
    """Block until some host that runs ``actor`` answers a ping through this connection.

    Hosts subscribe their actors before answering pings, so a reply naming the
    actor means requests to it are routed here too (across a leaf link as well).
    """
    import json

    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = await nc.request(subjects.ctl_ping(lattice), b"", timeout=0.5)
            description = json.loads(msg.data)
            if actor in description.get("actors", []):
                return description
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            pass
        if time.monotonic() >= deadline:
            raise LatticeError(f"no host running actor {actor!r} appeared in lattice {lattice!r} within {timeout:g} s")
        await asyncio.sleep(0.05)  # poll interval between checks, not a synchronisation
