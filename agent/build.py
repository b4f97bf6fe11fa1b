"""``pi-edge build``: an actor's Python sources into a Wasm component, cached by digest.

The digest covers the actor's files, the WIT and the componentize-py version,
so an unchanged actor is never rebuilt and any change to what shapes the
component is.  WASI is stubbed out (``--stub-wasi``): the component imports
only what the world grants.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .compile_cache import default_cache_dir
from .errors import BuildError
from .outputs import write_output
from .wit import WORLD, wit_dir

log = logging.getLogger("pi_edge.build")

APP_MODULE = "app"
_SKIP_DIRS = {"__pycache__", ".pytest_cache"}


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


def _source_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (_SKIP_DIRS & set(path.relative_to(root).parts)) and path.suffix != ".pyc":
            files.append(path)
    return files


def source_digest(actor_dir: Path, wit: Path, tool_version: str) -> str:
    """sha256 over every actor and WIT file (name and content) and the tool version."""
    h = hashlib.sha256(f"componentize-py {tool_version}\nworld {WORLD}\n".encode())
    for label, root in (("actor", actor_dir), ("wit", wit)):
        for path in _source_files(root):
            h.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def actor_name(actor_dir: Path) -> str:
    """``actors/oled_text`` is the actor ``oled-text``."""
    return Path(actor_dir).resolve().name.replace("_", "-")


def build_actor(actor_dir: Path, cache_dir: Path | None = None, out: Path | None = None) -> BuildResult:
    """Build (or reuse) the component for ``actor_dir``; ``out`` also gets a copy."""
    started = time.perf_counter()
    actor_dir = Path(actor_dir).resolve()
    if not (actor_dir / f"{APP_MODULE}.py").is_file():
        raise BuildError(f"{actor_dir} is not an actor: it has no {APP_MODULE}.py (see actors/oled_text)")
    tool = _componentize_version()
    digest = source_digest(actor_dir, wit_dir(), tool)
    target = (cache_dir or default_cache_dir()) / "actors" / f"{actor_name(actor_dir)}-{digest[:16]}.wasm"
    cached = target.exists()
    if not cached:
        _run_componentize(actor_dir, target)
    if out is not None:
        write_output(out, target.read_bytes())
    result = BuildResult(Path(out) if out else target, digest, cached, time.perf_counter() - started)
    log.info("build: actor=%s %s %s in %.2fs", actor_name(actor_dir), "reused" if cached else "built",
             result.path, result.seconds)
    return result


def _run_componentize(actor_dir: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a default cache directory nobody checked (a flag is checked at start)
        raise BuildError(f"cannot write the build cache {target.parent}: {exc.strerror or exc}; pick another "
                         "directory with --cache-dir or PI_EDGE_CACHE_DIR") from None
    log.info("build: compiling %s with componentize-py (takes about 10 s)", actor_dir)
    with tempfile.TemporaryDirectory(prefix="pi-edge-build-") as work:
        partial = Path(work) / "actor.wasm"
        command = [
            sys.executable, "-c", "import sys, componentize_py; sys.exit(componentize_py.script())",
            "-q", "-d", str(wit_dir()), "-w", WORLD,
            "componentize", APP_MODULE, "-p", str(actor_dir), "--stub-wasi", "-o", str(partial),
        ]
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0 or not partial.exists():
            detail = _summarise(proc.stderr or proc.stdout)
            raise BuildError(f"componentize-py could not build {actor_dir}: {detail}")
        # Rename into place so a crash mid-build never leaves a half-written cache entry.
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        shutil.copyfile(partial, tmp)
        os.replace(tmp, target)


def _summarise(output: str) -> str:
    """The lines of componentize-py's output that say what went wrong, without the Rust backtrace."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    cut = next((i for i, ln in enumerate(lines) if ln.strip().startswith("Stack backtrace")), len(lines))
    useful = lines[:cut][-12:]
    return "\n".join(useful) if useful else "no output"
