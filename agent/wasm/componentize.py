"""How a Python actor becomes a component, with nothing but the standard library: which files shape it,
the digest its build is cached by, and componentize-py's command line.

Apart from ``build`` so that the wheel's build hook (``setup.py``), which runs
before pi-edge's dependencies are installed, builds the built-in actor exactly
as ``pi-edge build`` does and finds it in the same cache.  The tools run on
copies of the sources (what they write next to them, like Python's bytecode,
stays out of the actor's folder), and the actor is entered through pi-edge's
guard (``actors/guard``), which answers an exception the actor does not catch
with its type, message and lines.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path

#: The WIT world every actor targets.
WORLD = "display-actor"
APP_MODULE = "app"
GUARD_MODULE = "pi_edge_guard"

_SKIP_DIRS = {"__pycache__", ".pytest_cache", "node_modules", ".git", "tests", ".venv"}
_SKIP_FILES = ("*.pyc", "*.wasm", "test_*.py", "*_test.py", "conftest.py", "*.md", ".gitignore", "*.tmp")


def source_files(root: Path) -> list[Path]:
    """The folder's files that shape the component, sorted (not its tests, notes, caches or builds)."""
    return [path for path in sorted(root.rglob("*"))
            if path.is_file() and not (_SKIP_DIRS & set(path.relative_to(root).parts[:-1]))
            and not any(fnmatch(path.name, pattern) for pattern in _SKIP_FILES)]


def digest(header: str, trees: Iterable[tuple[str, Path]]) -> str:
    """sha256 over ``header`` and every file (name and content) of each labelled folder or file."""
    h = hashlib.sha256(header.encode())
    for label, root in trees:
        for path in source_files(root) if root.is_dir() else [root]:
            h.update(f"{label}/{path.relative_to(root).as_posix() if root.is_dir() else path.name}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def copy_sources(root: Path, into: Path) -> Path:
    """The folder's files that shape the component, copied into ``into``."""
    for path in source_files(root):
        target = into / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return into


def python_digest(actor_dir: Path, wit: Path, guard: Path, tool_version: str) -> str:
    """What a Python actor's build is cached by: its files, the WIT, pi-edge's guard and componentize-py's version."""
    return digest(f"componentize-py {tool_version}\nworld {WORLD}\n",
                  [("actor", actor_dir), ("wit", wit), ("guard", guard)])


def actor_name(actor_dir: Path) -> str:
    """``actors/oled_text`` is the actor ``oled-text``."""
    return Path(actor_dir).resolve().name.replace("_", "-")


def cached_build(cache_dir: Path, actor_dir: Path, source_digest: str) -> Path:
    """Where the build of ``actor_dir`` with this source digest is kept."""
    return cache_dir / "actors" / f"{actor_name(actor_dir)}-{source_digest[:16]}.wasm"


def componentize_py(*args: str) -> list[str]:
    """componentize-py's command line, run by this Python (its console script may not be on PATH)."""
    return [sys.executable, "-c", "import sys, componentize_py; sys.exit(componentize_py.script())", *args]


def python_command(actor_dir: Path, guard: Path, wit: Path, work: Path, out: Path) -> list[str]:
    """Copy the actor and the guard into ``work`` and return the command that builds them into ``out``."""
    guard_copy = copy_sources(guard, work / "guard")
    actor_copy = copy_sources(actor_dir, work / "actor")
    return componentize_py("-q", "-d", str(wit), "-w", WORLD, "componentize", GUARD_MODULE,
                           "-p", str(guard_copy), "-p", str(actor_copy), "--stub-wasi", "-o", str(out))


def environment() -> dict[str, str]:
    """componentize-py looks for site-packages by VIRTUAL_ENV if it is set; it finds its own without."""
    return {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
