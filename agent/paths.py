"""Where pi-edge keeps its files unless told otherwise: state (keys, what to run) and caches (builds, compiled code).

Each follows the XDG base directories; the systemd units set the variables.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    """``$PI_EDGE_STATE_DIR``, else ``$XDG_STATE_HOME/pi-edge``, else ``~/.local/state/pi-edge``."""
    if env := os.environ.get("PI_EDGE_STATE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pi-edge"


def default_cache_dir() -> Path:
    """``$PI_EDGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/pi-edge``, else ``~/.cache/pi-edge``."""
    if env := os.environ.get("PI_EDGE_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pi-edge"
