"""Where an actor's compiled code comes from: this host's cache, the hub's store, or a compile here.

The fleet compiles once: a host that trusts a compiler's key (``trust_compiled``)
first asks the hub for an artifact of its component for its engine, checks
the signed manifest before it fetches, and the bytes after, and keeps it in
its cache; anything missing, mismatched or refused falls back to compiling
here, in a child process, if the predicted peak fits in the memory free
(``compile_memory``).  If it does not, the host says so before it tries, and
waits a while for the hub to join instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.client import Client

from pi_edge.agent.errors import ArtifactError, CompileMemoryError, StoreError
from pi_edge.agent.lattice import artifact_store
from pi_edge.agent.trust import artifacts
from pi_edge.agent.wasm.engine_header import read_header_file
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.agent.wasm.targets import NATIVE

log = logging.getLogger("pi_edge.host")

#: How long a host that cannot compile waits for its leaf link to the hub before it gives up on the hub.
HUB_WAIT_S = 20.0
#: Where the code came from, as deploy replies and the log say it.
FROM_CACHE, FROM_HUB, COMPILED = "cache", "hub", "compiled"


class CompiledCode:
    def __init__(self, runtime: Runtime, nc: Client | None = None, trusted: frozenset[str] = frozenset(),
                 hub_ready: Callable[[float], Awaitable[bool]] | None = None) -> None:
        self.runtime = runtime
        self.nc = nc
        #: Account keys whose signed artifacts this host loads instead of compiling.
        self.trusted = trusted
        self.hub_ready = hub_ready

    async def ensure(self, actor: str, wasm: bytes, digest: str) -> str:
        """Make the cache hold ``digest``'s compiled code; where it came from (FROM_CACHE, FROM_HUB, COMPILED).

        CompileMemoryError if it is not in the cache, the hub has no usable artifact and a compile cannot fit.
        """
        cache = self.runtime.cache
        if await asyncio.to_thread(cache.holds, digest):  # an entry damaged on disk is fetched or compiled again
            return FROM_CACHE
        decided = cache.plan(wasm)
        if not decided.fits:
            log.warning("%s; getting its compiled code from the hub instead", decided.refusal(actor))
        why_not = "this host trusts no compiler's key (trust_compiled)"
        if self.trusted and self.nc is not None and cache.target != NATIVE:
            try:
                if await self._fetch(actor, digest, wait=0.0 if decided.fits else HUB_WAIT_S):
                    return FROM_HUB
                why_not = f"the hub has no artifact {cache.key.object_name(digest)}"
            except (ArtifactError, StoreError) as exc:
                why_not = str(exc)
                log.warning("agent: actor=%s: not using the hub's compiled code: %s; %s", actor, exc,
                            "compiling here" if decided.fits else "and it cannot be compiled here")
        if not decided.fits:
            raise CompileMemoryError(f"{decided.refusal(actor)}, and {why_not}: publish it from a machine that "
                                     f"can, with 'pi-edge compile --target {cache.target.triple} --key FILE'")
        await cache.compile_async(actor, wasm, digest)
        return COMPILED

    async def _fetch(self, actor: str, digest: str, wait: float) -> bool:
        """The hub's artifact into the cache, checked; False if the hub has none (or is not there to ask)."""
        assert self.nc is not None
        cache = self.runtime.cache
        if self.hub_ready is not None and not await self.hub_ready(wait):
            raise StoreError(f"the hub was not reachable{f' within {wait:g} s' if wait else ''}")
        started = time.perf_counter()
        found = await artifact_store.fetch_manifest(self.nc, digest, cache.key)
        if found is None:
            return False
        manifest, info = found
        artifacts.check_manifest(manifest, digest, cache.key, self.trusted, cache.target.isa_flags)
        with cache.incoming(digest) as entry:
            sha256, size = await artifact_store.fetch_into(self.nc, manifest, info, entry.path)
            artifacts.check_stored(manifest, sha256, size, await asyncio.to_thread(read_header_file, entry.path))
            entry.sha256 = sha256
        log.info("agent: actor=%s compiled code from the hub in %.2fs (%d bytes, compiled by %s in %.0fs, signed "
                 "by %s…)", actor, time.perf_counter() - started, manifest.size, manifest.compiled_by,
                 manifest.seconds, manifest.signer[:12])
        return True
