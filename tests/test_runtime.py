"""Loading components: the world check, the compile cache, and the agent surviving bad actors."""

from __future__ import annotations

import ctypes
import gc
import logging
import random
from pathlib import Path

import pytest
from wasmtime.component import _types

from pi_edge.agent.errors import ActorLoadError, WorldMismatchError
from pi_edge.agent.wasm.instance import Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.agent.wasm.workarounds import byte_lists as wasm_bytes

ROOT = Path(__file__).resolve().parent.parent

# A well-formed component that exports nothing: valid Wasm, wrong world.
EMPTY_COMPONENT = "(component)"


def test_component_without_the_handler_export_is_named(runtime: Runtime) -> None:
    import wasmtime

    with pytest.raises(WorldMismatchError) as info:
        runtime.load("empty", wasmtime.wat2wasm(EMPTY_COMPONENT))
    assert "lacks the export 'pi-edge:actor/handler@0.1.0'" in str(info.value)


def test_not_wasm_at_all(runtime: Runtime) -> None:
    with pytest.raises(ActorLoadError, match="not a WebAssembly binary"):
        runtime.load("junk", b"#!/bin/sh\necho hi\n")


def test_truncated_component(runtime: Runtime, built: dict[str, Path]) -> None:
    wasm = built["oled-text"].read_bytes()
    with pytest.raises(ActorLoadError, match="not a valid component"):
        runtime.load("cut", wasm[: len(wasm) // 3])


def test_component_importing_wasi_is_refused_by_name(runtime: Runtime, wasi_actor: Path) -> None:
    with pytest.raises(WorldMismatchError) as info:
        runtime.load_file("wasi-actor", wasi_actor)
    message = str(info.value)
    assert "'wasi:" in message and "which this host does not provide" in message
    assert "pi-edge build" in message


def test_compiled_code_is_cached_and_a_corrupt_entry_recompiled(tmp_path: Path, built: dict[str, Path]) -> None:
    wasm = built["oled-text"].read_bytes()
    rt = Runtime(cache_dir=tmp_path)
    try:
        first = rt.load("a", wasm)
        second = rt.load("a", wasm)
        assert not first.from_cache and second.from_cache
        [entry] = list((tmp_path / "compiled").glob("*.cwasm"))
        assert first.digest in entry.name and "wasmtime" in entry.name
        # Replace rather than overwrite: the loaded entries map this file, and
        # truncating a mapped file under them would kill the process (SIGBUS).
        garbage = entry.with_suffix(".tmp")
        garbage.write_bytes(b"garbage")
        garbage.replace(entry)
        third = rt.load("a", wasm)
        assert not third.from_cache
    finally:
        rt.close()


async def oled_text_still_shows(url: str) -> None:
    from pi_edge.agent.lattice import subjects
    from pi_edge.agent.lattice.client import request
    from pi_edge.agent.lattice.connection import connect

    nc = await connect(url, name="test")
    try:
        reply = await request(nc, subjects.actor("default", "oled-text"), b"fine", None, 5, what="actor")
        assert reply.body.startswith(b"shown:")
    finally:
        await nc.close()


async def test_bad_actor_at_start_leaves_the_others_serving(start_agent, built, tmp_path: Path) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]})
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(__import__("wasmtime").wat2wasm(EMPTY_COMPONENT))
    with pytest.raises(WorldMismatchError):
        await agent.service.host.start_actor("bad", bad)
    assert sorted(agent.service.host.actors) == ["oled-text"]
    await oled_text_still_shows(agent.url)


async def test_configured_actors_that_cannot_load_are_listed_and_the_rest_serves(
        start_agent, built, tmp_path: Path) -> None:
    """One that does not fit the world, one that is no actor source: a restart would fail the same way, so
    the agent runs on without them, as it does for a refusal."""
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(__import__("wasmtime").wat2wasm(EMPTY_COMPONENT))
    not_an_actor = tmp_path / "src"
    not_an_actor.mkdir()
    agent = await start_agent({"oled-text": built["oled-text"], "bad": bad, "unbuilt": not_an_actor})
    host = agent.service.host
    assert sorted(host.actors) == ["oled-text"]
    down = host.not_running["bad"]
    assert not down.refused and "does not target world" in down.reason, down
    down = host.not_running["unbuilt"]
    assert not down.refused and "is not an actor: it has no app.py" in down.reason, down
    await oled_text_still_shows(agent.url)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"]]


def _native_heap_bytes() -> int | None:
    """Bytes malloc has handed out (glibc's mallinfo2): where wasmtime's own allocations show."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    gc.collect()
    info = mallinfo2()
    return info.uordblks + info.hblkhd


@pytest.mark.parametrize("op", ["show", "no-such-op"])
def test_actor_calls_do_not_grow_native_memory(make_instance, op: str) -> None:
    """wasmtime-py 50 leaks the box of every call's result (~48 bytes a call); agent.export_call frees it."""
    if _native_heap_bytes() is None:
        pytest.skip("needs glibc's mallinfo2 to see native allocations")
    instance = make_instance("oled-text")

    def call(i: int) -> None:
        try:
            instance.call(Message("pe.default.actor.oled-text", f"Message {i % 500}".encode(), [("op", op)]))
        except Exception:
            assert op == "no-such-op"

    logging.disable(logging.INFO)  # pytest keeps every captured log record: growth that is not ours
    try:
        for i in range(2000):  # glyph cache, arenas and the fake bus's command log fill up
            call(i)
        before = _native_heap_bytes()
        calls = 3000
        for i in range(calls):
            call(i)
        grown = _native_heap_bytes() - before  # type: ignore[operator]
    finally:
        logging.disable(logging.NOTSET)
    assert grown / calls < 16, f"native heap grew {grown / calls:.1f} bytes per call"


def test_an_instance_is_renewed_every_renew_after_messages(make_instance) -> None:
    instance = make_instance("misbehave", Limits(renew_after=3))
    replies = [instance.call(Message("s", f"n{i}".encode())) for i in range(7)]
    assert replies == [f"ok:n{i}".encode() for i in range(7)]
    assert (instance.renewals, instance.restarts) == (2, 0)


def test_bytes_cross_the_boundary_unchanged_both_ways(make_instance) -> None:
    """agent.wasm_bytes copies byte lists in one go; the misbehave actor answers b"ok:" + the body it got."""
    instance = make_instance("misbehave")
    assert _types.ListType.convert_from_c is wasm_bytes._from_c  # the runtime installed it
    rng = random.Random(7)
    for size in [0, 1, 2, 255, 256, 1000, 4096]:
        body = bytes(rng.randrange(256) for _ in range(size))
        if body in (b"trap", b"loop", b"grow", b"err") or body.startswith(b"spin:"):
            continue
        assert instance.call(Message("s", body, [("k", "v")])) == b"ok:" + body
