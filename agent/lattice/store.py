"""Components travel the lattice through a JetStream object store on the hub (links: ``link_store``).

Objects are named by the sha256 of their bytes (content addressing), so a
second deploy of the same build uploads nothing and a host checks what it
fetched against the name it asked for.  Clients on a leaf server reach the
hub's JetStream by its domain, across the leaf connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from pathlib import Path

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.object_store import ObjectStore

from pi_edge.agent.errors import StoreError
from pi_edge.agent.lattice.server_config import JETSTREAM_DOMAIN

log = logging.getLogger("pi_edge.store")

BUCKET = "pi-edge-actors"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _holds(path: Path, digest: str) -> bool:
    """Whether ``path`` is there with exactly the bytes of ``digest``."""
    return path.exists() and sha256(path.read_bytes()) == digest


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class ComponentStore:
    def __init__(self, nc: Client, timeout: float = 30.0) -> None:
        self.js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=timeout)

    async def _bucket(self, create: bool) -> ObjectStore:
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
        # In a thread, as the write below: a component is megabytes, and the agent's loop keeps serving meanwhile.
        if await asyncio.to_thread(_holds, into, digest):
            return into
        bucket = await self._bucket(create=False)
        try:
            data = (await bucket.get(digest)).data or b""
        except nats.js.errors.NotFoundError:
            raise StoreError(f"the hub's component store has no component {digest[:12]}…; deploy it again") from None
        if sha256(data) != digest:
            raise StoreError(f"component {digest[:12]}… arrived damaged (its digest does not match); not started")
        await asyncio.to_thread(_write_atomically, into, data)
        return into
