"""Components travel the lattice through a JetStream object store on the hub.

Objects are named by the sha256 of their bytes (content addressing), so a
second deploy of the same build uploads nothing and a host checks what it
fetched against the name it asked for.  Clients on a leaf server reach the
hub's JetStream by its domain, across the leaf connection.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from pi_edge.agent.errors import StoreError
from pi_edge.agent.lattice.server_config import JETSTREAM_DOMAIN

log = logging.getLogger("pi_edge.store")

BUCKET = "pi-edge-actors"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



class ComponentStore:
    def __init__(self, nc: Client, timeout: float = 30.0) -> None:
        self.js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=timeout)

    async def _bucket(self, create: bool):  # type: ignore[no-untyped-def]
        try:
            if create:
                return await self.js.create_object_store(BUCKET)
            return await self.js.object_store(BUCKET)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
            raise StoreError("the hub's component store does not answer: is the hub running with JetStream "
                             "('pi-edge hub' enables it) and reachable from here?") from None
        except nats.js.errors.NotFoundError:
            raise StoreError("nothing was ever deployed: the hub has no component store yet") from None

    async def put(self, data: bytes) -> tuple[str, bool]:
        """Upload unless already there; returns the digest and whether bytes were sent."""
        digest = sha256(data)
        bucket = await self._bucket(create=True)
        try:
            await bucket.get_info(digest)
            return digest, False
        except nats.js.errors.NotFoundError:
            pass
        await bucket.put(digest, data)
        log.info("store: uploaded %s (%d bytes)", digest[:12], len(data))
        return digest, True

    async def fetch(self, digest: str, into: Path) -> Path:
        """The component with this digest, from the local cache or the hub; checked either way."""
        if into.exists() and sha256(into.read_bytes()) == digest:
            return into
        bucket = await self._bucket(create=False)
        try:
            data = (await bucket.get(digest)).data or b""
        except nats.js.errors.NotFoundError:
            raise StoreError(f"the hub's component store has no component {digest[:12]}…; deploy it again") from None
        if sha256(data) != digest:
            raise StoreError(f"component {digest[:12]}… arrived damaged (its digest does not match); not started")
        into.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=into.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, into)
        return into


LINKS_BUCKET = "pi-edge-links"


async def _links_bucket(nc: Client, create: bool):  # type: ignore[no-untyped-def]
    js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=5)
    try:
        return await (js.create_key_value(bucket=LINKS_BUCKET) if create else js.key_value(LINKS_BUCKET))
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
        raise StoreError("the hub's link store does not answer: is the hub running with JetStream "
                         "('pi-edge hub' enables it) and reachable from here?") from None
    except nats.js.errors.NotFoundError:  # not created yet: no link was ever made
        return None


async def read_links(nc: Client) -> dict[str, str]:
    """Every link in the lattice: actor -> provider instance."""
    kv = await _links_bucket(nc, create=False)
    if kv is None:
        return {}
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        return {}
    links = {}
    for key in keys:
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # deleted since keys() was read
            continue
        if entry.value:
            links[key] = entry.value.decode()
    return links


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
