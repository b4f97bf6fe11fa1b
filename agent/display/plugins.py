"""Providers are found by name through the ``pi_edge.providers`` entry point group.

This is how the agent reaches a display without importing luma or smbus2: it
asks the plugin for its settings (their names, kinds and defaults: the plugin
owns them), to add its flags, and to build a ``DisplayProvider`` from them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ConfigError

GROUP = "pi_edge.providers"

#: What a setting's value is, in the file, the environment and on the command line:
#: str, path, int, address (an int also written like "0x3C"), float, bool, list (of str), map (str to str).
KINDS = ("str", "path", "int", "address", "float", "bool", "list", "map")


@dataclass(frozen=True)
class Setting:
    """One setting: ``[SECTION] NAME`` in agent.toml, ``PI_EDGE_<NAME>`` in the environment, a flag.

    The agent owns its own settings and a provider plugin owns its; the agent's
    configuration reads all of them the same way, naming the file line,
    variable or flag a refused value came from.
    """

    section: str
    name: str
    kind: str
    default: Any
    dest: str  # the argparse destination it fills
    check: Callable[[Any], Any] | None = None  # returns the value, or raises ValueError("must be ..., got ...")
    flag: str = ""  # the command-line flag, when it is not --DEST
    example: str = ""  # the commented line of the config skeleton shows this value (TOML)...
    note: str = ""  # ...and this comment

    @property
    def env(self) -> str:
        return f"PI_EDGE_{self.name.upper()}"

    @property
    def option(self) -> str:
        return self.flag or "--" + self.dest.replace("_", "-")


class ProviderPlugin(Protocol):
    name: str
    section: str  # its settings' section in agent.toml

    def settings(self) -> tuple[Setting, ...]:
        """Every setting the plugin reads, with its default: the one place they are written."""
        ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def create(self, args: argparse.Namespace) -> DisplayProvider: ...

    def simulated(self, width: int, height: int) -> DisplayProvider:
        """A provider on simulated hardware of this size, nothing to open: for tests (``pi_edge.testing``)."""
        ...

    def check(self, args: argparse.Namespace) -> None:
        """Refuse impossible settings (``ProviderConfigError``) without opening anything: a reload
        checks what a restart would refuse."""
        ...


def load_plugin(name: str = "oled") -> ProviderPlugin:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise ConfigError(
            f"no display provider named {name!r} is installed (installed: {', '.join(sorted(found)) or 'none'}); "
            "reinstall pi-edge"
        )
    plugin: ProviderPlugin = found[name].load()  # the entry point names an object with the plugin's shape
    return plugin
