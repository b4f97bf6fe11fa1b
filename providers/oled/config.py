"""Display settings, named like luma.core.cmdline's flags so luma users know them.

This module does not import luma: the agent's CLI can add the flags and
validate them without pulling in the hardware stack.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from pi_edge.providers.oled.errors import OledConfigError, UnknownDriverError

EMULATOR = "emulator"

#: luma.oled's monochrome ("1" mode) drivers that speak I2C.  Colour and
#: greyscale drivers are SPI-only in practice and need another frame path.
MONOCHROME_I2C_DRIVERS: tuple[str, ...] = (
    "ssd1306",
    "ssd1305",
    "ssd1309",
    "ssd1315",
    "ssd1316",
    "sh1106",
    "sh1107",
    "ch1115",
)
ALLOWED_DISPLAYS: tuple[str, ...] = (*MONOCHROME_I2C_DRIVERS, EMULATOR)

_SSD1306_SIZES = ((128, 64), (128, 32), (96, 16), (64, 48), (64, 32))
#: Panel sizes (width, height) each driver's luma class accepts; a test keeps this in step with luma.
PANEL_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "ssd1306": _SSD1306_SIZES,
    "ssd1309": _SSD1306_SIZES,
    "ssd1315": _SSD1306_SIZES,
    "ssd1316": _SSD1306_SIZES,
    "ssd1305": ((128, 64), (128, 32)),
    "sh1106": ((128, 128), (128, 64), (128, 32)),
    "sh1107": ((64, 128), (80, 128), (128, 128)),
    "ch1115": ((128, 64),),
}
EMULATOR_MAX_SIDE = 512

I2C_ADDRESS_MIN = 0x03
I2C_ADDRESS_MAX = 0x77


def i2c_device_path(port: int) -> str:
    """The Linux device node of I2C bus ``port``; named once so messages agree."""
    return f"/dev/i2c-{port}"


@dataclass(frozen=True)
class DisplayConfig:
    """What panel to drive and how; validated on construction.

    Its defaults are the display's defaults everywhere (flags, ``config_from_args``, the fake bus).
    """

    display: str = "ssd1306"
    width: int = 128
    height: int = 64
    rotate: int = 0
    i2c_port: int = 1
    i2c_address: int = 0x3C
    png_path: str | None = None
    #: Fallback fonts for characters Pillow's built-in font lacks, tried in order;
    #: None looks for common system fonts (``fonts.SYSTEM_FALLBACKS``).
    fonts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.display not in ALLOWED_DISPLAYS:
            raise UnknownDriverError(self.display, ALLOWED_DISPLAYS)
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise OledConfigError(f"display {name} must be a positive number of pixels, got {value!r}",
                                  keys=(name,))
        self._check_size()
        if self.rotate not in (0, 1, 2, 3):
            raise OledConfigError(
                f"rotate must be 0, 1, 2 or 3 (quarter turns clockwise), got {self.rotate!r}", keys=("rotate",)
            )
        if not isinstance(self.i2c_port, int) or self.i2c_port < 0:
            raise OledConfigError(f"i2c port must be a bus number like 1, got {self.i2c_port!r}", keys=("i2c_port",))
        if not isinstance(self.i2c_address, int) or not (
            I2C_ADDRESS_MIN <= self.i2c_address <= I2C_ADDRESS_MAX
        ):
            raise OledConfigError(
                f"i2c address {self.i2c_address!r} is outside 0x{I2C_ADDRESS_MIN:02X}..0x{I2C_ADDRESS_MAX:02X}; "
                "most SSD1306 boards use 0x3C or 0x3D", keys=("i2c_address",)
            )
        if self.fonts is not None:
            from pi_edge.providers.oled.fonts import check_font  # Pillow: not needed until a font is configured

            for path in self.fonts:
                check_font(path)

    def _check_size(self) -> None:
        size = (self.width, self.height)
        if self.is_emulator:
            if max(size) > EMULATOR_MAX_SIDE or self.height % 8:
                raise OledConfigError(
                    f"an emulated panel of {self.width}x{self.height} is not possible: sides up to "
                    f"{EMULATOR_MAX_SIDE} pixels, height a multiple of 8", keys=("width", "height")
                )
            return
        sizes = PANEL_SIZES[self.display]
        if size not in sizes:
            raise OledConfigError(
                f"{self.display} does not drive a {self.width}x{self.height} panel; its sizes are "
                f"{', '.join(f'{w}x{h}' for w, h in sizes)} (set --width and --height)",
                keys=("display", "width", "height"),
            )

    @property
    def is_emulator(self) -> bool:
        return self.display == EMULATOR

    @property
    def bus_path(self) -> str:
        return i2c_device_path(self.i2c_port)


def default_display(i2c_port: int = DisplayConfig.i2c_port) -> str:
    """The default driver when the I2C bus exists, else ``emulator`` (a laptop, a CI box)."""
    return DisplayConfig.display if os.path.exists(i2c_device_path(i2c_port)) else EMULATOR


def parse_i2c_address(text: str) -> int:
    """Accept ``0x3C`` or ``60`` (luma passes the string through ``int(s, 0)`` too)."""
    try:
        value = int(str(text), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"i2c address {text!r} is not a number; write it like 0x3C or 60"
        ) from None
    if not I2C_ADDRESS_MIN <= value <= I2C_ADDRESS_MAX:
        raise argparse.ArgumentTypeError(
            f"i2c address {text!r} is outside 0x{I2C_ADDRESS_MIN:02X}..0x{I2C_ADDRESS_MAX:02X}"
        )
    return value


def _display_name(text: str) -> str:
    if text not in ALLOWED_DISPLAYS:
        raise argparse.ArgumentTypeError(
            f"unknown display {text!r}; use one of: {', '.join(ALLOWED_DISPLAYS)}"
        )
    return text


def add_display_arguments(parser: argparse.ArgumentParser) -> None:
    """Add luma.core.cmdline's display flags (the I2C subset) to ``parser``."""
    group = parser.add_argument_group("display")
    group.add_argument(
        "--display",
        type=_display_name,
        default=None,
        metavar="DISPLAY",
        help=f"driver name, or 'emulator' (default: {DisplayConfig.display} if /dev/i2c-PORT exists, "
        f"else emulator); one of: {', '.join(ALLOWED_DISPLAYS)}",
    )
    # The defaults are written out: the agent sets these flags' defaults to None (its config file fills them).
    d = DisplayConfig
    group.add_argument("--width", type=int, default=d.width, help=f"panel width in pixels (default {d.width})")
    group.add_argument("--height", type=int, default=d.height, help=f"panel height in pixels (default {d.height})")
    group.add_argument(
        "--rotate", type=int, default=d.rotate, choices=(0, 1, 2, 3),
        help=f"quarter turns clockwise: 0, 1, 2 or 3 (default {d.rotate})",
    )
    group.add_argument("--i2c-port", type=int, default=d.i2c_port,
                       help=f"I2C bus number: /dev/i2c-PORT (default {d.i2c_port})")
    group.add_argument(
        "--i2c-address", type=parse_i2c_address, default=d.i2c_address,
        help=f"I2C display address, e.g. 0x3D (default 0x{d.i2c_address:02X})",
    )
    group.add_argument(
        "--font", action="append", default=None, metavar="PATH",
        help="a TrueType/OpenType font for characters the built-in font lacks (it has printable ASCII and a "
        "few signs); repeat to try several in order (default: DejaVu Sans or another common system font, "
        "if installed)",
    )


def config_from_args(ns: argparse.Namespace) -> DisplayConfig:
    """Build a ``DisplayConfig`` from parsed flags; a flag the parser lacks takes ``DisplayConfig``'s default."""
    d = DisplayConfig
    port = getattr(ns, "i2c_port", d.i2c_port)
    display = getattr(ns, "display", None) or default_display(port)
    address = getattr(ns, "i2c_address", d.i2c_address)
    if isinstance(address, str):
        address = int(address, 0)
    return DisplayConfig(
        display=display,
        width=getattr(ns, "width", d.width),
        height=getattr(ns, "height", d.height),
        rotate=getattr(ns, "rotate", d.rotate),
        i2c_port=port,
        i2c_address=address,
        png_path=getattr(ns, "png_path", None),
        fonts=None if (fonts := getattr(ns, "font", None)) is None else tuple(str(p) for p in fonts),
    )
