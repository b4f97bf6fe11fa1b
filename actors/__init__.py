"""The WIT contract (``actors/wit``) and the built-in actor's sources, shipped as package data.

Nothing here runs on the host: actor sources are compiled into Wasm components
by ``pi-edge build`` and the host reads the WIT to know the world it serves.
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
