"""Compiled actor code on disk, so a Pi compiles a component once, not on every boot.

Entries are keyed by the component's digest and the engine it fits (wasmtime's
version, the target and its CPU profile, the settings: ``targets.EngineKey``),
the same key the hub's store shares them by.  A missing entry is compiled in
a child process (``compiler``), if the memory the compile needs is free
(``compile_memory``); anything unreadable is compiled again rather than trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import component as wc

from pi_edge.agent.errors import CompileMemoryError
from pi_edge.agent.files import write_atomically
from pi_edge.agent.wasm import compiler
from pi_edge.agent.wasm.compile_memory import CompilePlan, Room, free_memory, plan
from pi_edge.agent.wasm.targets import EngineKey, Target

log = logging.getLogger("pi_edge.compile_cache")


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


@dataclass
class Incoming:
    """An artifact on its way into the cache: where it is written, and its sha256 once the writer knows it."""

    path: Path
    sha256: str = ""


class CompileCache:
    """Serialized components in ``DIR/compiled/``; writes are atomic renames.

    Entries are memory-mapped when loaded (code pages stay file-backed, which
    keeps a Pi's RSS low), so an entry is never rewritten in place: a new
    version always arrives by rename.  Each entry's sha256 is kept beside it
    (``.sha256``) and checked on every load: wasmtime loads machine code with a
    flipped byte without a word, and would run it.
    """

    def __init__(self, directory: Path, target: Target, settings: dict[str, Any],
                 room: Callable[[], Room] = free_memory) -> None:
        self.directory = Path(directory) / "compiled"
        self.target = target
        self.settings = settings
        self.key = EngineKey.for_target(target, settings)
        #: What memory is free for a compile (tests and the box pass their own).
        self.room = room

    def path_for(self, wasm_digest: str) -> Path:
        return self.directory / self.key.file_name(wasm_digest)

    def load(self, engine: wasmtime.Engine, name: str, wasm: bytes,
             wasm_digest: str | None = None) -> tuple[wc.Component, bool]:
        """The compiled component, and whether it came from the cache (else it was compiled now)."""
        wasm_digest = wasm_digest or digest(wasm)
        path = self.path_for(wasm_digest)
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
        with self._compiled_file(name, wasm, wasm_digest) as compiled:
            return wc.Component.deserialize_file(engine, str(compiled)), False

    def holds(self, wasm_digest: str) -> bool:
        """Whether the cache has an entry for this digest whose bytes match the digest kept with it."""
        path = self.path_for(wasm_digest)
        return path.exists() and self._problem(path) is None

    @staticmethod
    def _digest_file(path: Path) -> Path:
        return path.with_name(path.name + ".sha256")

    def _problem(self, path: Path) -> str | None:
        """Why the entry cannot be trusted, or None."""
        try:
            kept = self._digest_file(path).read_text().strip()
        except OSError:
            return "no digest is kept with it (an older pi-edge, or a crash, wrote it)"
        try:
            actual = _file_sha256(path)
        except OSError as exc:
            return f"it cannot be read ({exc.strerror or exc})"
        return None if actual == kept else "its bytes do not match the digest kept with it (damaged on disk)"

    def _drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._digest_file(path).unlink(missing_ok=True)

    def _install(self, partial: Path, target: Path, sha256: str | None = None) -> None:
        """``partial`` becomes ``target``'s entry, its digest kept beside it (a crash in between leaves an entry
        without one, which is compiled again)."""
        sha256 = sha256 or _file_sha256(partial)
        os.replace(partial, target)
        write_atomically(self._digest_file(target), sha256.encode() + b"\n")

    def plan(self, wasm: bytes) -> CompilePlan:
        return plan(wasm, self.room())

    def check_fits(self, name: str, wasm: bytes) -> CompilePlan:
        """The plan to compile ``wasm`` here, or CompileMemoryError before anything is tried."""
        decided = self.plan(wasm)
        if not decided.fits:
            raise CompileMemoryError(decided.refusal(name))
        return decided

    async def compile_async(self, name: str, wasm: bytes, wasm_digest: str) -> Path:
        """Compile into the cache in a child process (killed if the caller is cancelled); its entry."""
        decided = self.check_fits(name, wasm)
        target = self.path_for(wasm_digest)
        partial = self._partial(target)
        try:
            done = await compiler.run_async(name, wasm, self.target.triple, self.settings, decided.parallel, partial)
            await asyncio.to_thread(self._install, partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self._compiled(name, decided, done.stats)
        return target

    @contextlib.contextmanager
    def _compiled_file(self, name: str, wasm: bytes, wasm_digest: str) -> Any:
        """A compiled file of ``wasm``: the cache entry, or a temporary one where the cache cannot be written."""
        decided = self.check_fits(name, wasm)
        target = self.path_for(wasm_digest)
        try:
            partial = self._partial(target)
        except OSError as exc:  # a read-only or full disk costs a recompile next boot, not the actor
            log.warning("compile cache: cannot write %s: %s", target.parent, exc.strerror or exc)
            with tempfile.TemporaryDirectory(prefix="pi-edge-compile-") as scratch:
                done = compiler.run(name, wasm, self.target.triple, self.settings, decided.parallel,
                                    Path(scratch) / "actor.cwasm")
                self._compiled(name, decided, done.stats)
                yield Path(scratch) / "actor.cwasm"
            return
        try:
            done = compiler.run(name, wasm, self.target.triple, self.settings, decided.parallel, partial)
            self._install(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self._compiled(name, decided, done.stats)
        yield target

    @contextlib.contextmanager
    def incoming(self, wasm_digest: str) -> Iterator[Incoming]:
        """A file to write an artifact from elsewhere into; it becomes this digest's entry (with the ``sha256``
        the caller found and checked) if the ``with`` ends without an error, and is removed if not."""
        target = self.path_for(wasm_digest)
        entry = Incoming(self._partial(target))
        try:
            yield entry
            self._install(entry.path, target, entry.sha256 or None)
        finally:
            entry.path.unlink(missing_ok=True)

    def _partial(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".partial")
        os.close(fd)
        return Path(name)

    def _compiled(self, name: str, decided: CompilePlan, stats: dict[str, Any]) -> None:
        log.info("compile cache: compiled actor=%s for %s in %.1fs in a child process (peak %s MiB, predicted "
                 "%d MiB of %d MiB free, %s)", name, self.target.triple, stats.get("seconds", 0),
                 stats.get("peak_rss_mib", "?"), decided.need_mib, decided.room.mib,
                 "parallel" if decided.parallel else "one thread")


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
