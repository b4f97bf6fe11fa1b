"""Every error the OLED provider raises on purpose: one base, one class per distinct failure.

All sit under the agent's ``ProviderError`` (so under ``PiEdgeError``): the
host hands ``str(exc)`` to the calling actor as its ``err`` value unchanged,
and the CLI exits with the code the agent's tree gives.  Catch the narrowest
class that says what you can handle::

    ProviderError                    pi_edge.agent.errors: a display operation failed
    └── OledError                    anything this provider raises on purpose
        ├── OledConfigError          a display setting is impossible (also a ProviderConfigError: names its keys)
        │   ├── UnknownDriverError   the driver is not one of the monochrome I2C drivers
        │   └── DisplayModeError     the driver does not drive a panel of that size
        ├── BusUnavailableError      /dev/i2c-N cannot be opened (missing, or no permission)
        ├── DisplayIOError           the panel did not acknowledge a transfer
        ├── DisplayUnavailableError  the panel stopped answering; the provider keeps trying
        ├── BitmapSizeError          a bitmap does not match the panel's size
        ├── ValueRangeError          a number (contrast level, font size, scale) is out of range
        └── ClosedError              the provider was closed
"""

from __future__ import annotations

from collections.abc import Iterable

from pi_edge.agent.errors import ProviderConfigError, ProviderError


class OledError(ProviderError):
    """Base of every error the OLED provider raises on purpose."""


class OledConfigError(OledError, ProviderConfigError):
    """A display setting (rotate, address, size...) is out of range."""


class UnknownDriverError(OledConfigError):
    """The driver name is not one of the monochrome I2C drivers we support."""

    def __init__(self, name: str, allowed: Iterable[str]) -> None:
        self.name = name
        self.allowed = tuple(allowed)
        super().__init__(
            f"unknown display driver {name!r}; use one of: {', '.join(self.allowed)}", keys=("display",)
        )


class DisplayModeError(OledConfigError):
    """The driver exists but does not support the requested panel size."""


class BusUnavailableError(OledError):
    """The I2C bus device node cannot be opened (missing, or no permission)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"cannot open {path}: {reason}; enable I2C with raspi-config "
            "(and add the user to the 'i2c' group), or use --display emulator"
        )


class DisplayIOError(OledError):
    """A transfer to the panel failed: it did not acknowledge its address."""

    def __init__(self, address: int, bus: str, reason: str) -> None:
        self.address = address
        super().__init__(
            f"display at I2C address 0x{address:02X} on {bus} did not answer ({reason}); "
            "check the wiring and the address (i2cdetect -y <port> lists devices)"
        )


class BitmapSizeError(OledError):
    """A bitmap does not match the panel's size or has the wrong number of bytes."""


class ValueRangeError(OledError):
    """A numeric argument (contrast level, font size, scale) is out of range."""


class ClosedError(OledError):
    """The provider was closed; a new one must be opened to draw again."""


class DisplayUnavailableError(OledError):
    """The panel stopped answering and has not come back yet; the provider keeps trying."""
