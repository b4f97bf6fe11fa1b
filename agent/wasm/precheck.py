"""Mistakes in an actor's sources, found in milliseconds before a build that takes seconds.

Python: componentize-py finds a syntax or import error only at its last step,
after about ten seconds.  The host's own Python cannot judge the actor's syntax
(the guest's CPython is newer and accepts more), and importing the actor here
would run its code outside the sandbox.  So the check runs inside the guest's
own CPython: a small component (``actors/checker``) parses and compiles the
actor's modules and follows their imports, without running any of them.  It is
built with componentize-py once per machine (and componentize-py version) and
compiled once, both cached; after that a check takes a few milliseconds.

It is built without ``--stub-wasi`` and runs with a WASI that has nothing: no
files, no environment, output nowhere (CPython, reporting a syntax error,
tries to open the source file; under stubbed WASI that would trap).  It is
pi-edge's own code and holds nothing but what it is given.

JavaScript: ``node --check`` reads each module as the ES module it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

import wasmtime
from wasmtime import component as wc

from pi_edge.agent.errors import ActorSourceError, BuildError
from pi_edge.agent.files import tool_lock
from pi_edge.agent.progress import NO_PROGRESS, Progress
from pi_edge.agent.wasm import sources
from pi_edge.agent.wasm.compile_cache import CompileCache
from pi_edge.agent.wasm.compile_cache import digest as component_digest
from pi_edge.agent.wasm.componentize import componentize_py, environment
from pi_edge.agent.wasm.targets import engine_settings, local_target
from pi_edge.agent.wasm.wit import WORLD, wit_dir

log = logging.getLogger("pi_edge.build")

CHECKER_WORLD = "checker"


def checker_dir() -> Path:
    return Path(str(resources.files("pi_edge.actors") / "checker"))


class PythonChecker:
    """The checker component, ready to call: built and compiled once per machine, then loaded in milliseconds."""

    def __init__(self, cache_dir: Path, tool_version: str, progress: Progress = NO_PROGRESS) -> None:
        self.tools = cache_dir / "tools"
        self.engine = wasmtime.Engine()
        self.tool_version = tool_version
        with tool_lock(self.tools):  # two builds at once: one prepares, the other waits and reuses
            self._bindings = self._bindings_files(progress)
            wasm = self._component(progress)
            # Compiled as actors are (in a child process, for this machine's baseline), for an engine without
            # deadlines: the checker is pi-edge's own code, run on the laptop.
            cache = CompileCache(cache_dir, local_target(), engine_settings(epoch_interruption=False))
            if not cache.holds(component_digest(wasm)):
                progress.step("compiling the syntax checker (once per machine)")
            self.component, _ = cache.load(self.engine, "checker", wasm)

    def _component(self, progress: Progress) -> bytes:
        key = sources.digest(f"componentize-py {self.tool_version}\nchecker\n", [("checker", checker_dir())])
        target = self.tools / f"checker-{key[:16]}.wasm"
        if not target.exists():
            progress.step("building the syntax checker (once per machine; about 20 s)")
            with tempfile.TemporaryDirectory(prefix="pi-edge-checker-", dir=self.tools) as work:
                partial = Path(work) / "checker.wasm"
                app = sources.copy_sources(checker_dir(), Path(work) / "checker")  # its bytecode stays there
                command = componentize_py("-q", "-d", str(checker_dir() / "wit"), "-w", CHECKER_WORLD,
                                          "componentize", "app", "-p", str(app), "-o", str(partial))
                _run(command, work, "the syntax checker")
                os.replace(partial, target)
            for old in self.tools.glob("checker-*.wasm"):  # an earlier pi-edge's: never used again
                if old != target:
                    old.unlink(missing_ok=True)
        return target.read_bytes()

    def _bindings_files(self, progress: Progress) -> list[tuple[str, str, bool]]:
        """What ``wit_world`` and componentize-py's own modules hold for an actor (generated once, 50 ms)."""
        key = sources.digest(f"componentize-py {self.tool_version}\nworld {WORLD}\n", [("wit", wit_dir())])
        target = self.tools / f"bindings-{key[:16]}"
        if not target.is_dir():
            progress.step("generating the actors' bindings")
            work = Path(tempfile.mkdtemp(prefix="bindings-", dir=self.tools))
            try:
                _run(componentize_py("-d", str(wit_dir()), "-w", WORLD, "bindings", str(work)), str(self.tools),
                     "the actors' bindings")
                os.replace(work, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return [(p.relative_to(target).as_posix(), p.read_text(encoding="utf-8"), False)
                for p in sorted(target.rglob("*.py*")) if p.suffix in (".py", ".pyi")]

    def check(self, actor_dir: Path) -> list[str]:
        """One line per problem in the actor's Python (``app.py:3: ImportError: ...``); empty when none."""
        files = [(p.relative_to(actor_dir).as_posix(), _read(p), True)
                 for p in sources.source_files(actor_dir) if p.suffix == ".py"]
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasmtime.WasiConfig())  # nothing: no files, no environment, no output
        linker = wc.Linker(self.engine)
        linker.add_wasip2()
        instance = linker.instantiate(store, self.component)
        index = instance.get_export_index(store, "check")
        func = instance.get_func(store, index) if index is not None else None
        if func is None:
            raise BuildError("the syntax checker has no 'check' export; remove ~/.cache/pi-edge/tools and build again")
        problems = func(store, files + self._bindings)
        return [str(p) for p in problems]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ActorSourceError(f"{path}: not UTF-8 text (byte {exc.start}): Python sources are UTF-8") from None


def _run(command: list[str], cwd: str, what: str) -> None:
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()][-5:]
        raise BuildError(f"componentize-py could not build {what}: {' / '.join(lines) or 'no output'}")


def shown(actor_dir: Path) -> str:
    """How to name the actor's folder in a message: as the user would type it from here."""
    relative = os.path.relpath(actor_dir)
    return relative if not relative.startswith("..") else str(actor_dir)


def check_python(actor_dir: Path, cache_dir: Path, tool_version: str, progress: Progress = NO_PROGRESS) -> float:
    """ActorSourceError naming each problem, with its file and line; else the seconds the check took."""
    checker = PythonChecker(cache_dir, tool_version, progress)
    progress.step(f"checking {sources.ENTRY[sources.PYTHON]} and its imports")
    started = time.perf_counter()
    problems = checker.check(actor_dir)
    seconds = time.perf_counter() - started
    log.info("build: checked %s in %.1f ms: %d problem(s)", actor_dir, seconds * 1000, len(problems))
    if problems:
        raise ActorSourceError("\n".join(f"{shown(actor_dir)}/{problem}" for problem in problems))
    return seconds


def check_javascript(actor_dir: Path, node: str) -> None:
    """``node --check`` on each module, read as an ES module; ActorSourceError naming the first problem of each."""
    problems = []
    for path in sources.source_files(actor_dir):
        if path.suffix not in (".js", ".mjs"):
            continue
        done = subprocess.run([node, "--input-type=module", "--check"], input=path.read_bytes(),
                              capture_output=True)
        if done.returncode != 0:
            problems.append(_node_problem(shown(actor_dir) + "/" + path.relative_to(actor_dir).as_posix(),
                                          done.stderr.decode("utf-8", "replace")))
    if problems:
        raise ActorSourceError("\n".join(problems))


def _node_problem(path: str, stderr: str) -> str:
    """node's "[stdin]:LINE" and "SyntaxError: ..." lines as one: ``hello/actor.js:2: SyntaxError: ...``."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    line = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("[stdin]:")), "")
    error = next((ln for ln in lines if "Error:" in ln and not ln.startswith("at ")), lines[-1] if lines else "")
    return f"{path}:{line}: {error}" if line else f"{path}: {error}"
