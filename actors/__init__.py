"""The WIT contract (``actors/wit``) and the built-in actor: its sources, and in a wheel its built component.

Nothing here runs on the host: actor sources are compiled into Wasm components
by ``pi-edge build`` and the host reads the WIT to know the world it serves.
A wheel also carries ``prebuilt/oled-text.wasm``, built when the wheel was
(``setup.py``), so a Pi runs the built-in actor without componentize-py.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The actor every host runs unless told otherwise, and what ``display`` and the gateway talk to.
DEFAULT_ACTOR = "oled-text"
#: How a configuration names the built-in actor as an actor's path (``--actor oled-text=builtin``).
BUILTIN = "builtin"


def builtin_actor_dir() -> Path:
    """The oled_text actor's sources, shipped inside this package."""
    return Path(str(resources.files("pi_edge.actors") / "oled_text"))


def prebuilt_actor() -> Path | None:
    """The built-in actor's component as the wheel ships it, or None (an editable install from a checkout)."""
    path = Path(str(resources.files("pi_edge.actors") / "prebuilt" / f"{DEFAULT_ACTOR}.wasm"))
    return path if path.is_file() else None


def builtin_actor() -> Path:
    """What runs as the built-in actor: the prebuilt component if this installation has one, else its sources
    (built on first start, which needs componentize-py: the dev extra)."""
    return prebuilt_actor() or builtin_actor_dir()


def is_builtin(path: Path) -> bool:
    """Whether ``path`` is the built-in actor (sources or prebuilt): the host signs it itself, as its own code."""
    prebuilt = prebuilt_actor()
    return Path(path) == builtin_actor_dir() or (prebuilt is not None and Path(path) == prebuilt)
