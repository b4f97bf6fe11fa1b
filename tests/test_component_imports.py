"""A component's imports read from its binary, before compiling: the same names wasmtime lists, in a
millisecond; an import the host does not provide is refused before anything is compiled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import component as wc

from pi_edge.agent.errors import ComponentFormatError, WorldMismatchError
from pi_edge.agent.wasm import binary
from pi_edge.agent.wasm.runtime import Runtime

# Imports of every kind at the top, and a nested component whose own imports are not the outer one's.
KINDS_WAT = """
(component
  (import "wasi:random/random@0.2.0" (instance (export "get-u64" (func (result u64)))))
  (import "f" (func))
  (import "r" (type (sub resource)))
  (type $t u32)
  (import "eq" (type (eq $t)))
  (import "pi-edge:actor/logging@0.1.0" (instance))
  (component $inner (import "inner-only" (func)))
)
"""


def test_the_kinds_of_imports_are_read_and_a_nested_components_are_not_the_components() -> None:
    found = binary.imports(wasmtime.wat2wasm(KINDS_WAT))
    assert [(i.name, i.kind) for i in found] == [
        ("wasi:random/random@0.2.0", "instance"), ("f", "func"), ("r", "type"), ("eq", "type"),
        ("pi-edge:actor/logging@0.1.0", "instance")]


@pytest.mark.parametrize("actor", ["oled-text", "wasi"])
def test_the_imports_are_the_ones_wasmtime_lists(actor: str, built: dict[str, Path], wasi_actor: Path,
                                                 runtime: Runtime) -> None:
    wasm = (wasi_actor if actor == "wasi" else built[actor]).read_bytes()
    started = time.perf_counter()
    names = [i.name for i in binary.imports(wasm)]
    seconds = time.perf_counter() - started
    component = runtime.cache.load(runtime.engine, actor, wasm)[0] if actor != "wasi" else wc.Component(runtime.engine, wasm)
    assert sorted(names) == sorted(component.type.imports(runtime.engine))
    assert seconds < 0.05, f"reading the imports of a {len(wasm) >> 20} MiB component took {seconds * 1000:.1f} ms"


def test_an_import_the_host_does_not_provide_is_refused_before_compiling(wasi_actor: Path, tmp_path: Path) -> None:
    """It was compiled first (4 s here, minutes on a Pi, a 30 MiB cache entry) and refused after."""
    runtime = Runtime(cache_dir=tmp_path)
    try:
        started = time.perf_counter()
        with pytest.raises(WorldMismatchError, match=r"imports 'wasi:cli/environment@0\.2\.\d+', .* and \d+ more, "
                                                     "which this host does not provide .*'pi-edge build'"):
            runtime.load("wasi-actor", wasi_actor.read_bytes())
        seconds = time.perf_counter() - started
    finally:
        runtime.close()
    assert not (tmp_path / "compiled").exists(), "nothing may be compiled for a component that is refused"
    assert seconds < 0.5, f"the refusal took {seconds:.2f} s"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_binaries_are_refused_or_read_never_anything_else(data: st.DataObject, built: dict[str, Path]) -> None:
    """Flipped bytes and cuts: a ComponentFormatError (then wasmtime judges it) or a clean reading, never another
    exception or a hang."""
    wasm = bytearray(_small_component())
    for _ in range(data.draw(st.integers(1, 4))):
        wasm[data.draw(st.integers(0, len(wasm) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wasm)))
    try:
        binary.imports(bytes(wasm[:cut]))
    except ComponentFormatError:
        pass


def _small_component() -> bytes:
    return wasmtime.wat2wasm(KINDS_WAT)


def test_the_claims_read_the_same_sections(built: dict[str, Path]) -> None:
    """One section reader for both: the claims' own went the same way and is gone."""
    from pi_edge.agent.trust import claims

    wasm = built["oled-text"].read_bytes()
    assert claims.strip_claims(wasm) == wasm
    assert [s.id for s in binary.sections(wasm)][:1] == [wasm[8]]
