"""Providers are found by name through the ``pi_edge.providers`` entry point group.

This is how the agent reaches a display without importing luma or smbus2: it
asks the plugin to add its flags and to build a ``DisplayProvider`` from them.
"""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points
from typing import Protocol

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ConfigError

GROUP = "pi_edge.providers"


class ProviderPlugin(Protocol):
    name: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def create(self, args: argparse.Namespace) -> DisplayProvider: ...

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
