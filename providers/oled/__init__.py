"""The OLED display provider: luma.oled over I2C, or an in-memory emulator.

Public API, re-exported from one-concept modules (``config``, ``layout``,
``glyphs``, ``bus``, ``device``, ``provider``, ``terminal``, ``errors``, and
``testing``: the fake bus for tests).  ``OledProvider`` and ``FakeSSD1306Bus``
are loaded on first use, so reading flags and config never imports luma.
"""

from typing import TYPE_CHECKING

from pi_edge.providers.oled.bitmap import pack_bitmap, unpack_bitmap
from pi_edge.providers.oled.bus import I2CBus
from pi_edge.providers.oled.config import (
    ALLOWED_DISPLAYS,
    EMULATOR,
    MONOCHROME_I2C_DRIVERS,
    DisplayConfig,
    add_display_arguments,
    config_from_args,
    default_display,
)
from pi_edge.providers.oled.errors import (
    BitmapSizeError,
    BusUnavailableError,
    ClosedError,
    DisplayIOError,
    DisplayModeError,
    DisplayUnavailableError,
    OledConfigError,
    OledError,
    UnknownDriverError,
    ValueRangeError,
)
from pi_edge.providers.oled.glyphs import GlyphCache
from pi_edge.providers.oled.layout import layout_text
from pi_edge.providers.oled.terminal import to_halfblocks

if TYPE_CHECKING:
    from pi_edge.providers.oled.provider import OledProvider
    from pi_edge.providers.oled.testing import FakeSSD1306Bus

__all__ = [
    "ALLOWED_DISPLAYS",
    "EMULATOR",
    "MONOCHROME_I2C_DRIVERS",
    "BitmapSizeError",
    "BusUnavailableError",
    "ClosedError",
    "DisplayConfig",
    "DisplayIOError",
    "DisplayModeError",
    "DisplayUnavailableError",
    "FakeSSD1306Bus",
    "GlyphCache",
    "I2CBus",
    "OledConfigError",
    "OledError",
    "OledProvider",
    "UnknownDriverError",
    "ValueRangeError",
    "add_display_arguments",
    "config_from_args",
    "default_display",
    "layout_text",
    "pack_bitmap",
    "to_halfblocks",
    "unpack_bitmap",
]


def __getattr__(name: str) -> object:
    if name == "OledProvider":
        from pi_edge.providers.oled.provider import OledProvider

        return OledProvider
    if name == "FakeSSD1306Bus":
        from pi_edge.providers.oled.testing import FakeSSD1306Bus

        return FakeSSD1306Bus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
