"""What the provider needs of an I2C bus: smbus2's ``SMBus``, the fake in ``testing``, or your own.

Protocols rather than smbus2's class, so a bus is whatever can make these
writes.  ``close()`` is not asked for: a bus handed to the provider stays
its caller's to close.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from smbus2 import i2c_msg


class I2CBus(Protocol):
    """SMBus block writes: a control byte (``register``) and up to 32 bytes, one transaction each.

    luma's ``i2c`` interface sends through this too when it is handed a bus.
    """

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int], /) -> None: ...


@runtime_checkable
class CombinedWriteBus(I2CBus, Protocol):
    """A bus that also takes combined messages (smbus2's ``i2c_rdwr``): a frame in one transaction."""

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None: ...
