"""Where the frame scheduler's frames go: a real panel on I2C, or memory.

Both take frames in the logical orientation (what the actor drew) and keep
what they hold, so a snapshot is a read of our own copy, never of the bus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PIL import Image

from pi_edge.agent.display.screen import Screen
from pi_edge.providers.oled.bus import I2CBus
from pi_edge.providers.oled.config import DisplayConfig
from pi_edge.providers.oled.device import LumaDevice, bus_errors, open_bus, open_device
from pi_edge.providers.oled.errors import DisplayIOError
from pi_edge.providers.oled.panel import Addressing, PanelWriter, addressing_for
from pi_edge.providers.oled.transport import I2CTransport

if TYPE_CHECKING:
    from smbus2 import i2c_msg

log = logging.getLogger(__name__)


def logical_size(config: DisplayConfig) -> tuple[int, int]:
    """Quarter turns swap width and height, as luma does."""
    if config.rotate % 2:
        return config.height, config.width
    return config.width, config.height


def _rotate(image: Image.Image, rotate: int) -> Image.Image:
    """As luma's ``preprocess``: ``rotate`` quarter turns clockwise, from the logical frame to the glass."""
    return image if rotate == 0 else image.rotate(-rotate * 90, expand=True)


def _unrotate(image: Image.Image, rotate: int) -> Image.Image:
    """Undo luma's ``preprocess`` (which turns the frame ``rotate`` quarter turns clockwise)."""
    return image if rotate == 0 else image.rotate(rotate * 90, expand=True)


class _NoBus:
    """Takes every transfer and sends nothing: the emulator's I2C, so its byte counts are a panel's."""

    def write_i2c_block_data(self, address: int, register: int, data: list[int]) -> None:
        """Nothing is listening."""

    def i2c_rdwr(self, *messages: i2c_msg) -> None:
        """Nothing is listening."""


class MemorySink:
    """The emulator: the frame is kept as it is; nothing can fail.

    Each frame also goes through a panel writer for an SSD1306 of the same size
    on a bus that sends nothing, so the emulator reports the bytes a Pi would
    put on I2C for the same frames (what changed, not the whole screen).
    """

    def __init__(self, config: DisplayConfig) -> None:
        self.config = config
        self.width, self.height = logical_size(config)
        self.frame = Image.new("1", (self.width, self.height))
        self.error: DisplayIOError | None = None
        transport = I2CTransport(_NoBus(), config.i2c_address)
        self._writer = PanelWriter(transport, Addressing(rectangles=True, column_offset=0), config.width, config.height)
        self._writer.assume_blank()

    def write(self, frame: Image.Image) -> int:
        self.frame = frame.copy()
        if self.config.png_path:  # before the caller hears "shown", so the file is there when it looks
            Screen.of(self.frame).write_png(self.config.png_path)
        return self._writer.write(_rotate(self.frame, self.config.rotate))

    def recover(self) -> None:
        """Nothing to recover."""

    def shown(self) -> Image.Image | None:
        return self.frame.copy()

    def command(self, *cmd: int) -> None:
        """Controller commands have no effect on memory."""

    def close(self) -> None:
        """Nothing to release."""


class PanelSink:
    """A luma-initialised panel, written by ``PanelWriter``.

    A panel that does not answer at start leaves ``error`` set instead of
    raising: the scheduler starts unhealthy and keeps calling ``recover()``.
    ``after_init`` re-applies settings (contrast, invert, power) each time the
    controller has been initialised.
    """

    def __init__(self, config: DisplayConfig, bus: I2CBus | None = None,
                 after_init: Callable[[PanelSink], None] | None = None) -> None:
        self.config = config
        self.width, self.height = logical_size(config)
        self.owns_bus = bus is None
        self.bus: I2CBus = open_bus(config) if bus is None else bus
        self.transport = I2CTransport(self.bus, config.i2c_address)
        self.after_init = after_init
        self.device: LumaDevice | None = None
        self.writer: PanelWriter | None = None
        self.error: DisplayIOError | None = None
        try:
            self._initialise().assume_blank()  # luma's init just cleared it; after a fault we assume nothing
        except DisplayIOError as exc:
            self.error = exc
            log.warning("oled: %s", exc)

    def recover(self) -> None:
        """(Re-)initialise the controller; its memory is unknown, so the next frame goes in full."""
        self._initialise()

    def _initialise(self) -> PanelWriter:
        device = open_device(self.config, self.bus)
        # The panel's own size: the config's width and height, before rotation (luma keeps them as given).
        writer = PanelWriter(self.transport, addressing_for(device), self.config.width, self.config.height)
        self.device, self.writer, self.error = device, writer, None
        if self.after_init is not None:
            self.after_init(self)
        return writer

    def write(self, frame: Image.Image) -> int:
        if self.device is None or self.writer is None:
            raise self.error or DisplayIOError(self.config.i2c_address, self.config.bus_path, "not initialised")
        with bus_errors(self.config, self.bus):
            return self.writer.write(self.device.preprocess(frame))

    def command(self, *cmd: int) -> None:
        with bus_errors(self.config, self.bus):
            self.transport.command(*cmd)

    def shown(self) -> Image.Image | None:
        """What panel memory holds, in the logical orientation; None while unknown."""
        physical = self.writer.image() if self.writer is not None else None
        return None if physical is None else _unrotate(physical, self.config.rotate)

    def close(self) -> None:
        if self.owns_bus:
            close = getattr(self.bus, "close", None)
            if close is not None:
                close()
