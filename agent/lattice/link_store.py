"""Links (actor -> provider) kept on the hub, in a JetStream key-value bucket, so they outlive restarts.

Each host keeps its own copy too; the hub's is what a host that was offline
catches up from, and what ``pi-edge links`` lists.
"""

from __future__ import annotations

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue

from pi_edge.agent.errors import StoreError
from pi_edge.agent.lattice.stream_reads import live_keys
from pi_edge.agent.lattice.subjects import JETSTREAM_DOMAIN, LINKS_BUCKET

__all__ = ["LINKS_BUCKET", "read_links", "write_link"]


async def _links_bucket(nc: Client, create: bool) -> KeyValue:
    """The bucket; nats.js.errors.NotFoundError if it was never created (no link was ever made)."""
    js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=5)
    try:
        return await (js.create_key_value(bucket=LINKS_BUCKET) if create else js.key_value(LINKS_BUCKET))
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
        raise StoreError("the hub's link store does not answer: is the hub running with JetStream "
                         "('pi-edge hub' enables it) and reachable from here?") from None


async def read_links(nc: Client) -> dict[str, str]:
    """Every link in the lattice: actor -> provider.

    Read key by key through the stream (a Pi may not create the consumer nats-py's ``keys()`` needs).
    """
    try:
        await _links_bucket(nc, create=False)
    except nats.js.errors.NotFoundError:  # not created yet: no link was ever made
        return {}
    js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=5)
    try:
        entries = await live_keys(js, LINKS_BUCKET)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
        raise StoreError("the hub's link store stopped answering while its links were read") from None
    return {key: value.decode() for key, value in entries.items() if value}


async def write_link(nc: Client, actor: str, provider: str | None) -> str | None:
    """Set (or with None, remove) ``actor``'s link; returns the provider it was linked to before, if any.

    What it was is returned so that ``link del`` of an actor without a link can say so.
    """
    kv = await _links_bucket(nc, create=True)
    try:
        entry = await kv.get(actor)
        before = entry.value.decode() if entry.value else None
    except nats.js.errors.KeyNotFoundError:  # never linked, or removed (KeyDeletedError is one too)
        before = None
    if provider is None:
        try:
            await kv.delete(actor)
        except nats.js.errors.KeyNotFoundError:
            pass
    else:
        await kv.put(actor, provider.encode())
    return before
