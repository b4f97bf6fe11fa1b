"""``OledProvider``: the ``DisplayProvider`` an actor's ``display`` import is bound to.

One lock serialises device access because actors call from worker threads
and a frame is many bus transfers that must not interleave.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from agent.provider import DisplayInfo, TextLayout, TextOptions

from .bitmap import unpack_bitmap
from .config import DisplayConfig
from .device import bus_errors, bus_label, open_device
from .errors import BitmapSizeError, ClosedError, ValueRangeError
from .layout import layout_text
from .terminal import to_halfblocks

log = logging.getLogger(__name__)

MAX_PNG_SCALE = 16


class OledProvider:
    """Drives one monochrome OLED (or the in-memory emulator) through luma."""

    def __init__(self, config: DisplayConfig, bus: object | None = None) -> None:
        self.config = config
        self._bus = bus
        self._lock = threading.RLock()
        self._closed = False
        self._device = open_device(config, bus)
        # luma swaps width and height for rotate 1 and 3: callers draw in
        # the logical orientation and luma turns the frame for the glass.
        self.width: int = self._device.width
        self.height: int = self._device.height
        self.frame: Image.Image = Image.new("1", (self.width, self.height))
        self.powered = True
        self.contrast: int | None = None
        where = "in memory" if config.is_emulator else (
            f"on {bus_label(config, bus)} addr 0x{config.i2c_address:02X}"
        )
        log.info(
            "oled: opened %s %dx%d %s rotate %d",
            config.display, self.width, self.height, where, config.rotate,
        )

    # -- DisplayProvider -------------------------------------------------

    def info(self) -> DisplayInfo:
        return DisplayInfo(width=self.width, height=self.height, driver=self.config.display)

    def clear(self) -> None:
        self._send(Image.new("1", (self.width, self.height)))

    def show_text(self, text: str, options: TextOptions | None = None) -> TextLayout:
        image, layout = layout_text(text, self.width, self.height, options or TextOptions())
        self._send(image)
        return layout

    def show_bitmap(self, width: int, height: int, bits: bytes) -> None:
        if (width, height) != (self.width, self.height):
            raise BitmapSizeError(
                f"bitmap is {width}x{height} but the panel is {self.width}x{self.height}; "
                f"send a {self.width}x{self.height} bitmap"
            )
        self._send(unpack_bitmap(width, height, bits))

    def set_contrast(self, level: int) -> None:
        if not isinstance(level, int) or not 0 <= level <= 255:
            raise ValueRangeError(f"contrast level {level!r} is outside 0..255")
        with self._device_access():
            self._device.contrast(level)
            self.contrast = level
        log.debug("oled: contrast %d", level)

    def set_power(self, on: bool) -> None:
        with self._device_access():
            if on:
                self._device.show()
            else:
                self._device.hide()
            self.powered = bool(on)
        log.debug("oled: power %s", "on" if on else "off")

    def close(self) -> None:
        """Release the bus; the panel keeps showing its last frame (persist)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with bus_errors(self.config, self._bus):
                self._device.cleanup()
        log.info("oled: closed %s", self.config.display)

    # -- what the panel shows ------------------------------------------------

    def snapshot(self) -> Image.Image:
        """What a viewer sees, in logical orientation: the frame, or dark when off."""
        with self._lock:
            if not self.powered:
                return Image.new("1", (self.width, self.height))
            return self.frame.copy()

    def write_png(self, path: str | os.PathLike[str], scale: int = 1) -> Path:
        """Save ``snapshot()`` as a PNG, each pixel ``scale`` x ``scale``; atomically."""
        if not isinstance(scale, int) or not 1 <= scale <= MAX_PNG_SCALE:
            raise ValueRangeError(f"png scale {scale!r} is outside 1..{MAX_PNG_SCALE}")
        image = self.snapshot()
        if scale > 1:
            image = image.resize((self.width * scale, self.height * scale), Image.Resampling.NEAREST)
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        # Write then rename, so a viewer polling the file never reads half a PNG.
        image.save(tmp, format="PNG")
        os.replace(tmp, target)
        return target

    def render_terminal(self) -> str:
        """``snapshot()`` as Unicode half blocks, two pixel rows per line."""
        return to_halfblocks(self.snapshot())

    # -- internals -----------------------------------------------------------

    @contextmanager
    def _device_access(self) -> Iterator[None]:
        """Hold the lock, refuse a closed provider, translate bus errors."""
        with self._lock:
            if self._closed:
                raise ClosedError(f"the {self.config.display} display provider is closed")
            with bus_errors(self.config, self._bus):
                yield

    def _send(self, image: Image.Image) -> None:
        with self._device_access():
            self._device.display(image)
            self.frame = image.copy()
        log.debug("oled: frame %dx%d sent to %s", self.width, self.height, self.config.display)
        if self.config.is_emulator and self.config.png_path:
            self.write_png(self.config.png_path)
