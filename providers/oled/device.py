"""Build the luma device for a ``DisplayConfig`` and translate luma's errors, once.

Hardware goes through ``luma.core.interface.serial.i2c`` and a luma.oled driver
class; tests inject a fake bus object in place of smbus2.  luma has no type
hints: ``LumaDevice`` names the little of a device the provider uses.  (The
emulator needs no luma device: see ``sinks.MemorySink``.)
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import luma.core.error
import luma.oled.device
from luma.core.interface.serial import i2c
from PIL import Image

from pi_edge.providers.oled.bus import CombinedWriteBus, I2CBus
from pi_edge.providers.oled.config import DisplayConfig
from pi_edge.providers.oled.errors import BusUnavailableError, DisplayIOError, DisplayModeError

log = logging.getLogger(__name__)


class LumaDevice(Protocol):
    """What the provider uses of a luma.oled device: luma initialises the controller and turns frames
    to the glass (``preprocess``); ``panel.PanelWriter`` writes them."""

    persist: bool

    def preprocess(self, image: Image.Image) -> Image.Image: ...


def bus_label(config: DisplayConfig, bus: I2CBus | None) -> str:
    """How messages name the bus: the device node, or an injected object's class."""
    import smbus2

    if bus is None or isinstance(bus, smbus2.SMBus):
        return config.bus_path
    return f"{type(bus).__name__} (port {config.i2c_port})"


@contextmanager
def bus_errors(config: DisplayConfig, bus: I2CBus | None = None) -> Iterator[None]:
    """Turn a failed transfer into ``DisplayIOError``.

    luma's ``i2c.command()`` converts EIO/EREMOTEIO into ``DeviceNotFoundError``
    while ``i2c.data()`` lets the raw ``OSError`` through, so both are caught.
    """
    try:
        yield
    except luma.core.error.DeviceNotFoundError as exc:
        raise DisplayIOError(config.i2c_address, bus_label(config, bus), "no acknowledge") from exc
    except OSError as exc:
        raise DisplayIOError(config.i2c_address, bus_label(config, bus), str(exc)) from exc


def open_bus(config: DisplayConfig) -> CombinedWriteBus:
    """Open ``/dev/i2c-N`` with smbus2; a missing node or no permission says what to do."""
    import smbus2

    try:
        return smbus2.SMBus(config.i2c_port)
    except OSError as exc:
        reason = {errno.ENOENT: "no such device", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied"}.get(exc.errno or 0, exc.strerror or str(exc))
        raise BusUnavailableError(config.bus_path, reason) from None


def open_device(config: DisplayConfig, bus: I2CBus) -> LumaDevice:
    """Create the luma device on an open bus; the panel is initialised (cleared, on) on return.

    The bus is opened by us, not by luma, so it outlives a panel that drops
    off and comes back: re-initialising is just creating the device again.

    Devices are marked ``persist=True``: luma registers an atexit hook that
    would otherwise switch the panel off and blank it when the process exits.
    A sign should keep its last message through an agent restart, and
    ``close()`` decides explicitly what shutdown shows.
    """
    serial = i2c(bus=bus, address=config.i2c_address)
    driver = getattr(luma.oled.device, config.display)
    try:
        with bus_errors(config, bus):
            device: LumaDevice = driver(serial, width=config.width, height=config.height, rotate=config.rotate)
    except luma.core.error.DeviceDisplayModeError as exc:
        raise DisplayModeError(
            f"{config.display} does not support a {config.width}x{config.height} panel ({exc}); "
            "set --width/--height to the panel's size"
        ) from exc
    device.persist = True
    return device
