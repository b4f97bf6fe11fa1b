"""The component store's side on the host: what it costs the agent's event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from pi_edge.agent.lattice import store


async def test_a_cached_component_is_checked_off_the_event_loop(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent's loop answers heartbeats and control while it hashes (and writes) an 18 MB component."""
    data = b"component"
    cached = tmp_path / "c.wasm"
    cached.write_bytes(data)
    digest = store.sha256(data)
    real = store.holds

    def slow_holds(path: Path, digest: str) -> bool:
        time.sleep(0.3)  # as hashing megabytes on a Pi would
        return real(path, digest)

    monkeypatch.setattr(store, "holds", slow_holds)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.sleep(0)
        before = ticks
        assert await store.ComponentStore(Client()).fetch(digest, cached) is False  # no hub needed: cached
        assert ticks - before >= 5, "the loop stood still while the component was hashed"
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
