"""Compiled actor code on disk, so a Pi compiles a component once, not on every boot.

Entries are keyed by the component's digest, the wasmtime version and the
engine settings that change generated code; anything unreadable is compiled
again rather than trusted.
"""

from __future__ import annotations

import hashlib
import logging
from importlib.metadata import version
from pathlib import Path

import wasmtime
from wasmtime import component as wc

from pi_edge.agent.files import write_atomically

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
    version always arrives by rename.  Each entry's sha256 is kept beside it
    (``.sha256``) and checked on every load: wasmtime loads machine code with a
    flipped byte without a word, and would run it.
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
            if (problem := self._problem(path)) is not None:
                log.warning("compile cache: dropping %s: %s; compiling again", path.name, problem)
                self._drop(path)
            else:
                try:
                    return wc.Component.deserialize_file(engine, str(path)), True
                except wasmtime.WasmtimeError as exc:
                    log.warning("compile cache: dropping unreadable entry %s: %s", path.name, exc)
                    self._drop(path)
        component = wc.Component(engine, wasm)
        self._store(path, component.serialize())
        return component, False

    @staticmethod
    def _digest_file(path: Path) -> Path:
        return path.with_name(path.name + ".sha256")

    def _problem(self, path: Path) -> str | None:
        """Why the entry cannot be trusted, or None."""
        try:
            kept = self._digest_file(path).read_text().strip()
        except OSError:
            return "no digest is kept with it (an older pi-edge, or a crash, wrote it)"
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError as exc:
            return f"it cannot be read ({exc.strerror or exc})"
        return None if h.hexdigest() == kept else "its bytes do not match the digest kept with it (damaged on disk)"

    def _drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._digest_file(path).unlink(missing_ok=True)

    def _store(self, path: Path, data: bytes | bytearray) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, bytes(data))
            write_atomically(self._digest_file(path), hashlib.sha256(data).hexdigest().encode() + b"\n")
            log.info("compile cache: stored %s (%d bytes)", path.name, len(data))
        except OSError as exc:
            # A read-only or full disk costs a recompile next boot, not the actor.
            log.warning("compile cache: cannot write %s: %s", path, exc)
