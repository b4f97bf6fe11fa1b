"""The ``oled`` entry in the ``pi_edge.providers`` group: flags in, provider out."""

from __future__ import annotations

import argparse

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.providers.oled.config import add_display_arguments, config_from_args


class OledPlugin:
    name = "oled"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_display_arguments(parser)

    def check(self, args: argparse.Namespace) -> None:
        config_from_args(args)  # DisplayConfig checks itself on construction

    def create(self, args: argparse.Namespace) -> DisplayProvider:
        from pi_edge.providers.oled.provider import (
            OledProvider,  # luma is imported only when a display is really wanted
        )

        return OledProvider(config_from_args(args))


plugin = OledPlugin()
