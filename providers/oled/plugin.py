"""The ``oled`` entry in the ``pi_edge.providers`` group: its settings and flags in, a provider out."""

from __future__ import annotations

import argparse
from pathlib import Path

from pi_edge.agent.display.plugins import Setting
from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.providers.oled.config import (
    DisplayConfig,
    add_display_arguments,
    config_from_args,
)

SECTION = "display"


def readable_fonts(paths: list[str]) -> list[str]:
    """Each font file can be opened (whether it is a usable font, ``DisplayConfig`` checks)."""
    for path in paths:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ValueError(f"must name a readable file, got '{path}' ({exc.strerror or exc})") from None
    return paths


class OledPlugin:
    name = "oled"
    section = SECTION

    def settings(self) -> tuple[Setting, ...]:
        """luma's names, and ``DisplayConfig``'s defaults: written once, there."""
        d = DisplayConfig
        dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        return (
            Setting(SECTION, "display", "str", None, "display", example=f'"{d.display}"',
                    note="or sh1106, ssd1309, ..., emulator (default: emulator without /dev/i2c-PORT)"),
            Setting(SECTION, "width", "int", d.width, "width", example=str(d.width)),
            Setting(SECTION, "height", "int", d.height, "height", example=str(d.height)),
            Setting(SECTION, "rotate", "int", d.rotate, "rotate", example=str(d.rotate),
                    note="quarter turns clockwise, 0..3"),
            Setting(SECTION, "i2c_port", "int", d.i2c_port, "i2c_port", example=str(d.i2c_port),
                    note="/dev/i2c-PORT"),
            Setting(SECTION, "i2c_address", "address", d.i2c_address, "i2c_address",
                    example=f'"0x{d.i2c_address:02X}"'),
            # None: look for system fonts; [] (in the file): the built-in font only.
            Setting(SECTION, "fonts", "list", d.fonts, "font", readable_fonts, flag="--font",
                    example=f'["{dejavu}"]', note="beyond ASCII; default: found here; [] none"),
        )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_display_arguments(parser)

    def check(self, args: argparse.Namespace) -> None:
        config_from_args(args)  # DisplayConfig checks itself on construction

    def create(self, args: argparse.Namespace) -> DisplayProvider:
        from pi_edge.providers.oled.provider import OledProvider  # luma is imported only when a display is wanted

        return OledProvider(config_from_args(args))

    def simulated(self, width: int, height: int) -> DisplayProvider:
        """An SSD1306 of this size on the fake bus (``testing.FakeSSD1306Bus``), which decodes what is sent into
        what the glass would show."""
        from pi_edge.providers.oled.provider import OledProvider
        from pi_edge.providers.oled.testing import FakeSSD1306Bus

        return OledProvider(DisplayConfig(display="ssd1306", width=width, height=height),
                            bus=FakeSSD1306Bus(width=width, height=height))


plugin = OledPlugin()
