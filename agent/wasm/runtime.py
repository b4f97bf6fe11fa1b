"""Wasmtime, set up once per agent: engine, epoch clock, compile cache, component checks.

Deadlines use epoch interruption: an ``EpochClock`` advances the engine's epoch
every ``EPOCH_TICK_S`` while actor code runs, and each call sets how many ticks
it may run, so an actor stuck in a loop traps instead of holding its worker
forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime import component as wc

from pi_edge.agent.errors import ActorLoadError, ComponentFormatError, WorldMismatchError
from pi_edge.agent.paths import default_cache_dir
from pi_edge.agent.wasm import binary, build_js, workarounds
from pi_edge.agent.wasm.compile_cache import CompileCache, digest
from pi_edge.agent.wasm.compile_memory import Room, free_memory
from pi_edge.agent.wasm.epoch_clock import EpochClock
from pi_edge.agent.wasm.targets import WASMTIME_VERSION, engine_settings, local_target
from pi_edge.agent.wasm.wit import WorldContract, contract

log = logging.getLogger("pi_edge.runtime")

EPOCH_TICK_S = 0.01
#: The epoch clock parks after this long without actor code running (see epoch_clock).
CLOCK_IDLE_S = 1.0


@dataclass
class LoadedComponent:
    """A compiled component that has been checked against the world."""

    name: str
    digest: str
    component: wc.Component
    from_cache: bool
    load_seconds: float
    imports: frozenset[str] = frozenset()  # the world's interfaces it imports, e.g. {"display", "logging"}


class Runtime:
    """One wasmtime engine shared by every actor of the agent."""

    def __init__(self, cache_dir: Path | None = None, world: WorldContract | None = None,
                 epoch_interruption: bool = True, room: Callable[[], Room] = free_memory) -> None:
        """``epoch_interruption=False`` exists only to measure what deadlines cost; never run actors so.

        ``room`` says how much memory a compile may use (default: what this machine and its cgroup have free).
        """
        workarounds.install()
        settings = engine_settings(epoch_interruption)
        config = wasmtime.Config()
        config.epoch_interruption = settings["epoch_interruption"]
        # This engine loads what was compiled for the target's baseline (in a child process, here or on
        # another host): wasmtime checks that the CPU has every feature an artifact needs.
        self.engine = wasmtime.Engine(config)
        self.world = world or contract()
        self.cache = CompileCache(cache_dir or default_cache_dir(), local_target(), settings, room)
        self.clock = EpochClock(self.engine, EPOCH_TICK_S, CLOCK_IDLE_S)
        log.info("runtime: wasmtime %s, compile cache %s", WASMTIME_VERSION, self.cache.directory)

    def close(self) -> None:
        self.clock.close()

    def ticks_for(self, deadline_ms: int) -> int:
        """Epoch ticks for a deadline, rounded up, plus one for the tick already under way."""
        return max(1, -(-deadline_ms // int(EPOCH_TICK_S * 1000))) + 1

    def load(self, name: str, wasm: bytes, wasm_digest: str | None = None) -> LoadedComponent:
        """Compile (or fetch from cache) and check that the component targets the world.

        ``wasm_digest`` saves hashing the component again when the caller already
        has it (verified claims name it).
        """
        started = time.perf_counter()
        check_binary(name, wasm)
        self.check_imports(name, wasm)  # in a millisecond, where compiling takes seconds (minutes on a Pi)
        wasm_digest = wasm_digest or digest(wasm)
        try:
            component, cached = self.cache.load(self.engine, name, wasm, wasm_digest)
        except wasmtime.WasmtimeError as exc:
            raise ActorLoadError(f"actor {name!r}: not a valid component: {first_line(exc)}") from None
        self.check_world(name, component)
        qualified = set(component.type.imports(self.engine))
        imports = frozenset(i for i in self.world.imports if self.world.qualified(i) in qualified)
        elapsed = time.perf_counter() - started
        log.info("runtime: loaded actor=%s digest=%s %s in %.3fs", name, wasm_digest[:12],
                 "from cache" if cached else "compiled", elapsed)
        return LoadedComponent(name, wasm_digest, component, cached, elapsed, imports)

    def compiled(self, wasm_digest: str) -> bool:
        """Whether the component with this digest is in the compile cache (loading it takes milliseconds)."""
        return self.cache.path_for(wasm_digest).exists()

    def load_file(self, name: str, path: Path) -> LoadedComponent:
        try:
            wasm = Path(path).read_bytes()
        except OSError as exc:
            raise ActorLoadError(f"actor {name!r}: cannot read {path}: {exc.strerror}") from None
        return self.load(name, wasm)

    def check_imports(self, name: str, wasm: bytes) -> None:
        """Refuse, before compiling, a component that imports what this host does not provide, naming the
        imports.  Names only: ``check_world`` judges the compiled component's types after.  A component whose
        sections this cannot read is left to wasmtime, which says what is wrong with it."""
        try:
            found = binary.imports(wasm)
        except ComponentFormatError as exc:
            log.debug("runtime: actor=%s: imports not read before compiling (%s); wasmtime will judge them",
                      name, exc)
            return
        provided = {self.world.qualified(i) for i in self.world.imports}
        extra = sorted({i.name for i in found} - provided)
        if extra:
            raise WorldMismatchError(self._unprovided(name, extra, _built_by_componentize_js(wasm)))

    def _unprovided(self, name: str, extra: list[str], javascript: bool) -> str:
        """Which imports the host does not provide, and how to build the actor without them."""
        provided = ", ".join(sorted(self.world.qualified(i) for i in self.world.imports))
        text = (f"actor {name!r} imports {', '.join(repr(e) for e in extra[:5])}"
                f"{f' and {len(extra) - 5} more' if len(extra) > 5 else ''}, which this host does not provide "
                f"(it provides: {provided}); ")
        features = build_js.features_for(extra) if javascript else []
        if features:
            listed = ", ".join(f"'{f}'" for f in features)
            return text + (f"componentize-js built it with WASI features on: build it with 'pi-edge build', which "
                           f"turns them off, or pass disableFeatures: [{listed}] to componentize-js "
                           f"(on its command line: -d {' '.join(features)})")
        return text + "build it with 'pi-edge build' (Python or JavaScript), which leaves WASI out"

    def check_world(self, name: str, component: wc.Component) -> None:
        """Name the first missing export or unexpected import, in WIT terms."""
        ty = component.type
        imports = set(ty.imports(self.engine))
        exports = ty.exports(self.engine)
        provided = {self.world.qualified(i) for i in self.world.imports}
        for interface in self.world.exports:
            qualified = self.world.qualified(interface)
            item = exports.get(qualified)
            if item is None:
                raise WorldMismatchError(
                    f"actor {name!r} does not target world 'display-actor': it lacks the export "
                    f"{qualified!r} (it exports: {', '.join(sorted(exports)) or 'nothing'})"
                )
            ty_item = getattr(item, "ty", item)  # a ComponentExtern wraps the item's type
            have = set(ty_item.exports(self.engine)) if isinstance(ty_item, wc.ComponentInstanceType) else set()
            for function in self.world.functions[interface]:
                if function not in have:
                    raise WorldMismatchError(
                        f"actor {name!r} does not target world 'display-actor': export {qualified!r} "
                        f"lacks function {function!r}"
                    )
        extra = sorted(imports - provided)
        if extra:
            raise WorldMismatchError(self._unprovided(name, extra, javascript=False))


def _built_by_componentize_js(wasm: bytes) -> bool:
    """Whether the component's producers section names componentize-js (it then has WASI features to turn off)."""
    try:
        return any(s.name == "producers" and b"ComponentizeJS" in binary.custom_payload(wasm, s)
                   for s in binary.sections(wasm))
    except ComponentFormatError:
        return False


def check_binary(name: str, wasm: bytes) -> None:
    """ActorLoadError unless ``wasm`` at least starts as WebAssembly does: said before anything compiles it."""
    if wasm[:4] != b"\0asm":
        raise ActorLoadError(f"actor {name!r}: not a WebAssembly binary (first bytes {wasm[:4]!r})")


def first_line(exc: BaseException) -> str:
    """The first line of an error, for one-line messages."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
