"""``pi-edge build``: an actor's sources (Python or JavaScript) into a Wasm component, cached by digest.

The digest covers the actor's files (not its tests or notes), the WIT, the
tool's version and pi-edge's guard around the actor, so an unchanged actor is
never rebuilt and any change to what shapes the component is.  WASI is left
out (componentize-py's ``--stub-wasi``, componentize-js's features off): the
component imports only what the world grants.

Before the tool runs (seconds), the sources are checked (milliseconds, see
``precheck``): a syntax or import error is named with its file and line at once.
Each actor is entered through a guard (``actors/guard``, ``actors/js/entry.js``)
that answers an exception the actor does not catch with its type, message and
lines instead of a bare trap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pi_edge.agent.errors import BuildError
from pi_edge.agent.files import write_output
from pi_edge.agent.paths import default_cache_dir
from pi_edge.agent.progress import NO_PROGRESS, Progress
from pi_edge.agent.wasm import build_js, componentize, precheck, sources
from pi_edge.agent.wasm.componentize import actor_name

__all__ = ["BuildResult", "actor_name", "build_actor", "build_actor_async", "source_digest"]
from pi_edge.agent.wasm.wit import WORLD, wit_dir

log = logging.getLogger("pi_edge.build")

#: Roughly how long the tool takes on a laptop, for the step's line.
TYPICAL_SECONDS = {sources.PYTHON: 10, sources.JAVASCRIPT: 6}


@dataclass(frozen=True)
class BuildResult:
    path: Path
    digest: str
    cached: bool
    seconds: float
    language: str = sources.PYTHON
    check_seconds: float | None = None  # the check before building, when there was one


@dataclass(frozen=True)
class _Plan:
    actor_dir: Path
    language: str
    digest: str
    target: Path
    cache_dir: Path


def _componentize_version() -> str:
    try:
        return version("componentize-py")
    except PackageNotFoundError:
        raise BuildError(
            "componentize-py is not installed: install it with \"pip install 'pi-edge[dev]'\" "
            "(or 'pip install componentize-py'), or deploy an actor that is already built"
        ) from None


def guard_dir() -> Path:
    return Path(str(resources.files("pi_edge.actors") / "guard"))


def source_digest(actor_dir: Path, wit: Path, tool_version: str, language: str = sources.PYTHON) -> str:
    """sha256 over every file that shapes the component (name and content), the WIT and the tool version."""
    if language == sources.JAVASCRIPT:
        trees = [("actor", actor_dir), ("wit", wit), ("support", build_js.support_dir())]
        return sources.digest(f"{build_js.TOOL}\nworld {WORLD}\n", trees)
    return componentize.python_digest(actor_dir, wit, guard_dir(), tool_version)


def build_actor(actor_dir: Path, cache_dir: Path | None = None, out: Path | None = None,
                progress: Progress = NO_PROGRESS, check: bool = True) -> BuildResult:
    """Build (or reuse) the component for ``actor_dir``; ``out`` also gets a copy.

    ``check``: look for syntax and import errors first (the syntax checker is built once per machine).
    """
    started = time.perf_counter()
    plan = _plan(actor_dir, cache_dir)
    cached = plan.target.exists()
    checked = None
    if not cached:
        _cache_ready(plan)
        if check:
            checked = _check(plan, progress)
        with _workspace(plan, progress) as (command, work, env, partial):
            _compiling(plan, progress)
            proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, errors="replace")
            _install(plan, partial, proc.returncode, proc.stderr or proc.stdout)
    return _finished(plan, cached, started, out, checked)


async def build_actor_async(actor_dir: Path, cache_dir: Path | None = None) -> BuildResult:
    """``build_actor`` for the agent's event loop: cancelled (the agent is stopping), the build tool is
    killed rather than waited for, which on a Pi would outlast systemd's stop timeout.  No check first:
    the agent builds what it is told to run, and the tool finds the same mistakes."""
    started = time.perf_counter()
    plan = await asyncio.to_thread(_plan, actor_dir, cache_dir)
    cached = plan.target.exists()
    if not cached:
        if plan.language == sources.JAVASCRIPT:  # npm install, the first time: off the loop, which keeps serving
            await asyncio.to_thread(build_js.toolchain, plan.cache_dir)
        with _workspace(plan, NO_PROGRESS) as (command, work, env, partial):
            proc = await asyncio.create_subprocess_exec(*command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _compiling(plan, NO_PROGRESS)  # once it runs: a stop from here on has a process to kill
            try:
                stdout, stderr = await proc.communicate()
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                log.info("build: actor=%s stopped before it finished (the agent is stopping)", actor_name(actor_dir))
                raise
            output = (stderr or stdout).decode("utf-8", "replace")
            _install(plan, partial, proc.returncode or 0, output)
    return _finished(plan, cached, started)


def _plan(actor_dir: Path, cache_dir: Path | None) -> _Plan:
    """The actor's directory and language, its source digest, and where its build is cached."""
    actor_dir = Path(actor_dir).resolve()
    if not actor_dir.is_dir():
        raise BuildError(f"{actor_dir} is not a directory: name an actor's folder (the one with app.py or actor.js)")
    lang = sources.language(actor_dir)
    tool_version = _componentize_version() if lang == sources.PYTHON else build_js.VERSION
    digest = source_digest(actor_dir, wit_dir(), tool_version, lang)
    cache = cache_dir or default_cache_dir()
    target = componentize.cached_build(cache, actor_dir, digest)
    return _Plan(actor_dir, lang, digest, target, cache)


def _cache_ready(plan: _Plan) -> None:
    try:
        plan.target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a default cache directory nobody checked (a flag is checked at start)
        raise BuildError(f"cannot write the build cache {plan.target.parent}: {exc.strerror or exc}; pick another "
                         "directory with --cache-dir or PI_EDGE_CACHE_DIR") from None


def _check(plan: _Plan, progress: Progress) -> float | None:
    """Syntax and imports before building: ActorSourceError names each problem."""
    if plan.language == sources.JAVASCRIPT:
        progress.step("checking the JavaScript's syntax (node --check)")
        started = time.perf_counter()
        precheck.check_javascript(plan.actor_dir, build_js.node())
        return time.perf_counter() - started
    return precheck.check_python(plan.actor_dir, plan.cache_dir, _componentize_version(), progress)


@contextmanager
def _workspace(plan: _Plan, progress: Progress) -> Iterator[tuple[list[str], str, dict[str, str], Path]]:
    """The build tool's command line, working directory and environment, and where it writes."""
    _cache_ready(plan)
    env = componentize.environment()
    with tempfile.TemporaryDirectory(prefix="pi-edge-build-") as work:
        partial = Path(work) / "actor.wasm"
        if plan.language == sources.JAVASCRIPT:
            node = build_js.node()
            home = build_js.toolchain(plan.cache_dir, progress)
            entry = build_js.stage(plan.actor_dir, Path(work))
            command = build_js.command(node, home, entry, wit_dir(), WORLD, partial)
            yield command, str(entry.parent), env, partial
            return
        # Copies: componentize-py's guest Python writes bytecode next to what it imports.
        command = componentize.python_command(plan.actor_dir, guard_dir(), wit_dir(), Path(work), partial)
        yield command, work, env, partial


def _compiling(plan: _Plan, progress: Progress) -> None:
    tool = "componentize-js" if plan.language == sources.JAVASCRIPT else "componentize-py"
    seconds = TYPICAL_SECONDS[plan.language]
    log.info("build: compiling %s with %s (takes about %d s)", plan.actor_dir, tool, seconds)
    progress.step(f"building with {tool} (about {seconds} s)")


def _install(plan: _Plan, partial: Path, returncode: int, output: str) -> None:
    if returncode != 0 or not partial.exists():
        tool = "componentize-js" if plan.language == sources.JAVASCRIPT else "componentize-py"
        raise BuildError(f"{tool} could not build {plan.actor_dir}: {_summarise(output)}")
    # Rename into place so a crash mid-build never leaves a half-written cache entry.
    fd, tmp = tempfile.mkstemp(dir=plan.target.parent, suffix=".tmp")
    os.close(fd)
    shutil.copyfile(partial, tmp)
    os.replace(tmp, plan.target)


def _finished(plan: _Plan, cached: bool, started: float, out: Path | None = None,
              checked: float | None = None) -> BuildResult:
    if out is not None:
        write_output(out, plan.target.read_bytes())
    result = BuildResult(Path(out) if out else plan.target, plan.digest, cached, time.perf_counter() - started,
                         plan.language, checked)
    log.info("build: actor=%s %s %s in %.2fs", actor_name(plan.actor_dir), "reused" if cached else "built",
             result.path, result.seconds)
    return result


def _summarise(output: str) -> str:
    """The lines of the tool's output that say what went wrong, without the Rust backtrace; where
    componentize-py's first cause is empty (module code that called an import), the real one."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    cut = next((i for i, ln in enumerate(lines) if ln.strip().startswith("Stack backtrace")), len(lines))
    useful = lines[:cut][-12:]
    stub = next((ln.strip() for ln in lines if "called trapping stub" in ln), None)
    if stub is not None and not any("called trapping stub" in ln for ln in useful):
        useful.append(f"(the module's code called an import while the component was being built: {stub}; "
                      "call imports only inside handle)")
    return "\n".join(useful) if useful else "no output"
