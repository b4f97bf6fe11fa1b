"""Compiled artifacts in the hub's object store, next to the components they were compiled from.

Named ``compiled/<component digest>/wasmtime-<version>/<triple>/<profile>/<settings>``
in the same bucket as components, so a Pi reads them with what it may already
do there: ``STREAM.INFO`` and ``STREAM.MSG.GET`` on ``OBJ_pi-edge-actors``
(the object's meta message, then its chunks one by one), never creating a
consumer.  The signed manifest travels as the object's description, so a host
judges an artifact before it fetches megabytes of it.  Writing is the
operator's (``pi-edge compile``, ``deploy --compile-key``): hosts never publish.
Stored gzip-compressed (an aarch64 oled-text is 32 MiB, 11 MiB compressed).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import logging
import zlib
from pathlib import Path

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import ObjectMeta

from pi_edge.agent.errors import ArtifactError, StoreError
from pi_edge.agent.lattice.server_config import JETSTREAM_DOMAIN
from pi_edge.agent.lattice.store import BUCKET
from pi_edge.agent.trust.artifacts import Manifest
from pi_edge.agent.wasm.targets import EngineKey

log = logging.getLogger("pi_edge.artifacts")

STREAM = f"OBJ_{BUCKET}"
#: An artifact larger than this is refused before it is fetched (oled-text's is 32-34 MiB).
MAX_ARTIFACT = 256 * 2**20
_UNREACHABLE = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError)


def _meta_subject(name: str) -> str:
    return f"$O.{BUCKET}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


async def publish(nc: Client, manifest: Manifest, data: bytes, timeout: float = 60.0) -> bool:
    """Put a signed artifact in the hub's store; False if one with the same bytes is there already."""
    name = manifest.engine.object_name(manifest.component)
    js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=timeout)
    try:
        bucket = await js.create_object_store(BUCKET)
        try:
            there = Manifest.from_json((await bucket.get_info(name)).description or "")
            if there.sha256 == manifest.sha256 and there.signature == manifest.signature:
                return False
        except (nats.js.errors.NotFoundError, ArtifactError):
            pass
        packed = await asyncio.to_thread(gzip.compress, data, 6)
        await bucket.put(name, packed, meta=ObjectMeta(name=name, description=manifest.to_json()))
    except _UNREACHABLE:
        raise StoreError("the hub's component store does not answer: is the hub running with JetStream "
                         "('pi-edge hub' enables it) and reachable from here?") from None
    log.info("artifacts: published %s (%d bytes, %d stored)", name, len(data), len(packed))
    return True


async def fetch_manifest(nc: Client, component: str, engine: EngineKey,
                         timeout: float = 5.0) -> tuple[Manifest, dict[str, object]] | None:
    """The manifest of the artifact for ``component`` on ``engine``, and its object info; None if there is none."""
    js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=timeout)
    try:
        msg = await js.get_last_msg(STREAM, _meta_subject(engine.object_name(component)))
    except nats.js.errors.NotFoundError:  # no such object, or no bucket yet
        return None
    except _UNREACHABLE:
        raise StoreError("the hub's store does not answer (is the leaf link to the hub up?)") from None
    try:
        info = json.loads(msg.data or b"")
        if not isinstance(info, dict):
            raise ValueError("not an object")
    except ValueError:
        raise ArtifactError("the artifact's object info is not JSON") from None
    if info.get("deleted"):
        return None
    return Manifest.from_json(str(info.get("description") or "")), info


async def fetch_into(nc: Client, manifest: Manifest, info: dict[str, object], path: Path,
                     timeout: float = 10.0) -> tuple[str, int]:
    """The artifact, chunk by chunk, decompressed into ``path`` as it comes (a Pi holds one chunk at a time, not
    the whole artifact); its sha256 and size, for ``artifacts.check_stored``."""
    nuid, chunks, size = info.get("nuid"), info.get("chunks"), info.get("size")
    if not isinstance(nuid, str) or not isinstance(chunks, int) or not isinstance(size, int):
        raise ArtifactError("the artifact's object info lacks nuid, chunks or size")
    if size > MAX_ARTIFACT or manifest.size > MAX_ARTIFACT:
        raise ArtifactError(f"the artifact is {max(size, manifest.size)} bytes, more than {MAX_ARTIFACT}")
    js = nc.jetstream(domain=JETSTREAM_DOMAIN, timeout=timeout)
    subject, got, seq = f"$O.{BUCKET}.C.{nuid}", 0, 1
    unpacked = _Unpacked(path, manifest.size)
    try:
        for _ in range(chunks):
            msg = await js.get_msg(STREAM, seq=seq, subject=subject, next=True)
            got += len(msg.data or b"")
            if got > size:
                raise ArtifactError(f"the artifact's chunks hold more than its {size} bytes")
            await asyncio.to_thread(unpacked.write, msg.data or b"")
            seq = (msg.seq or seq) + 1
        return await asyncio.to_thread(unpacked.finish)
    except nats.js.errors.NotFoundError:
        raise ArtifactError(f"the artifact ends after {got} of {size} bytes") from None
    except _UNREACHABLE:
        raise StoreError("the hub's store stopped answering while the artifact was fetched") from None
    finally:
        unpacked.close()


class _Unpacked:
    """gunzip into a file, hashing as it goes, refusing more than the manifest's size (a small download must not
    become gigabytes)."""

    def __init__(self, path: Path, size: int) -> None:
        self.file = path.open("wb")
        self.inflate = zlib.decompressobj(wbits=31)
        self.hash = hashlib.sha256()
        self.size, self.written = size, 0

    def write(self, packed: bytes) -> None:
        try:
            data = self.inflate.decompress(packed, self.size + 1 - self.written)
        except zlib.error as exc:
            raise ArtifactError(f"the artifact is not gzip data: {exc}") from None
        self.written += len(data)
        if self.written > self.size or self.inflate.unconsumed_tail:
            raise ArtifactError(f"the artifact unpacks to more than its manifest's {self.size} bytes")
        self.hash.update(data)
        self.file.write(data)

    def finish(self) -> tuple[str, int]:
        if not self.inflate.eof:
            raise ArtifactError("the artifact's gzip data ends early")
        self.file.flush()
        return self.hash.hexdigest(), self.written

    def close(self) -> None:
        self.file.close()
