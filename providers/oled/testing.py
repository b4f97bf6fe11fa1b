"""A fake I2C bus with one monochrome OLED controller on it, for your own tests.

Pass it where smbus2's bus would go and ask what the glass shows::

    from pi_edge.providers.oled import DisplayConfig, FakeSSD1306Bus, OledProvider

    bus = FakeSSD1306Bus()  # a 128x64 SSD1306 at 0x3C: DisplayConfig's defaults
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=bus)
    provider.show_text("Hello")
    bus.image()  # a 1-bit PIL image of what a person looking at the panel sees
    provider.close()

It behaves like the panel, not like a call recorder (gpiozero's mock pins are
the model): command bytes are decoded into controller state, data bytes land
in GDDRAM following the addressing mode and windows, and ``image()`` answers
"what does a person looking at the glass see?".  ``pixels()`` gives the same
as rows of 0/1; ``disconnect()``, ``reconnect()`` and ``fail_next()`` make
the faults a real bus has; ``bytes_written`` and ``bus_seconds()`` say what
the traffic cost.  The command sets (SSD1306 and its siblings, SSD1305,
SH1106, SH1107, CH1115) are in ``fake_controllers``: pick one with
``controller=`` and the panel's ``width`` and ``height``.

It is also what luma's own I2C interface takes::

    serial = luma.core.interface.serial.i2c(bus=FakeSSD1306Bus(), address=0x3C)

luma then sends commands as one ``write_i2c_block_data(addr, 0x00, cmds)``
and data in 32-byte ``write_i2c_block_data(addr, 0x40, block)`` calls: it
only uses ``i2c_rdwr`` on buses it opened itself.

Orientation model, SSD1306 family, SH1106, CH1115: the glass is mounted like
the common 0.96"/1.3" modules, so with segment remap on (0xA1) and COM scan
reversed (0xC8) -- luma's defaults -- RAM column ``column_offset`` is at the
viewer's left and RAM row 0 at the top.  Clearing the COM scan flag flips
rows top to bottom; clearing segment remap mirrors about the chip's full row
of segments, as the chip does, so a glass not centred in RAM (SSD1305 at
column 4) then sees other columns.  Multiplex and COM pin configuration are
stored, not rendered: the glass is as tall as the multiplex luma sets.

Orientation model, SH1107: its RAM columns run along the COM lines and the
bits of a page along the segments, so it is modelled in luma's frame
orientation (``width`` across = COM lines, ``height`` down = segments).
With luma's settings (segment remap and COM scan left at reset, 0xA0/0xC0)
RAM column 0 is at the left and RAM row 0 (page 0, bit 0) at the top.  The
glass's ``width`` lines are wired to the middle COM lines (from
``column_offset``, default ``(128 - width) // 2``).  COM line ``c``, counted
from the far end when the scan is reversed, shows RAM column
``(c + display_offset + start_line) % 128`` and is dark when
``(c + display_offset) % 128`` exceeds the multiplex ratio.  That is why
luma's display offsets 0x60 (64 wide) and 0x68 (80 wide) put RAM column 0
at the left edge.

Wire accounting: ``bytes_written`` counts what follows the address byte
(the control byte and the command or data bytes) of every ACKed message;
``wire_bits`` counts the clocks a master spends: per message 1 bit-time for
START (or repeated START) and 9 per byte including the address (8 data + ACK),
plus 1 bit-time for the STOP that ends each call.  A failed call costs
START + address + STOP (the address is NACKed or the transfer dies there).
"""

from __future__ import annotations

import errno
import os
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from pi_edge.providers.oled.config import DisplayConfig
from pi_edge.providers.oled.fake_controllers import CONTROLLERS, Controller

if TYPE_CHECKING:
    from smbus2 import i2c_msg

    from pi_edge.providers.oled.bus import CombinedWriteBus

HORIZONTAL, VERTICAL, PAGE = 0, 1, 2
RAM_ROWS = 64  # the SSD1306's; each controller has its own, see ``FakeSSD1306Bus.ram_rows``
SMBUS_BLOCK_MAX = 32
START_BITS = STOP_BITS = 1  # bit-times for a START/repeated START and a STOP
BYTE_BITS = 9  # 8 data clocks and the ACK clock
COMMAND_LOG = 4096  # decoded commands kept in ``commands``


class FakeSSD1306Bus:
    """An smbus2-compatible bus object holding one monochrome OLED panel.

    By default the panel ``DisplayConfig()`` describes: the two meet without arguments.
    """

    def __init__(
        self,
        width: int = DisplayConfig.width,
        height: int = DisplayConfig.height,
        address: int = DisplayConfig.i2c_address,
        controller: str = DisplayConfig.display,
        column_offset: int | None = None,
    ) -> None:
        if controller not in CONTROLLERS:
            raise ValueError(f"controller must be one of {', '.join(sorted(CONTROLLERS))}; got {controller!r}")
        self.spec: Controller = CONTROLLERS[controller]
        self.controller = controller
        self.ram_columns = self.spec.ram_columns
        self.ram_rows = self.spec.ram_rows
        if height % 8 or not 0 < height <= self.ram_rows:
            raise ValueError(f"height must be a multiple of 8 up to {self.ram_rows}, got {height}")
        default_offset = self.spec.column_offset(width, height)
        self.column_offset = default_offset if column_offset is None else column_offset
        if width <= 0 or self.column_offset < 0 or self.column_offset + width > self.ram_columns:
            raise ValueError(f"width {width} at column offset {self.column_offset} exceeds RAM")
        self.width = width
        self.height = height
        self.address = address
        self.connected = True
        # The most recent commands, decoded; bounded so a long benchmark does not grow without end.
        self.commands: deque[tuple[int, ...]] = deque(maxlen=COMMAND_LOG)
        self._fail_budget = 0
        self._fail_errno = errno.EREMOTEIO
        self.reset_counters()
        self.reset()

    # -- panel state --------------------------------------------------------

    def reset(self) -> None:
        """Power-on reset values from the datasheet; GDDRAM content is random there, zero here."""
        self.gddram = [bytearray(self.ram_columns) for _ in range(self.spec.pages)]
        self.display_on = False
        self.contrast = self.spec.reset_contrast
        self.addressing_mode = PAGE
        self.column_window = (0, self.ram_columns - 1)
        self.page_window = (0, self.spec.pages - 1)
        self.column = 0
        self.page = 0
        self._page_column_start = 0
        self.start_line = 0
        self.segment_remap = False
        self.com_scan_reversed = False
        self.multiplex = self.ram_rows - 1
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

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int],
                             force: bool | None = None) -> None:
        """SMBus I2C-block write: ``register`` is the control byte, then up to 32 bytes."""
        if len(data) > SMBUS_BLOCK_MAX:
            # smbus2 refuses this before touching the bus: no transfer happens.
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        self._call([(i2c_addr, [register, *data])])

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        """Control byte + one byte: how some drivers send a single command."""
        self._call([(i2c_addr, [register, value])])

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        """A lone byte is a control byte with nothing after it; it changes nothing."""
        self._call([(i2c_addr, [value])])

    def i2c_rdwr(self, *messages: i2c_msg) -> None:
        """Combined transfer of smbus2 ``i2c_msg`` writes: repeated STARTs, one STOP."""
        for msg in messages:
            if getattr(msg, "flags", 0) & 0x0001:  # I2C_M_RD
                raise AssertionError(f"the {self.controller.upper()} model does not support reads")
        self._call([(msg.addr, list(bytes(msg))) for msg in messages])

    def close(self) -> None:
        """Nothing to release; present because luma calls it on managed buses."""

    # -- faults -------------------------------------------------------------------

    def fail_next(self, n: int, err: int = errno.EREMOTEIO) -> None:
        """The next ``n`` calls raise ``OSError(err)`` and leave the panel untouched: a glitch."""
        if n < 0 or err <= 0:
            raise ValueError(f"fail_next needs n >= 0 and a positive errno, got n={n}, err={err}")
        self._fail_budget, self._fail_errno = n, err

    def disconnect(self) -> None:
        """Like pulling the cable: every transfer is NACKed (EREMOTEIO) until ``reconnect()``."""
        self.connected = False

    def reconnect(self, power_cycled: bool = True) -> None:
        """Plug back in; a power-cycled controller is at reset (off, RAM cleared) and needs init."""
        self.connected = True
        if power_cycled:
            self.reset()

    # -- counters -------------------------------------------------------------------

    def reset_counters(self) -> None:
        """Zero the traffic counters (not the panel, not ``commands``) to measure one operation."""
        self.bytes_written = 0
        self.transactions = 0
        self.failed_transfers = 0
        self.wire_bits = 0

    def bus_seconds(self, hz: int) -> float:
        """Time the counted traffic holds a bus clocked at ``hz`` (no clock stretching, no gaps)."""
        if hz <= 0:
            raise ValueError(f"bus clock must be positive, got {hz}")
        return self.wire_bits / hz

    # -- what the glass shows ---------------------------------------------------------

    def image(self) -> Image.Image:
        """What a viewer sees: dark when off, honouring invert, remap, scan, offsets and start line."""
        img = Image.new("1", (self.width, self.height))
        if not self.display_on:
            return img
        px = img.load()
        assert px is not None  # a new image always has pixels to load
        portrait = self.spec.portrait
        com_len, seg_len = (self.width, self.height) if portrait else (self.height, self.width)
        lines = [self._ram_line(g) for g in range(com_len)]
        segments = [self._ram_segment(s) for s in range(seg_len)]
        for y in range(self.height):
            for x in range(self.width):
                line, seg = (lines[x], segments[y]) if portrait else (lines[y], segments[x])
                if line is None:
                    continue  # this COM line is not scanned: dark whatever the RAM says
                row, col = (seg, line) if portrait else (line, seg)
                on = self.entire_display_on or bool(self.gddram[row // 8][col] >> (row % 8) & 1)
                px[x, y] = 255 if on != self.inverted else 0
        return img

    def pixels(self) -> list[list[int]]:
        """``image()`` as rows of 0/1, for readable assertions."""
        img = self.image()
        return [[1 if img.getpixel((x, y)) else 0 for x in range(self.width)] for y in range(self.height)]

    def ram_image(self) -> Image.Image:
        """Raw GDDRAM, RAM column 0 left and row 0 top, ignoring display state."""
        img = Image.new("1", (self.ram_columns, self.ram_rows))
        px = img.load()
        assert px is not None  # a new image always has pixels to load
        for page, ram in enumerate(self.gddram):
            for col, byte in enumerate(ram):
                for bit in range(8):
                    if byte >> bit & 1:
                        px[col, page * 8 + bit] = 255
        return img

    def _ram_line(self, g: int) -> int | None:
        """The RAM line along the COM direction shown on glass line ``g``; None if not scanned."""
        if not self.spec.portrait:
            line = g if self.com_scan_reversed else self.height - 1 - g
            return (line + self.start_line + self.display_offset) % self.ram_rows
        coms = self.ram_columns
        com = self.column_offset + g
        if self.com_scan_reversed:
            com = coms - 1 - com
        scanned = (com + self.display_offset) % coms
        if scanned > self.multiplex:
            return None
        return (scanned + self.start_line) % coms

    def _ram_segment(self, s: int) -> int:
        """The RAM index along the segment direction shown at glass position ``s``."""
        if self.spec.portrait:
            return self.ram_rows - 1 - s if self.segment_remap else s
        if self.segment_remap:
            return self.column_offset + s
        return self.ram_columns - 1 - self.column_offset - s

    # -- the wire ---------------------------------------------------------------------

    def _call(self, messages: list[tuple[int, list[int]]]) -> None:
        """One bus call: each message is (repeated) START + address + bytes; one STOP ends it."""
        if self._fail_budget:
            self._fail_budget -= 1
            self._fail(self._fail_errno, os.strerror(self._fail_errno))
        for addr, payload in messages:
            if addr != self.address or not self.connected:
                # A missing device does not ACK its address; Linux reports EREMOTEIO.
                self._fail(errno.EREMOTEIO, f"Remote I/O error (no ACK from 0x{addr:02X})")
            self.transactions += 1
            self.bytes_written += len(payload)
            self.wire_bits += START_BITS + BYTE_BITS * (1 + len(payload))
            self._decode(payload)
        self.wire_bits += STOP_BITS

    def _fail(self, err: int, message: str) -> None:
        self.failed_transfers += 1
        self.wire_bits += START_BITS + BYTE_BITS + STOP_BITS
        raise OSError(err, message)

    # -- decoding ---------------------------------------------------------------

    def _decode(self, payload: list[int]) -> None:
        i = 0
        while i < len(payload):
            control = payload[i]
            if control & 0x3F:
                raise AssertionError(f"invalid {self.controller.upper()} control byte 0x{control:02X}")
            continuation, is_data = bool(control & 0x80), bool(control & 0x40)
            # Co=1: exactly one byte follows, then another control byte.
            body = payload[i + 1:i + 2] if continuation else payload[i + 1:]
            i += 1 + len(body)
            if is_data:
                self._write_data(body)
            else:
                for byte in body:
                    self._command_byte(byte)

    def _command_byte(self, byte: int) -> None:
        if not 0 <= byte <= 0xFF:
            raise AssertionError(f"command byte out of range: {byte!r}")
        self._pending.append(byte)
        if len(self._pending) - 1 < self.spec.args.get(self._pending[0], 0):
            return
        cmd, self._pending = tuple(self._pending), []
        self.commands.append(cmd)
        self._execute(cmd[0], cmd[1:])

    def _execute(self, op: int, args: tuple[int, ...]) -> None:
        spec = self.spec
        if op in spec.no_ops or op in spec.foreign:
            pass  # see fake_controllers: accepted, not rendered
        elif op in (0xAE, 0xAF):
            self.display_on = op == 0xAF
        elif op == 0x81:
            self.contrast = args[0]
        elif op <= 0x0F:
            self._set_page_column((self.column & 0xF0) | op)
        elif op <= spec.high_column_max:
            self._set_page_column((self.column & 0x0F) | ((op & 0x0F) << 4))
        elif 0x40 <= op <= 0x7F and not spec.start_line_dc:
            self.start_line = op & 0x3F
        elif op == 0xDC and spec.start_line_dc:
            self.start_line = args[0] & (self.ram_rows - 1)
        elif 0xB0 <= op < 0xB0 + spec.pages:
            if self.addressing_mode == PAGE or not spec.windows:
                self.page = op & 0x0F
        elif op in (0xA0, 0xA1):
            self.segment_remap = op == 0xA1
        elif op in (0xC0, 0xC8):
            self.com_scan_reversed = op == 0xC8
        elif op in (0xA4, 0xA5):
            self.entire_display_on = op == 0xA5
        elif op in (0xA6, 0xA7):
            self.inverted = op == 0xA7
        elif op == 0xA8:
            self.multiplex = args[0] & (self.ram_rows - 1)
        elif op == 0xD3:
            self.display_offset = args[0] & (self.ram_rows - 1)
        elif op == 0xD5:
            self.clock_div = args[0]
        elif op == 0xD9:
            self.precharge = args[0]
        elif op == 0xDA and op in spec.args:
            self.com_pins = args[0]
        elif op == 0xDB:
            self.vcomh = args[0]
        elif op == 0xE3:
            pass  # NOP
        elif op in (0x2E, 0x2F) and spec.scroll:
            self.scrolling = op == 0x2F
        elif spec.windows and op in (0x20, 0x21, 0x22, 0x8D):
            self._execute_ssd130x(op, args)
        elif spec.portrait and op in (0x20, 0x21):
            # SH1107: one-byte mode commands; "vertical" walks pages, then columns.
            self.addressing_mode = PAGE if op == 0x20 else VERTICAL
        else:
            raise AssertionError(f"unknown {self.controller.upper()} command 0x{op:02X}")

    def _execute_ssd130x(self, op: int, args: tuple[int, ...]) -> None:
        """Addressing modes, windows and the charge pump: SSD1306-family only."""
        if op == 0x20:
            if args[0] & 0x03 == 0x03:
                raise AssertionError(f"invalid memory addressing mode 0x{args[0]:02X}")
            self.addressing_mode = args[0] & 0x03
        elif op == 0x21:
            self.column_window = self._window(args, self.ram_columns - 1, "column")
            self.column = self.column_window[0]
        elif op == 0x22:
            self.page_window = self._window(args, self.spec.pages - 1, "page")
            self.page = self.page_window[0]
        else:
            self.charge_pump = bool(args[0] & 0x04)

    @staticmethod
    def _window(args: tuple[int, ...], limit: int, what: str) -> tuple[int, int]:
        start, end = args
        if not start <= end <= limit:
            raise AssertionError(f"bad {what} window {start}..{end}")
        return start, end

    def _set_page_column(self, column: int) -> None:
        # On the SSD130x column nibbles only steer the pointer in page addressing mode.
        if self.addressing_mode == PAGE or not self.spec.windows:
            self.column = column
            self._page_column_start = column

    def _write_data(self, body: list[int]) -> None:
        """A run of data bytes, laid into RAM a row segment at a time where the pointer walks along a row.

        Same pixels and pointer as ``_write_ram`` byte by byte (tests hold the two
        equal); a frame is hundreds of data bytes, so this keeps the fake off
        the benchmarks' hot path.
        """
        try:
            data = bytes(body)
        except (ValueError, TypeError):
            bad = next(b for b in body if not (isinstance(b, int) and 0 <= b <= 0xFF))
            raise AssertionError(f"data byte out of range: {bad!r}") from None
        i = 0
        while i < len(data):
            mode = self.addressing_mode
            if mode == PAGE and self.column < self.ram_columns:
                end = self.ram_columns  # the pointer returns to the start column here
            elif mode == HORIZONTAL and self.column_window[0] <= self.column <= self.column_window[1]:
                end = self.column_window[1] + 1  # then on to the next page of the window
            else:  # vertical mode walks down a column, or the pointer is outside its row: byte by byte
                self._write_ram(data[i])
                i += 1
                continue
            n = min(len(data) - i, end - self.column)
            self.gddram[self.page][self.column:self.column + n] = data[i:i + n]
            i += n
            self.column += n
            if self.column >= end:
                self._wrap_row()

    def _wrap_row(self) -> None:
        """The pointer has just left the last column of its row (page or window)."""
        if self.addressing_mode == PAGE:
            self.column = self._page_column_start
        else:
            p0, p1 = self.page_window
            self.column = self.column_window[0]
            self.page = p0 if self.page >= p1 else self.page + 1

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
                self._wrap_row()
        elif self.addressing_mode == HORIZONTAL:
            self.column += 1
            if self.column > c1:
                self._wrap_row()
        else:
            self.page += 1
            if self.page > p1:
                self.page = p0
                self.column = c0 if self.column >= c1 else self.column + 1


if TYPE_CHECKING:  # mypy holds the fake to the bus protocols the provider is typed with
    _fits_the_provider: CombinedWriteBus = FakeSSD1306Bus()
