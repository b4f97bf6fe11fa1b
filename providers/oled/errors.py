"""Errors of the OLED provider: one base, one class per distinct failure.

All derive from ``agent.provider.ProviderError`` so the host can hand
``str(exc)`` to the calling actor as its ``err`` value unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from pi_edge.agent.errors import ProviderConfigError, ProviderError


class OledError(ProviderError):
    """Base of every error the OLED provider raises on purpose."""


class ConfigError(OledError, ProviderConfigError):
    """A display setting (rotate, address, size...) is out of range."""


class UnknownDriverError(ConfigError):
    """The driver name is not one of the monochrome I2C drivers we support."""

    def __init__(self, name: str, allowed: Iterable[str]) -> None:
        self.name = name
        self.allowed = tuple(allowed)
        super().__init__(
            f"unknown display driver {name!r}; use one of: {', '.join(self.allowed)}", keys=("display",)
        )


class DisplayModeError(ConfigError):
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
