"""A deploy checks before it fetches and fetches before it trusts: a size cap from the store's metadata,
the preamble from the first chunk, the digest as the bytes stream to disk, the signature before compiling;
what it refuses takes no room; damaged caches are noticed and filled again."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from pi_edge.agent.errors import ActorReplyError
from pi_edge.agent.host.desired import DesiredState
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.store import ComponentStore
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from tests.test_state import fill, small_disk  # noqa: F401  (a fixture)


async def deploy(nc, digest: str, name: str = "sign") -> dict[str, object]:  # type: ignore[no-untyped-def]
    body = json.dumps({"name": name, "digest": digest}).encode()
    reply = await request(nc, subjects.ctl("default", "test-pi", "deploy"), body, None, 60, what="host")
    return dict(json.loads(reply.body))


def leftovers(state: Path) -> list[str]:
    components = state / "components"
    return sorted(p.name for p in components.iterdir()) if components.exists() else []


async def test_a_component_over_the_cap_is_refused_before_it_is_fetched(existing_server, start_agent, tmp_path: Path) -> None:
    """A 100 MB random object was fetched whole (34 s, and held in memory) before anything was checked."""
    state = tmp_path / "state"
    await start_agent({}, nats_url=existing_server.url, state_dir=state, limits=Limits(max_component_bytes=2**20))
    nc = await connect(existing_server.url, "test-laptop")
    try:
        digest, _ = await ComponentStore(nc).put(os.urandom(3 * 2**20))
        with pytest.raises(ActorReplyError, match=r"is 3.0 MiB, over this host's 1 MiB limit .*; not fetched"):
            await deploy(nc, digest)
        assert leftovers(state) == []
    finally:
        await nc.close()


async def test_a_blob_that_is_no_component_is_refused_at_its_first_chunk(existing_server, start_agent, tmp_path: Path) -> None:
    state = tmp_path / "state"
    await start_agent({}, nats_url=existing_server.url, state_dir=state)
    nc = await connect(existing_server.url, "test-laptop")
    try:
        digest, _ = await ComponentStore(nc).put(b"#!/bin/sh\n" + os.urandom(2 * 2**20))
        with pytest.raises(ActorReplyError, match=r"is not a WebAssembly component \(it starts b'#!/bin/s'\);"):
            await deploy(nc, digest)
        assert leftovers(state) == []
    finally:
        await nc.close()


async def test_a_refused_component_takes_no_room(existing_server, start_agent, tmp_path: Path, built: dict[str, Path]) -> None:
    """Refused components stayed in state/components forever."""
    state = tmp_path / "state"
    await start_agent({}, nats_url=existing_server.url, state_dir=state, allow_unsigned=False)
    nc = await connect(existing_server.url, "test-laptop")
    try:
        digest, _ = await ComponentStore(nc).put(built["oled-text"].read_bytes())
        with pytest.raises(ActorReplyError, match="the component is not signed"):
            await deploy(nc, digest)
        assert leftovers(state) == []
    finally:
        await nc.close()


async def test_a_damaged_cached_component_is_fetched_again(existing_server, start_agent, tmp_path: Path,
                                                           built: dict[str, Path]) -> None:
    """At a deploy, and at a restart: a flipped byte in state/components was neither noticed nor mended."""
    state = tmp_path / "state"
    agent = await start_agent({}, nats_url=existing_server.url, state_dir=state)
    nc = await connect(existing_server.url, "test-laptop")
    try:
        digest, _ = await ComponentStore(nc).put(built["oled-text"].read_bytes())
        assert (await deploy(nc, digest))["fetched"] is True
        cached = DesiredState(state).component_path(digest)
        flip(cached)
        assert (await deploy(nc, digest, "again"))["fetched"] is True
        assert cached.read_bytes() == built["oled-text"].read_bytes()
        await agent.service.stop()
        flip(cached)
        restarted = await start_agent({}, nats_url=existing_server.url, state_dir=state)
        assert set(restarted.service.host.actors) == {"sign", "again"}
        assert cached.read_bytes() == built["oled-text"].read_bytes()
    finally:
        await nc.close()


def flip(path: Path, at: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_damaged_compiled_entry_is_compiled_again(tmp_path: Path, built: dict[str, Path],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """wasmtime loads machine code with a flipped byte without a word; the cache checks its own digest."""
    wasm = built["misbehave"].read_bytes()
    runtime = Runtime(cache_dir=tmp_path)
    try:
        assert runtime.load("m", wasm).from_cache is False
        assert runtime.load("m", wasm).from_cache is True
        (entry,) = (tmp_path / "compiled").glob("*.cwasm")
        flip(entry, entry.stat().st_size // 2)
        with caplog.at_level(logging.WARNING, logger="pi_edge.compile_cache"):
            assert runtime.load("m", wasm).from_cache is False
        assert "do not match the digest kept with it" in caplog.text
        assert runtime.load("m", wasm).from_cache is True
    finally:
        runtime.close()


async def test_a_full_disk_during_a_fetch_leaves_nothing_behind(existing_server, start_agent, small_disk: Path,  # noqa: F811
                                                                built: dict[str, Path]) -> None:
    """A deploy left a partial temporary file, and the disk stayed full."""
    state = small_disk / "state"
    await start_agent({}, nats_url=existing_server.url, state_dir=state)
    nc = await connect(existing_server.url, "test-laptop")
    try:
        digest, _ = await ComponentStore(nc).put(built["oled-text"].read_bytes())  # 17.5 MiB
        filler = fill(small_disk)
        os.truncate(filler, filler.stat().st_size - 4 * 2**20)  # 4 MiB free: not enough
        free = os.statvfs(small_disk).f_bavail
        with pytest.raises(ActorReplyError, match="cannot save component .*No space left on device; not started"):
            await deploy(nc, digest)
        assert leftovers(state) == [] and os.statvfs(small_disk).f_bavail == free
        filler.unlink()
        assert (await deploy(nc, digest))["scale"] == 1
    finally:
        await nc.close()

