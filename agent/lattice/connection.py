"""A NATS connection as pi-edge uses one, host and laptop alike: opened with a clear error,
its subscriptions confirmed, its writes sent now, its flushes failed at once when it drops.

What goes over it is elsewhere: the reply convention in ``replies``, the laptop's
requests in ``client``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pi_edge.agent.errors import AccessRefusedError, LatticeUnreachableError
from pi_edge.agent.trust.credentials import Credentials

log = logging.getLogger("pi_edge.lattice")


async def connect(url: str, name: str, timeout: float = 3.0, reconnect: bool = False,
                  credentials: Credentials | None = None, inbox_prefix: str | None = None) -> Client:
    """Connect, failing fast with a sentence; ``reconnect`` keeps a long-lived link alive.

    ``credentials`` prove who this client is (its nkey signs the server's
    challenge: the seed itself is never sent); ``inbox_prefix`` is where its
    replies come back (a Pi's own, see ``subjects.inbox_prefix``).
    """
    refused: list[str] = []

    async def quiet(exc: Exception) -> None:
        if "authorization violation" in str(exc).lower():
            refused.append(str(exc))
        log.debug("nats client %s: %s", name, exc)

    async def back() -> None:
        log.warning("nats client %s: the connection was lost and is back; requests sent meanwhile may have "
                    "gone unanswered", name)

    async def lost() -> None:
        fail_unanswered_flushes(nc)

    nc = Client()
    # nats-py annotates these two as int; they are seconds, and fractions work.
    seconds: dict[str, Any] = {"connect_timeout": timeout, "reconnect_time_wait": 0.5}
    extra: dict[str, Any] = {}
    if credentials is not None:
        extra["nkeys_seed_str"] = credentials.seed
        if credentials.ca_pem and url.startswith("tls://"):
            extra["tls"] = ssl.create_default_context(cadata=credentials.ca_pem)
    if inbox_prefix is not None:
        extra["inbox_prefix"] = inbox_prefix
    # nats-py treats max_reconnect_attempts=0 as "unlimited" while picking the first
    # server, so a one-shot client allows one retry, and the first connection of any
    # client is bounded: reconnecting forever is for links that were once up.
    attempt = nc.connect(
        url,
        name=name,
        allow_reconnect=reconnect,
        max_reconnect_attempts=-1 if reconnect else 1,
        error_cb=quiet,
        reconnected_cb=back,
        disconnected_cb=lost,
        **seconds,
        **extra,
    )
    try:
        await asyncio.wait_for(attempt, timeout=2 * timeout + 1)
        return nc
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        if refused or "authorization violation" in str(exc).lower():
            who = f"as {credentials.role} {credentials.name!r}" if credentials else "without credentials"
            raise AccessRefusedError(
                f"the lattice at {url} refused this client {who} (Authorization Violation): laptop commands use the "
                "operator.creds 'pi-edge hub' wrote (--creds FILE or PI_EDGE_CREDS; found in the hub's state "
                "directory by default), and a Pi's key is only for its leaf link"
            ) from None
        if isinstance(exc, nats.errors.Error) and not isinstance(exc, nats.errors.NoServersError):
            raise
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


async def unsubscribe_all(subs: list[Subscription]) -> None:
    """Each one; a connection already gone is nothing to undo (at a stop, the server may be going first)."""
    for sub in subs:
        try:
            await sub.unsubscribe()
        except Exception as exc:
            log.debug("unsubscribe failed: %s", exc)


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
