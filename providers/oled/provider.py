"""``OledProvider``: the ``DisplayProvider`` an actor's ``display`` import is bound to.

Drawing happens on the caller's thread (layout is pure); getting the frame
onto the glass is the frame scheduler's job, which owns the bus, keeps only
the newest frame and rides out a panel that drops off the bus.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from PIL import Image, ImageChops

from pi_edge.agent.display.provider import (
    DisplayInfo,
    FrameListener,
    FrameReport,
    Health,
    HealthListener,
    TextLayout,
    TextOptions,
)
from pi_edge.agent.display.screen import Screen
from pi_edge.providers.oled.bitmap import unpack_bitmap
from pi_edge.providers.oled.bus import I2CBus
from pi_edge.providers.oled.config import DisplayConfig
from pi_edge.providers.oled.device import bus_label
from pi_edge.providers.oled.errors import BitmapSizeError, DisplayUnavailableError, ValueRangeError
from pi_edge.providers.oled.fonts import chain_of, system_chain
from pi_edge.providers.oled.panel import INVERT_DISPLAY, NORMAL_DISPLAY
from pi_edge.providers.oled.scheduler import FrameScheduler
from pi_edge.providers.oled.sinks import MemorySink, PanelSink
from pi_edge.providers.oled.terminal import to_halfblocks

log = logging.getLogger(__name__)

#: How long a caller waits for its frame to reach the panel (retries included).
FRAME_TIMEOUT = 5.0
#: Characters no font has are logged once each, up to this many (a hostile sender cannot flood the log).
MAX_WARNED_CHARACTERS = 256
DISPLAY_ON, DISPLAY_OFF, SET_CONTRAST = 0xAF, 0xAE, 0x81


class OledProvider:
    """Drives one monochrome OLED (or the in-memory emulator)."""

    def __init__(self, config: DisplayConfig, bus: I2CBus | None = None, frame_timeout: float = FRAME_TIMEOUT) -> None:
        self.config = config
        self.frame_timeout = frame_timeout
        self.powered = True
        self.contrast: int | None = None
        self.inverted = False
        self._on_health: HealthListener | None = None
        self._on_frame: FrameListener | None = None
        self._sink: MemorySink | PanelSink
        if config.is_emulator:
            self._sink = MemorySink(config)
        else:
            self._sink = PanelSink(config, bus, after_init=self._restore_settings)
        self.width, self.height = self._sink.width, self._sink.height
        self.fonts = chain_of(config.fonts) if config.fonts is not None else system_chain()
        error = self._sink.error
        self._frames = FrameScheduler(self._sink, config.display, healthy=error is None,
                                      reason=str(error or ""), on_health=self._health_changed,
                                      on_sent=self._frame_sent)
        where = "in memory" if config.is_emulator else (
            f"on {bus_label(config, bus)} addr 0x{config.i2c_address:02X}")
        log.info("oled: opened %s %dx%d %s rotate %d%s", config.display, self.width, self.height, where,
                 config.rotate, "" if error is None else " (not answering yet; retrying)")
        log.info("oled: fonts for characters beyond ASCII: %s", ", ".join(self.fonts.paths) or (
            "none, as configured" if config.fonts == () else
            "none found (install fonts-dejavu-core or set [display] fonts)"))
        self._unshown: set[str] = set()  # characters already warned about

    # -- DisplayProvider -------------------------------------------------

    def info(self) -> DisplayInfo:
        return DisplayInfo(width=self.width, height=self.height, driver=self.config.display)

    def clear(self) -> FrameReport:
        return self._show(Image.new("1", (self.width, self.height)))

    def show_text(self, text: str, options: TextOptions | None = None) -> TextLayout:
        from pi_edge.providers.oled.layout import layout_text

        image, layout = layout_text(text, self.width, self.height, options or TextOptions(), self.fonts)
        if layout.missing:
            self._warn_unshown(layout.missing)
        return dataclasses.replace(layout, frame=self._show(image))

    def show_bitmap(self, width: int, height: int, bits: bytes) -> FrameReport:
        if (width, height) != (self.width, self.height):
            raise BitmapSizeError(
                f"bitmap is {width}x{height} but the panel is {self.width}x{self.height}; "
                f"send a {self.width}x{self.height} bitmap"
            )
        return self._show(unpack_bitmap(width, height, bits))

    def set_contrast(self, level: int) -> None:
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 255:
            raise ValueRangeError(f"contrast level {level!r} is outside 0..255")
        self.contrast = level  # kept even if the panel is away: applied when it returns
        self._frames.run_command(lambda: self._sink.command(SET_CONTRAST, level))

    def set_power(self, on: bool) -> None:
        self.powered = bool(on)
        self._frames.run_command(lambda: self._sink.command(DISPLAY_ON if on else DISPLAY_OFF))

    def set_invert(self, on: bool) -> None:
        self.inverted = bool(on)
        self._frames.run_command(lambda: self._sink.command(INVERT_DISPLAY if on else NORMAL_DISPLAY))

    def snapshot(self) -> Screen:
        return Screen.of(self.snapshot_image())

    def health(self) -> Health:
        return Health(self._frames.healthy, self._frames.reason)

    def wait_healthy(self, timeout: float) -> bool:
        """True once the panel answers (at once if it does now)."""
        return self._frames.wait_healthy(timeout)

    def listen(self, on_health: HealthListener | None = None, on_frame: FrameListener | None = None) -> None:
        self._on_health, self._on_frame = on_health, on_frame

    def close(self) -> None:
        """Stop the frame thread and release the bus; the panel keeps its last frame (persist)."""
        self._frames.close()
        self._sink.close()
        log.info("oled: closed %s", self.config.display)

    # -- what the panel shows ------------------------------------------------

    def snapshot_image(self) -> Image.Image:
        """What a viewer sees, in logical orientation: panel memory, dark when off, inverted when set."""
        shown = self._sink.shown()
        if shown is None:
            why = self._frames.reason or "not written yet"
            raise DisplayUnavailableError(f"what the panel holds is unknown: {why}")
        if not self.powered:
            return Image.new("1", (self.width, self.height))
        return ImageChops.invert(shown.convert("L")).convert("1") if self.inverted else shown

    def write_png(self, path: str | os.PathLike[str], scale: int = 1) -> Path:
        """Save the snapshot as a PNG, each pixel ``scale`` x ``scale``; atomically."""
        try:
            return self.snapshot().write_png(path, scale)
        except ValueError as exc:
            raise ValueRangeError(str(exc)) from None

    def render_terminal(self) -> str:
        """The snapshot as Unicode half blocks, two pixel rows per line."""
        return to_halfblocks(self.snapshot_image())

    @property
    def stats(self) -> dict[str, int]:
        """Counters for benchmarks and the inventory."""
        transport = getattr(self._sink, "transport", None)
        return {
            "frames_sent": self._frames.frames_sent,
            "frames_superseded": self._frames.frames_superseded,
            "bus_bytes": transport.bytes_sent if transport else 0,
            "bus_transactions": transport.transactions if transport else 0,
        }

    # -- internals -----------------------------------------------------------

    def _show(self, image: Image.Image) -> FrameReport:
        return self._frames.submit(image).wait(self.frame_timeout)

    def _warn_unshown(self, missing: str) -> None:
        """Once per character (for the first few hundred): the sender hears it in the reply every time."""
        new = [c for c in missing if c not in self._unshown]
        if not new or len(self._unshown) >= MAX_WARNED_CHARACTERS:
            return
        self._unshown.update(new)
        log.warning("oled: no font here has %s: drawn as boxes (fonts tried: %s; install fonts-dejavu-core "
                    "or set [display] fonts)", " ".join(f"U+{ord(c):04X}" for c in new),
                    ", ".join(("built-in", *self.fonts.paths)))

    def _restore_settings(self, sink: PanelSink) -> None:
        """After the controller was (re-)initialised: put back what actors set."""
        if self.contrast is not None:
            sink.command(SET_CONTRAST, self.contrast)
        if self.inverted:
            sink.command(INVERT_DISPLAY)
        if not self.powered:
            sink.command(DISPLAY_OFF)

    def _health_changed(self, healthy: bool, reason: str) -> None:
        if self._on_health is not None:
            self._on_health(healthy, reason)

    def _frame_sent(self) -> None:
        if self._on_frame is not None:
            self._on_frame()
