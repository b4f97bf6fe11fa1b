"""What each monochrome OLED controller understands, for the fake bus in ``testing`` (not used on hardware).

One ``Controller`` per command set: RAM geometry, how many argument bytes
each opcode takes, and which opcodes are accepted but not rendered.  The
bus decodes against this table, so an opcode that is in no table is
refused with its hex value, like a model that does not guess.

Two kinds of "accepted but not rendered" exist, and they differ on the wire:

* ``no_ops`` are documented commands whose effect the model does not draw
  (scrolling, DC-DC, pump voltage...).  Their arguments are consumed.
* ``foreign`` are opcodes missing from that controller's datasheet that
  luma sends anyway (e.g. 0xDA 0x12 to an SH1107).  The chip ignores the
  opcode byte alone, so the "argument" that follows is decoded as whatever
  command it is; luma re-sets the pointers it disturbs before writing data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

# Commands with argument bytes common to the SSD1306 family (opcode -> count).
# Scroll setup commands are included so their arguments are never misread.
_SSD1306_ARGS = {
    0x20: 1,  # memory addressing mode
    0x21: 2,  # column address window
    0x22: 2,  # page address window
    0x26: 6, 0x27: 6,  # horizontal scroll setup
    0x29: 5, 0x2A: 5,  # vertical + horizontal scroll setup
    0x81: 1,  # contrast
    0x8D: 1,  # charge pump
    0xA3: 2,  # vertical scroll area
    0xA8: 1,  # multiplex ratio
    0xD3: 1,  # display offset
    0xD5: 1,  # clock divide / oscillator
    0xD9: 1,  # pre-charge period
    0xDA: 1,  # COM pins configuration
    0xDB: 1,  # VCOMH deselect level
}
_SSD1306_NO_OPS = frozenset({0x26, 0x27, 0x29, 0x2A, 0xA3})

_SH1106_ARGS = {0x81: 1, 0xA8: 1, 0xAD: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1}


@dataclass(frozen=True)
class Controller:
    """A command set and RAM geometry; the bus holds the state."""

    name: str
    ram_columns: int
    ram_rows: int
    args: Mapping[int, int]
    high_column_max: int  # last "set higher column nibble" opcode (0x10..this)
    column_offset: Callable[[int, int], int]  # (width, height) -> default offset
    windows: bool = False  # SSD130x: 0x20 mode + 0x21/0x22 windows
    scroll: bool = False  # has 0x2E/0x2F (scroll off/on)
    start_line_dc: bool = False  # start line is 0xDC + byte, not 0x40..0x7F
    portrait: bool = False  # RAM columns run along the COM lines (SH1107)
    reset_contrast: int = 0x80
    no_ops: frozenset[int] = field(default_factory=frozenset)
    foreign: frozenset[int] = field(default_factory=frozenset)

    @property
    def pages(self) -> int:
        return self.ram_rows // 8


# 64-pixel-wide glass (64x48, 64x32 modules) sits on RAM columns 32..95.
SSD1306 = Controller(
    "ssd1306", 128, 64, _SSD1306_ARGS, 0x17, lambda w, h: 32 if w == 64 else 0,
    windows=True, scroll=True, reset_contrast=0x7F, no_ops=_SSD1306_NO_OPS,
)

# 132 columns, no charge pump (luma still sends 0x8D 0x10: consumed, stored).
# luma shows 128x64 from column 0 and 128x32 from column 4.
SSD1305 = replace(
    SSD1306, name="ssd1305", ram_columns=132, high_column_max=0x18,
    column_offset=lambda w, h: 4 if h == 32 else 0, reset_contrast=0x80,
    args={**_SSD1306_ARGS, 0x82: 1, 0x91: 4, 0x92: 4, 0x93: 4, 0xAD: 1, 0xD8: 1},
    no_ops=_SSD1306_NO_OPS | {0x82, 0x91, 0x92, 0x93, 0xAD, 0xD8},
)

# No addressing modes, windows or charge pump; luma's init sends 0x20 and 0x8D
# anyway, so their "argument" bytes (0x10, 0x14) decode as column commands.
SH1106 = Controller(
    "sh1106", 132, 64, _SH1106_ARGS, 0x1F, lambda w, h: 2,
    no_ops=frozenset({0x30, 0x31, 0x32, 0x33, 0xAD, 0xE0, 0xEE}),
    foreign=frozenset({0x20, 0x8D}),
)

# 128x128 RAM in 16 pages; 0x20/0x21 are one-byte page/vertical mode commands,
# the start line is 0xDC + byte, and there is no 0x40..0x7F or 0xDA.
SH1107 = Controller(
    "sh1107", 128, 128, {0x81: 1, 0xA8: 1, 0xAD: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDB: 1, 0xDC: 1},
    0x17, lambda w, h: (128 - w) // 2, start_line_dc=True, portrait=True,
    no_ops=frozenset({0xAD, 0xE0, 0xEE}), foreign=frozenset({0xDA}),
)

# Command list from the CH1115 datasheet as summarised by driver authors:
# IREF (0x82), SEG pads (0xA2/0xA3), breathing light (0x23) and its own
# scroll commands.  luma's init also sends 0xDA 0x12, not a CH1115 command.
CH1115 = Controller(
    "ch1115", 132, 64,
    {0x23: 1, 0x24: 2, 0x26: 3, 0x27: 3, 0x81: 1, 0x82: 1, 0xA8: 1, 0xAD: 1,
     0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDB: 1},
    0x1F, lambda w, h: 2, scroll=True,
    no_ops=frozenset({0x23, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x30, 0x31, 0x32, 0x33,
                      0x82, 0xA2, 0xA3, 0xAD, 0xE0, 0xEE}),
    foreign=frozenset({0xDA}),
)

CONTROLLERS: dict[str, Controller] = {
    c.name: c for c in (
        SSD1306, SSD1305, SH1106, SH1107, CH1115,
        # Same command set and RAM as the SSD1306, as far as luma drives them.
        replace(SSD1306, name="ssd1309"), replace(SSD1306, name="ssd1315"),
        replace(SSD1306, name="ssd1316"),
    )
}
