"""Components travel the lattice through a JetStream object store on the hub (links: ``link_store``).

Objects are named by the sha256 of their bytes (content addressing), so a
second deploy of the same build uploads nothing and a host checks what it
fetched against the name it asked for.  Clients on a leaf server reach the
hub's JetStream by its domain, across the leaf connection.

A host reads the store as a stranger's upload: the object's size is checked
against a cap from its metadata before a byte is fetched, its first chunk must
start as a component does, and the chunks are streamed to a temporary file
(never the whole object in memory), hashed as they come and renamed into
place only when the digest matches; a refused or broken fetch leaves nothing
behind.  It reads with message gets only (no consumer): a Pi is allowed no more.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.object_store import ObjectStore

from pi_edge.agent.errors import StoreError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.subjects import COMPONENT_BUCKET, JETSTREAM_DOMAIN

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger("pi_edge.store")

BUCKET = COMPONENT_BUCKET


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def holds(path: Path, digest: str) -> bool:
    """Whether ``path`` is there with exactly the bytes of ``digest``."""
    if not path.exists():
        return False
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == digest


#: The bytes a component must start with (the component-model preamble: magic, version 0x0d, layer 1).
PREAMBLE = b"\0asm\x0d\x00\x01\x00"
#: Components larger than this are refused before they are fetched (a deploy's own check uses its cap).
DEFAULT_MAX_BYTES = 64 * 2**20

#: Told the bytes done so far and the whole size, as an upload or a fetch goes.
Sent = Callable[[int, int], None]
Fetched = Callable[[int, int], Awaitable[None]]


class _Counted(io.BufferedIOBase):
    """``data`` read chunk by chunk (as the object store's put reads), telling ``on_read`` how far it got."""

    def __init__(self, data: bytes, on_read: Sent) -> None:
        super().__init__()
        self._data, self._at, self._on_read = memoryview(data), 0, on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        target = memoryview(buffer).cast("B")
        n = min(len(target), len(self._data) - self._at)
        target[:n] = self._data[self._at:self._at + n]
        self._at += n
        self._on_read(self._at, len(self._data))
        return n


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

    async def put(self, data: bytes, on_progress: Sent | None = None) -> tuple[str, bool]:
        """Upload unless already there; returns the digest and whether bytes were sent.  ``on_progress`` is
        told how far the upload got after each chunk (from a worker thread)."""
        digest = sha256(data)
        bucket = await self._bucket(create=True)
        try:
            await bucket.get_info(digest)
            return digest, False
        except nats.js.errors.NotFoundError:
            pass
        await bucket.put(digest, _Counted(data, on_progress) if on_progress else data)
        log.info("store: uploaded %s (%d bytes)", digest[:12], len(data))
        return digest, True

    async def fetch(self, digest: str, into: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                    on_progress: Fetched | None = None) -> bool:
        """The component with this digest in ``into``, from there if it holds it or else the hub; checked
        either way.  True if it was fetched; ``on_progress`` is told how far it got, from 0, chunk by chunk."""
        # In a thread: a component is megabytes, and the agent's loop keeps serving meanwhile.
        if await asyncio.to_thread(holds, into, digest):
            return False
        stream = f"OBJ_{BUCKET}"
        info = await self._object_info(stream, digest)
        size, nuid = info.get("size"), info.get("nuid")
        if not isinstance(size, int) or not isinstance(nuid, str) or info.get("deleted"):
            raise StoreError(f"the hub's component store has no usable component {digest[:12]}…; deploy it again")
        if size > max_bytes:
            raise StoreError(f"component {digest[:12]}… is {size / 2**20:.1f} MiB, over this host's "
                             f"{max_bytes / 2**20:g} MiB limit ([limits] max_component_mb); not fetched")
        into.parent.mkdir(parents=True, exist_ok=True)
        tmp = into.with_name(f".{into.name}.tmp")
        try:
            try:
                await self._stream_into(stream, subjects.object_chunks(BUCKET, nuid), size, digest, tmp, on_progress)
                await asyncio.to_thread(os.replace, tmp, into)
            except OSError as exc:
                raise StoreError(f"cannot save component {digest[:12]}… in {into.parent}: "
                                 f"{exc.strerror or exc}; not started") from None
        except BaseException:
            tmp.unlink(missing_ok=True)  # a refused, broken or cancelled fetch leaves nothing behind
            raise
        return True

    async def _object_info(self, stream: str, digest: str) -> dict[str, object]:
        meta = subjects.object_meta(BUCKET, base64.urlsafe_b64encode(digest.encode()).decode())
        try:
            msg = await self.js.get_last_msg(stream, meta)
        except nats.js.errors.NotFoundError:
            raise StoreError(f"the hub's component store has no component {digest[:12]}…; deploy it again") from None
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
            raise StoreError("the hub's component store does not answer: is the hub running with JetStream "
                             "('pi-edge hub' enables it) and reachable from here?") from None
        try:
            info = json.loads(msg.data or b"")
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise StoreError(f"the hub's record of component {digest[:12]}… is damaged; deploy it again")
        return info

    async def _stream_into(self, stream: str, chunks: str, size: int, digest: str, tmp: Path,
                           on_progress: Fetched | None = None) -> None:
        """The object's chunks, one message get each, hashed and written as they arrive."""
        h, got, seq = hashlib.sha256(), 0, 1
        fd = await asyncio.to_thread(os.open, tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while got < size:
                if on_progress is not None:
                    await on_progress(got, size)
                try:
                    msg = await self.js.get_msg(stream, seq=seq, subject=chunks, next=True)
                except nats.js.errors.NotFoundError:
                    break
                data = msg.data or b""
                if got == 0 and not data.startswith(PREAMBLE[:len(data)]):
                    raise StoreError(f"component {digest[:12]}… is not a WebAssembly component (it starts "
                                     f"{data[:8]!r}); not fetched further")
                got += len(data)
                if got > size:
                    break
                h.update(data)
                await asyncio.to_thread(_write_all, fd, data)
                seq = (msg.seq or seq) + 1
            if on_progress is not None and got == size:
                await on_progress(got, size)
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)
        if got != size or h.hexdigest() != digest:
            raise StoreError(f"component {digest[:12]}… arrived damaged ({got} of {size} bytes, or its digest does "
                             "not match); not started")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
