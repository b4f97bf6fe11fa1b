"""Where wasmtime-py 50 is slow or leaks, and what pi-edge puts in its place.

Each module replaces one piece of wasmtime-py's Python layer, explains why in
its docstring, and has a test holding its answers to wasmtime-py's own:

- ``byte_lists``: ``list<u8>`` crosses the boundary in one copy, not byte by byte.
- ``strings``: strings and names cross with one C call each.
- ``type_cache``: component types are read from C once, and lowering a variant
  no longer shares a set between threads.
- ``export_call``: calling an export frees the result's heap box (one leak per call).
- ``import_call``: host functions keep their resolved types.

They lean on wasmtime-py internals, so the version is pinned below 51.
``install()`` puts the first three in place (the last two are used directly).
"""

from __future__ import annotations

from pi_edge.agent.wasm.workarounds import byte_lists, strings, type_cache


def install() -> None:
    """Idempotent; the runtime calls it before the first component is loaded."""
    byte_lists.install()
    type_cache.install()
    strings.install()
