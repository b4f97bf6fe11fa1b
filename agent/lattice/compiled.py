"""The operator's side of compiled code: compile a component once, sign its manifest, put it in the hub's store.

Only whoever holds a compiler key (an account seed, ``pi-edge keys gen
account``) and may write the store publishes; hosts that trust that key's
public half (``trust_compiled``) then fetch instead of compiling.  The compile
runs in a child process: this machine's Python for its own architecture, or
``python`` (a command) for another, e.g. an arm64 userland under qemu-user.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import nkeys
from nats.aio.client import Client

from pi_edge.agent.errors import ArtifactError
from pi_edge.agent.lattice import artifact_store
from pi_edge.agent.trust import artifacts
from pi_edge.agent.trust.claims import component_digest
from pi_edge.agent.wasm import compiler
from pi_edge.agent.wasm.targets import EngineKey, Target, engine_settings


@dataclass(frozen=True)
class Published:
    manifest: artifacts.Manifest
    published: bool  # False: the store had it already
    seconds: float  # of the compile (0 if none was needed)


async def compile_and_publish(nc: Client, name: str, wasm: bytes, key: nkeys.KeyPair, target: Target,
                              python: Sequence[str] | None = None) -> Published:
    """The artifact of ``wasm`` for ``target`` in the hub's store, signed by ``key``: compiled unless there."""
    component = await asyncio.to_thread(component_digest, wasm)
    settings = engine_settings()
    engine = EngineKey.for_target(target, settings)
    signer = key.public_key.decode()
    found = await artifact_store.fetch_manifest(nc, component, engine)
    if found is not None:
        try:
            artifacts.check_manifest(found[0], component, engine, frozenset({signer}), target.isa_flags)
            return Published(found[0], published=False, seconds=0.0)
        except ArtifactError:
            pass  # someone else's, or damaged: ours replaces it
    done = await asyncio.to_thread(compiler.run, name, wasm, target.triple, settings, True, None, python)
    data = done.data or b""
    manifest = artifacts.sign(artifacts.describe(component, engine, data, socket.gethostname(), done.stats), key)
    await artifact_store.publish(nc, manifest, data)
    return Published(manifest, published=True, seconds=float(done.stats.get("seconds", 0.0)))
