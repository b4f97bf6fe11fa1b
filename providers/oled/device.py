"""Build the luma device for a ``DisplayConfig`` and translate luma's errors, once.

Hardware goes through ``luma.core.interface.serial.i2c`` and a luma.oled driver
class; tests inject a fake bus object in place of smbus2.  The emulator is
luma's in-memory ``dummy`` device, which keeps the last image it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import luma.core.error
import luma.oled.device
from luma.core.device import device as LumaDevice
from luma.core.device import dummy
from luma.core.interface.serial import i2c

from .config import DisplayConfig
from .errors import BusUnavailableError, DisplayIOError, DisplayModeError

log = logging.getLogger(__name__)


def bus_label(config: DisplayConfig, bus: object | None) -> str:
    """How messages name the bus: the device node, or the injected object's class."""
    return config.bus_path if bus is None else f"{type(bus).__name__} (port {config.i2c_port})"


@contextmanager
def bus_errors(config: DisplayConfig, bus: object | None = None) -> Iterator[None]:
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


def _open_serial(config: DisplayConfig, bus: object | None) -> i2c:
    path = config.bus_path
    try:
        if bus is not None:
            return i2c(bus=bus, address=config.i2c_address)
        return i2c(port=config.i2c_port, address=config.i2c_address)
    except luma.core.error.DeviceNotFoundError as exc:
        raise BusUnavailableError(path, "no such device") from exc
    except luma.core.error.DevicePermissionError as exc:
        raise BusUnavailableError(path, "permission denied") from exc
    except OSError as exc:
        raise BusUnavailableError(path, exc.strerror or str(exc)) from exc


def open_device(config: DisplayConfig, bus: object | None = None) -> LumaDevice:
    """Create the luma device; the panel is initialised (cleared, on) on return.

    Devices are marked ``persist=True``: luma registers an atexit hook that
    would otherwise switch the panel off and blank it when the process exits.
    A sign should keep its last message through an agent restart, and
    ``close()`` decides explicitly what shutdown shows.
    """
    if config.is_emulator:
        device: Any = dummy(width=config.width, height=config.height, rotate=config.rotate, mode="1")
        device.persist = True
        return device

    serial = _open_serial(config, bus)
    driver = getattr(luma.oled.device, config.display)
    try:
        with bus_errors(config, bus):
            device = driver(serial, width=config.width, height=config.height, rotate=config.rotate)
    except luma.core.error.DeviceDisplayModeError as exc:
        serial.cleanup()
        raise DisplayModeError(
            f"{config.display} does not support a {config.width}x{config.height} panel ({exc}); "
            "set --width/--height to the panel's size"
        ) from exc
    except Exception:
        serial.cleanup()
        raise
    device.persist = True
    return device
