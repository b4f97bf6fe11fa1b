"""Frames onto the glass: only the windows that changed, in the controller's own addressing.

luma.oled initialises the controller (its init sequences are the tested
knowledge here) and rotates frames; this writer replaces luma's ``display()``,
which packs pixels in a Python loop and resends the whole frame every time.
It keeps a copy of what panel memory holds, so an update costs only what
changed and a snapshot needs no read-back.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops

from pi_edge.providers.oled.packing import Pages, pack_pages, unpack_pages
from pi_edge.providers.oled.transport import I2CTransport
from pi_edge.providers.oled.windows import Window, plan_windows

SET_COLUMN_WINDOW = 0x21
SET_PAGE_WINDOW = 0x22
SET_PAGE = 0xB0
SET_COLUMN_LOW = 0x00
SET_COLUMN_HIGH = 0x10
NORMAL_DISPLAY = 0xA6
INVERT_DISPLAY = 0xA7

# Bytes one window costs besides its data: its address commands and the
# framing of two transactions (address + control byte each).
_RECTANGLE_OVERHEAD = 10  # 0x21 a b 0x22 c d
_PAGE_OVERHEAD = 7  # 0xB0|p, low nibble, high nibble


@dataclass(frozen=True)
class Addressing:
    """How a controller is told where data goes."""

    rectangles: bool  # column + page windows (SSD1306 horizontal mode); else page + column start
    column_offset: int  # RAM column of the glass's first column

    @property
    def overhead(self) -> int:
        return _RECTANGLE_OVERHEAD if self.rectangles else _PAGE_OVERHEAD


def addressing_for(device: object) -> Addressing:
    """Read the addressing off a luma device, using the offsets luma itself chose."""
    import luma.oled.device as drivers

    if isinstance(device, drivers.ssd1306):  # also ssd1305, ssd1309, ssd1315, ssd1316
        return Addressing(rectangles=True, column_offset=int(getattr(device, "_colstart", 0)))
    if isinstance(device, drivers.sh1106):
        return Addressing(rectangles=False, column_offset=int(getattr(device, "_page_address_offset", 2)))
    if isinstance(device, drivers.sh1107):
        return Addressing(rectangles=False, column_offset=0)
    if isinstance(device, drivers.ch1115):
        return Addressing(rectangles=False, column_offset=2)  # luma hard-codes this offset too
    raise TypeError(f"no frame writer for {type(device).__name__}")


class PanelWriter:
    """Writes physical frames (already rotated for the glass) to one panel."""

    def __init__(self, transport: I2CTransport, addressing: Addressing, width: int, height: int) -> None:
        self.transport = transport
        self.addressing = addressing
        self.width = width
        self.height = height
        self.pages = height // 8
        #: What panel memory holds, or None when unknown (a transfer failed half-way).
        self.ram: Pages | None = None
        self._frame: Image.Image | None = None  # the same, as the frame it came from

    def forget(self) -> None:
        """Panel memory is unknown now: the next frame goes out in full."""
        self.ram = self._frame = None

    def assume_blank(self) -> None:
        """The controller was just initialised and cleared."""
        self.ram = [bytes(self.width)] * self.pages
        self._frame = Image.new("1", (self.width, self.height))

    def changed_pages(self, frame: Image.Image) -> range:
        """Pages whose pixels differ from what the panel holds: one XOR and a bounding box, in C."""
        if self.ram is None or self._frame is None:
            return range(self.pages)
        box = ImageChops.logical_xor(self._frame, frame).getbbox()
        return range(0) if box is None else range(box[1] // 8, (box[3] - 1) // 8 + 1)

    def plan(self, frame: Image.Image) -> tuple[range, Pages, list[Window]]:
        """The changed band of pages, their new bytes, and the windows to send (band-relative)."""
        band = self.changed_pages(frame)
        if not band:
            return band, [], []
        rows = frame if len(band) == self.pages else frame.crop((0, band.start * 8, self.width, band.stop * 8))
        new = pack_pages(rows)
        old = None if self.ram is None else self.ram[band.start:band.stop]
        return band, new, plan_windows(old, new, self.addressing.overhead, self.addressing.rectangles)

    def write(self, frame: Image.Image) -> int:
        """Send what differs from panel memory; returns the bytes that crossed the bus."""
        band, new, windows = self.plan(frame)
        before = self.transport.bytes_sent
        try:
            for window in windows:
                self._send(window, new, band.start)
        except BaseException:
            self.forget()  # some windows may have landed: panel memory is unknown now
            raise
        if band:
            ram = self.ram if self.ram is not None else [b""] * self.pages
            self.ram = ram[:band.start] + new + ram[band.stop:]
            self._frame = frame.copy()
        return self.transport.bytes_sent - before

    def _send(self, w: Window, pages: Pages, first_page: int) -> None:
        """``w`` and ``pages`` are relative to ``first_page``."""
        t, first = self.transport, w.first_col + self.addressing.column_offset
        if self.addressing.rectangles:
            t.command(SET_COLUMN_WINDOW, first, first + w.columns - 1,
                      SET_PAGE_WINDOW, first_page + w.first_page, first_page + w.last_page)
            t.data(b"".join(pages[p][w.first_col:w.last_col + 1] for p in range(w.first_page, w.last_page + 1)))
            return
        for p in range(w.first_page, w.last_page + 1):
            t.command(SET_PAGE | (first_page + p), SET_COLUMN_LOW | (first & 0x0F), SET_COLUMN_HIGH | (first >> 4))
            t.data(pages[p][w.first_col:w.last_col + 1])

    def image(self) -> Image.Image | None:
        """The physical frame panel memory holds, if known."""
        return None if self.ram is None else unpack_pages(self.ram, self.width)
