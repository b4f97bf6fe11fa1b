"""Compiled actor code on disk, so a Pi compiles a component once, not on every boot.

Entries are keyed by the component's digest, the wasmtime version and the
engine settings that change generated code; anything unreadable is compiled
again rather than trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from importlib.metadata import version
from pathlib import Path

import wasmtime
from wasmtime import component as wc

log = logging.getLogger("pi_edge.compile_cache")

WASMTIME_VERSION = version("wasmtime")



def digest(wasm: bytes) -> str:
    """The component's identity: sha256 of its bytes without the claims section.

    Signing (or re-signing) a component changes only that custom section, not
    one instruction, so its compiled code is the same and so is this digest.
    """
    from pi_edge.agent.errors import ClaimsError
    from pi_edge.agent.trust.claims import component_digest

    try:
        return component_digest(wasm)
    except ClaimsError:  # not a well-formed component: wasmtime will say what is wrong with it
        return hashlib.sha256(wasm).hexdigest()


class CompileCache:
    """Serialized components in ``DIR/compiled/``; writes are atomic renames.

    Entries are memory-mapped when loaded (code pages stay file-backed, which
    keeps a Pi's RSS low), so an entry is never rewritten in place: a new
    version always arrives by rename.
    """

    def __init__(self, directory: Path, engine_fingerprint: str) -> None:
        self.directory = Path(directory) / "compiled"
        self.fingerprint = engine_fingerprint

    def path_for(self, wasm_digest: str) -> Path:
        return self.directory / f"{wasm_digest}-wasmtime{WASMTIME_VERSION}-{self.fingerprint}.cwasm"

    def load(self, engine: wasmtime.Engine, wasm: bytes, wasm_digest: str | None = None) -> tuple[wc.Component, bool]:
        """The compiled component, and whether it came from the cache."""
        path = self.path_for(wasm_digest or digest(wasm))
        if path.exists():
            try:
                return wc.Component.deserialize_file(engine, str(path)), True
            except wasmtime.WasmtimeError as exc:
                log.warning("compile cache: dropping unreadable entry %s: %s", path.name, exc)
                path.unlink(missing_ok=True)
        component = wc.Component(engine, wasm)
        self._store(path, component.serialize())
        return component, False

    def _store(self, path: Path, data: bytes | bytearray) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            log.info("compile cache: stored %s (%d bytes)", path.name, len(data))
        except OSError as exc:
            # A read-only or full disk costs a recompile next boot, not the actor.
            log.warning("compile cache: cannot write %s: %s", path, exc)
