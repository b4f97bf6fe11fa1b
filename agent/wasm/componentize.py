"""componentize-py's command line and the digest a build is cached by, with nothing but the standard library.

Apart from ``build`` so that the wheel's build hook (``setup.py``), which runs
before pi-edge's dependencies are installed, builds the built-in actor exactly
as ``pi-edge build`` does and finds it in the same cache.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

#: The WIT world every actor targets.
WORLD = "display-actor"
APP_MODULE = "app"
_SKIP_DIRS = {"__pycache__", ".pytest_cache"}


def source_files(root: Path) -> list[Path]:
    return [path for path in sorted(root.rglob("*"))
            if path.is_file() and not (_SKIP_DIRS & set(path.relative_to(root).parts)) and path.suffix != ".pyc"]


def source_digest(actor_dir: Path, wit: Path, tool_version: str) -> str:
    """sha256 over every actor and WIT file (name and content) and the tool version."""
    h = hashlib.sha256(f"componentize-py {tool_version}\nworld {WORLD}\n".encode())
    for label, root in (("actor", actor_dir), ("wit", wit)):
        for path in source_files(root):
            h.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def actor_name(actor_dir: Path) -> str:
    """``actors/oled_text`` is the actor ``oled-text``."""
    return Path(actor_dir).resolve().name.replace("_", "-")


def cached_build(cache_dir: Path, actor_dir: Path, digest: str) -> Path:
    """Where the build of ``actor_dir`` with this source digest is kept."""
    return cache_dir / "actors" / f"{actor_name(actor_dir)}-{digest[:16]}.wasm"


def command(actor_dir: Path, wit: Path, out: Path) -> list[str]:
    """componentize-py, run by this Python, building ``actor_dir`` into ``out`` with WASI stubbed out."""
    return [sys.executable, "-c", "import sys, componentize_py; sys.exit(componentize_py.script())",
            "-q", "-d", str(wit), "-w", WORLD,
            "componentize", APP_MODULE, "-p", str(actor_dir), "--stub-wasi", "-o", str(out)]


def environment() -> dict[str, str]:
    """componentize-py's environment: a VIRTUAL_ENV of the caller's would make it look for packages there."""
    return {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
