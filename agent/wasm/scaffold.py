"""``pi-edge new``: a new actor's folder, from the templates shipped in ``pi_edge.actors.templates``.

The folder holds the actor's source, a short README and tests that run it with
``pi_edge.testing``; as written, ``pi-edge build`` and ``pytest`` in it pass.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pi_edge.agent.errors import ConfigError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.wasm import sources

PLACEHOLDER = "__NAME__"
#: The template files of each language, and the names they get in the actor's folder.
FILES = {
    sources.PYTHON: {"app.py.tmpl": "app.py", "test_actor.py.tmpl": "test_actor.py", "README.md.tmpl": "README.md",
                     "gitignore.tmpl": ".gitignore"},
    sources.JAVASCRIPT: {"actor.js.tmpl": "actor.js", "test_actor.py.tmpl": "test_actor.py",
                         "README.md.tmpl": "README.md", "gitignore.tmpl": ".gitignore"},
}


def template_dir(language: str) -> Path:
    return Path(str(resources.files("pi_edge.actors") / "templates" / language))


def scaffold(name: str, parent: Path, language: str) -> list[Path]:
    """Write actor ``name``'s folder under ``parent``; the files written.  An existing folder that is not
    empty is refused: nothing is ever overwritten."""
    subjects.check_token("actor", name)
    if language not in FILES:
        raise ConfigError(f"unknown language {language!r}; use one of: {', '.join(FILES)}")
    folder = parent / name
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} already exists and is not an empty folder; pick another name or move it away")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for template, target in FILES[language].items():
            text = (template_dir(language) / template).read_text(encoding="utf-8")
            path = folder / target
            path.write_text(text.replace(PLACEHOLDER, name), encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the actor's folder {folder}: {exc.strerror or exc}") from None
    return written
