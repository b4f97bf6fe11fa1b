"""``pi-edge build``: an actor's Python sources into a Wasm component, cached by digest.

The digest covers the actor's files, the WIT and the componentize-py version,
so an unchanged actor is never rebuilt and any change to what shapes the
component is.  WASI is stubbed out (``--stub-wasi``): the component imports
only what the world grants.
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pi_edge.agent.errors import BuildError
from pi_edge.agent.files import write_output
from pi_edge.agent.paths import default_cache_dir
from pi_edge.agent.wasm import componentize
from pi_edge.agent.wasm.componentize import APP_MODULE, actor_name, source_digest
from pi_edge.agent.wasm.wit import wit_dir

__all__ = ["BuildResult", "actor_name", "build_actor", "build_actor_async", "source_digest"]

log = logging.getLogger("pi_edge.build")


@dataclass(frozen=True)
class BuildResult:
    path: Path
    digest: str
    cached: bool
    seconds: float


def _componentize_version() -> str:
    try:
        return version("componentize-py")
    except PackageNotFoundError:
        raise BuildError(
            "componentize-py is not installed: install it with \"pip install 'pi-edge[dev]'\" "
            "(or 'pip install componentize-py'), or deploy an actor that is already built"
        ) from None


def build_actor(actor_dir: Path, cache_dir: Path | None = None, out: Path | None = None) -> BuildResult:
    """Build (or reuse) the component for ``actor_dir``; ``out`` also gets a copy."""
    started = time.perf_counter()
    actor_dir, digest, target = _plan(actor_dir, cache_dir)
    cached = target.exists()
    if not cached:
        with _workspace(actor_dir, target) as (command, work, env, partial):
            _compiling(actor_dir)
            proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, errors="replace")
            _install(actor_dir, target, partial, proc.returncode, proc.stderr or proc.stdout)
    return _finished(actor_dir, target, digest, cached, started, out)


async def build_actor_async(actor_dir: Path, cache_dir: Path | None = None) -> BuildResult:
    """``build_actor`` for the agent's event loop: cancelled (the agent is stopping), componentize-py is
    killed rather than waited for, which on a Pi would outlast systemd's stop timeout."""
    started = time.perf_counter()
    actor_dir, digest, target = _plan(actor_dir, cache_dir)
    cached = target.exists()
    if not cached:
        with _workspace(actor_dir, target) as (command, work, env, partial):
            proc = await asyncio.create_subprocess_exec(*command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _compiling(actor_dir)  # once it runs: a stop from here on has a process to kill
            try:
                stdout, stderr = await proc.communicate()
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                log.info("build: actor=%s stopped before it finished (the agent is stopping)", actor_name(actor_dir))
                raise
            output = (stderr or stdout).decode("utf-8", "replace")
            _install(actor_dir, target, partial, proc.returncode or 0, output)
    return _finished(actor_dir, target, digest, cached, started)


def _plan(actor_dir: Path, cache_dir: Path | None) -> tuple[Path, str, Path]:
    """The actor's directory, its source digest, and where its build is cached."""
    actor_dir = Path(actor_dir).resolve()
    if not (actor_dir / f"{APP_MODULE}.py").is_file():
        raise BuildError(f"{actor_dir} is not an actor: it has no {APP_MODULE}.py (see actors/oled_text)")
    digest = source_digest(actor_dir, wit_dir(), _componentize_version())
    target = componentize.cached_build(cache_dir or default_cache_dir(), actor_dir, digest)
    return actor_dir, digest, target


@contextmanager
def _workspace(actor_dir: Path, target: Path) -> Iterator[tuple[list[str], str, dict[str, str], Path]]:
    """componentize-py's command line, working directory and environment, and where it writes."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a default cache directory nobody checked (a flag is checked at start)
        raise BuildError(f"cannot write the build cache {target.parent}: {exc.strerror or exc}; pick another "
                         "directory with --cache-dir or PI_EDGE_CACHE_DIR") from None
    with tempfile.TemporaryDirectory(prefix="pi-edge-build-") as work:
        partial = Path(work) / "actor.wasm"
        yield componentize.command(actor_dir, wit_dir(), partial), work, componentize.environment(), partial


def _compiling(actor_dir: Path) -> None:
    log.info("build: compiling %s with componentize-py (takes about 10 s)", actor_dir)


def _install(actor_dir: Path, target: Path, partial: Path, returncode: int, output: str) -> None:
    if returncode != 0 or not partial.exists():
        raise BuildError(f"componentize-py could not build {actor_dir}: {_summarise(output)}")
    # Rename into place so a crash mid-build never leaves a half-written cache entry.
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    shutil.copyfile(partial, tmp)
    os.replace(tmp, target)


def _finished(actor_dir: Path, target: Path, digest: str, cached: bool, started: float,
              out: Path | None = None) -> BuildResult:
    if out is not None:
        write_output(out, target.read_bytes())
    result = BuildResult(Path(out) if out else target, digest, cached, time.perf_counter() - started)
    log.info("build: actor=%s %s %s in %.2fs", actor_name(actor_dir), "reused" if cached else "built",
             result.path, result.seconds)
    return result


def _summarise(output: str) -> str:
    """The lines of componentize-py's output that say what went wrong, without the Rust backtrace."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    cut = next((i for i, ln in enumerate(lines) if ln.strip().startswith("Stack backtrace")), len(lines))
    useful = lines[:cut][-12:]
    return "\n".join(useful) if useful else "no output"
