"""An actor's source folder: which language it is in, and which of its files shape its component.

A Python actor has ``app.py``; a JavaScript actor has ``actor.js``.  Tests,
notes, caches and built components in the folder do not shape the component,
so editing them (or writing ``pi-edge build -o hello.wasm`` into the folder)
does not make the next build start over.
"""

from __future__ import annotations

from pathlib import Path

from pi_edge.agent.errors import BuildError
from pi_edge.agent.wasm.componentize import copy_sources, digest, source_files

__all__ = ["ENTRY", "JAVASCRIPT", "LANGUAGES", "PYTHON", "copy_sources", "digest", "language", "source_files"]

PYTHON, JAVASCRIPT = "python", "js"
#: The file each language's actor is entered by.
ENTRY = {PYTHON: "app.py", JAVASCRIPT: "actor.js"}
LANGUAGES = tuple(ENTRY)

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
