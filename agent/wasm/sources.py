"""An actor's source folder: which language it is in, and which of its files shape its component.

A Python actor has ``app.py``; a JavaScript actor has ``actor.js``.  Tests,
notes, caches and built components in the folder do not shape the component,
so editing them (or writing ``pi-edge build -o hello.wasm`` into the folder)
does not make the next build start over.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path

from pi_edge.agent.errors import BuildError

PYTHON, JAVASCRIPT = "python", "js"
#: The file each language's actor is entered by.
ENTRY = {PYTHON: "app.py", JAVASCRIPT: "actor.js"}
LANGUAGES = tuple(ENTRY)

_SKIP_DIRS = {"__pycache__", ".pytest_cache", "node_modules", ".git", "tests", ".venv"}
_SKIP_FILES = ("*.pyc", "*.wasm", "test_*.py", "*_test.py", "conftest.py", "*.md", ".gitignore", "*.tmp")


def language(actor_dir: Path) -> str:
    """``python`` or ``js``, from the entry file the folder holds; BuildError if it holds neither or both."""
    found = [lang for lang, entry in ENTRY.items() if (actor_dir / entry).is_file()]
    if not found:
        raise BuildError(f"{actor_dir} is not an actor: it has no app.py (Python) or actor.js (JavaScript); "
                         "'pi-edge new NAME' makes one")
    if len(found) > 1:
        raise BuildError(f"{actor_dir} has both app.py and actor.js: an actor is written in one language; "
                         "move one of them out")
    return found[0]


def source_files(root: Path) -> list[Path]:
    """The folder's files that shape the component, sorted."""
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
    """The folder's files that shape the component, copied into ``into`` (the build tools run on the copy: what
    they write next to the sources, like Python's bytecode, stays out of the actor's folder)."""
    for path in source_files(root):
        target = into / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return into
