"""A fake I2C bus with an SSD1306 panel on it.

It behaves like the panel, not like a call recorder (gpiozero's mock pins are
the model): command bytes are decoded into controller state, data bytes land
in GDDRAM following the addressing mode and windows, and ``image()`` answers
"what does a person looking at the glass see?".

Pass it where smbus2 would go::

    serial = luma.core.interface.serial.i2c(bus=FakeSSD1306Bus(), address=0x3C)

Orientation model: the glass is mounted like the common 0.96" modules, so
with segment remap on (0xA1) and COM scan reversed (0xC8) -- luma's defaults --
RAM column 0 is at the viewer's left and RAM row 0 at the top.  Clearing
either flag mirrors the image the way the real panel does.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from PIL import Image

HORIZONTAL, VERTICAL, PAGE = 0, 1, 2
RAM_ROWS = 64
SMBUS_BLOCK_MAX = 32

# Commands with argument bytes: opcode -> number of arguments.  Scroll setup
# commands are included so their arguments are never misread as commands.
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

# The SH1106 has no addressing modes, windows or charge-pump command, but
# luma's sh1106 init sends 0x20 and 0x8D anyway.  The model treats them as
# one-byte no-ops, so their "argument" bytes (0x10, 0x14) are decoded as the
# column-address commands they are; luma re-sets the column before each page.
_SH1106_ARGS = {
    0x81: 1, 0xA8: 1, 0xAD: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1,
}


class FakeSSD1306Bus:
    """An smbus2-compatible bus object holding one SSD1306 (or SH1106) panel."""

    def __init__(
        self,
        width: int = 128,
        height: int = 64,
        address: int = 0x3C,
        controller: str = "ssd1306",
        column_offset: int | None = None,
    ) -> None:
        if controller not in ("ssd1306", "sh1106"):
            raise ValueError(f"controller must be 'ssd1306' or 'sh1106', got {controller!r}")
        if height % 8 or not 0 < height <= RAM_ROWS:
            raise ValueError(f"height must be a multiple of 8 up to {RAM_ROWS}, got {height}")
        self.controller = controller
        self.ram_columns = 132 if controller == "sh1106" else 128
        # An SH1106 drives 132 segments but 128-pixel glass shows columns 2..129.
        default_offset = 2 if controller == "sh1106" else 0
        self.column_offset = default_offset if column_offset is None else column_offset
        if width <= 0 or self.column_offset + width > self.ram_columns:
            raise ValueError(f"width {width} at column offset {self.column_offset} exceeds RAM")
        self.width = width
        self.height = height
        self.address = address
        self._args = _SH1106_ARGS if controller == "sh1106" else _SSD1306_ARGS
        self.connected = True
        self.bytes_written = 0
        self.transactions = 0
        self.commands: list[tuple[int, ...]] = []
        self.reset()

    # -- panel state --------------------------------------------------------

    def reset(self) -> None:
        """Power-on reset values from the datasheet; GDDRAM content is random there, zero here."""
        self.gddram = [bytearray(self.ram_columns) for _ in range(RAM_ROWS // 8)]
        self.display_on = False
        self.contrast = 0x7F
        self.addressing_mode = PAGE
        self.column_window = (0, self.ram_columns - 1)
        self.page_window = (0, 7)
        self.column = 0
        self.page = 0
        self._page_column_start = 0
        self.start_line = 0
        self.segment_remap = False
        self.com_scan_reversed = False
        self.multiplex = 63
        self.display_offset = 0
        self.clock_div = 0x80
        self.precharge = 0x22
        self.com_pins = 0x12
        self.vcomh = 0x20
        self.charge_pump = False
        self.entire_display_on = False
        self.inverted = False
        self.scrolling = False
        self._pending: list[int] = []

    # -- smbus2 surface -------------------------------------------------------

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        """SMBus block write: ``register`` is the SSD1306 control byte."""
        if len(data) > SMBUS_BLOCK_MAX:
            # smbus2 refuses this too: an SMBus block carries at most 32 bytes.
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        self._transfer(i2c_addr, [register, *data])

    def i2c_rdwr(self, *messages: object) -> None:
        """Combined transfer of smbus2 ``i2c_msg`` objects (or anything with addr/flags and bytes)."""
        for msg in messages:
            if getattr(msg, "flags", 0) & 0x0001:  # I2C_M_RD
                raise AssertionError("the SSD1306 model does not support reads")
            self._transfer(getattr(msg, "addr"), list(bytes(msg)))

    def close(self) -> None:
        """Nothing to release; present because luma calls it on managed buses."""

    # -- test helpers -----------------------------------------------------------

    def disconnect(self) -> None:
        """Like pulling the cable: every transfer is NACKed until ``reconnect()``."""
        self.connected = False

    def reconnect(self) -> None:
        self.connected = True

    def image(self) -> Image.Image:
        """What a viewer sees: dark when off, honouring invert, remap, scan and start line."""
        img = Image.new("1", (self.width, self.height))
        if not self.display_on:
            return img
        px = img.load()
        for y in range(self.height):
            row = y if self.com_scan_reversed else self.height - 1 - y
            row = (row + self.start_line + self.display_offset) % RAM_ROWS
            page, bit = divmod(row, 8)
            ram = self.gddram[page]
            for x in range(self.width):
                col = self.column_offset + (x if self.segment_remap else self.width - 1 - x)
                on = self.entire_display_on or bool((ram[col] >> bit) & 1)
                px[x, y] = 255 if on != self.inverted else 0
        return img

    def pixels(self) -> list[list[int]]:
        """``image()`` as rows of 0/1, for readable assertions."""
        img = self.image()
        return [[1 if img.getpixel((x, y)) else 0 for x in range(self.width)] for y in range(self.height)]

    def ram_image(self) -> Image.Image:
        """Raw GDDRAM, RAM column 0 left and row 0 top, ignoring display state."""
        img = Image.new("1", (self.ram_columns, RAM_ROWS))
        px = img.load()
        for page, ram in enumerate(self.gddram):
            for col, byte in enumerate(ram):
                for bit in range(8):
                    if byte >> bit & 1:
                        px[col, page * 8 + bit] = 255
        return img

    # -- decoding ---------------------------------------------------------------

    def _transfer(self, addr: int, payload: list[int]) -> None:
        if addr != self.address or not self.connected:
            # A missing device does not ACK its address; Linux reports EREMOTEIO.
            raise OSError(errno.EREMOTEIO, f"Remote I/O error (no ACK from 0x{addr:02X})")
        self.transactions += 1
        self.bytes_written += len(payload)
        i = 0
        while i < len(payload):
            control = payload[i]
            if control & 0x3F:
                raise AssertionError(f"invalid SSD1306 control byte 0x{control:02X}")
            continuation, is_data = bool(control & 0x80), bool(control & 0x40)
            # Co=1: exactly one byte follows, then another control byte.
            body = payload[i + 1:i + 2] if continuation else payload[i + 1:]
            i += 1 + len(body)
            for byte in body:
                if is_data:
                    self._write_ram(byte)
                else:
                    self._command_byte(byte)

    def _command_byte(self, byte: int) -> None:
        if not 0 <= byte <= 0xFF:
            raise AssertionError(f"command byte out of range: {byte!r}")
        self._pending.append(byte)
        if len(self._pending) - 1 < self._args.get(self._pending[0], 0):
            return
        cmd, self._pending = tuple(self._pending), []
        self.commands.append(cmd)
        self._execute(cmd[0], cmd[1:])

    def _execute(self, op: int, args: tuple[int, ...]) -> None:
        sh1106 = self.controller == "sh1106"
        if op in (0xAE, 0xAF):
            self.display_on = op == 0xAF
        elif op == 0x81:
            self.contrast = args[0]
        elif op <= 0x0F:
            self._set_page_column((self.column & 0xF0) | op)
        elif op <= 0x1F:
            self._set_page_column((self.column & 0x0F) | ((op & 0x0F) << 4))
        elif 0x40 <= op <= 0x7F:
            self.start_line = op & 0x3F
        elif 0xB0 <= op <= 0xB7:
            if self.addressing_mode == PAGE:
                self.page = op & 0x07
        elif op in (0xA0, 0xA1):
            self.segment_remap = op == 0xA1
        elif op in (0xC0, 0xC8):
            self.com_scan_reversed = op == 0xC8
        elif op in (0xA4, 0xA5):
            self.entire_display_on = op == 0xA5
        elif op in (0xA6, 0xA7):
            self.inverted = op == 0xA7
        elif op == 0xA8:
            self.multiplex = args[0] & 0x3F
        elif op == 0xD3:
            self.display_offset = args[0] & 0x3F
        elif op == 0xD5:
            self.clock_div = args[0]
        elif op == 0xD9:
            self.precharge = args[0]
        elif op == 0xDA:
            self.com_pins = args[0]
        elif op == 0xDB:
            self.vcomh = args[0]
        elif op == 0xE3:
            pass  # NOP
        elif sh1106 and (op in (0x20, 0x8D, 0xAD, 0xE0, 0xEE) or 0x30 <= op <= 0x33):
            pass  # see _SH1106_ARGS: modes, pump voltage, DC-DC, read-modify-write
        elif op == 0x20:
            if args[0] & 0x03 == 0x03:
                raise AssertionError(f"invalid memory addressing mode 0x{args[0]:02X}")
            self.addressing_mode = args[0] & 0x03
        elif op == 0x21:
            self.column_window = self._window(args, self.ram_columns - 1, "column")
            self.column = self.column_window[0]
        elif op == 0x22:
            self.page_window = self._window(args, 7, "page")
            self.page = self.page_window[0]
        elif op == 0x8D:
            self.charge_pump = bool(args[0] & 0x04)
        elif op == 0x2E:
            self.scrolling = False
        elif op == 0x2F:
            self.scrolling = True
        elif op in (0x26, 0x27, 0x29, 0x2A, 0xA3):
            pass  # scroll geometry: stored nowhere, scrolling is not rendered
        else:
            raise AssertionError(f"unknown {self.controller.upper()} command 0x{op:02X}")

    @staticmethod
    def _window(args: tuple[int, ...], limit: int, what: str) -> tuple[int, int]:
        start, end = args
        if not start <= end <= limit:
            raise AssertionError(f"bad {what} window {start}..{end}")
        return start, end

    def _set_page_column(self, column: int) -> None:
        # Column nibble commands only steer the pointer in page addressing mode.
        if self.addressing_mode == PAGE:
            self.column = column
            self._page_column_start = column

    def _write_ram(self, byte: int) -> None:
        if not 0 <= byte <= 0xFF:
            raise AssertionError(f"data byte out of range: {byte!r}")
        if self.column < self.ram_columns:
            self.gddram[self.page][self.column] = byte
        c0, c1 = self.column_window
        p0, p1 = self.page_window
        if self.addressing_mode == PAGE:
            # The datasheet: at the end of the row the column pointer returns
            # to the start column and the page pointer stays.
            self.column += 1
            if self.column >= self.ram_columns:
                self.column = self._page_column_start
        elif self.addressing_mode == HORIZONTAL:
            self.column += 1
            if self.column > c1:
                self.column = c0
                self.page = p0 if self.page >= p1 else self.page + 1
        else:
            self.page += 1
            if self.page > p1:
                self.page = p0
                self.column = c0 if self.column >= c1 else self.column + 1

