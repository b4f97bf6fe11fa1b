"""Bytes to the panel over I2C, counted, with the Pi's fast path and its fallback.

luma sends frame data in 32-byte SMBus blocks unless it opened the bus
itself; a frame is then 32+ transactions.  Here data goes out as one
``i2c_rdwr`` write of up to 4 KiB, and on adapters that only speak SMBus
(``i2c_rdwr`` fails with EOPNOTSUPP) the transport falls back to blocks,
once, and remembers.
"""

from __future__ import annotations

import errno
import logging

from pi_edge.providers.oled.bus import CombinedWriteBus, I2CBus

log = logging.getLogger(__name__)

CONTROL_COMMAND = 0x00
CONTROL_DATA = 0x40
SMBUS_BLOCK = 32
RDWR_BLOCK = 4096
_NO_RDWR = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL}


class I2CTransport:
    """Command and data writes to one I2C address; ``bytes_sent`` counts address and control bytes too."""

    def __init__(self, bus: I2CBus, address: int) -> None:
        self.bus = bus
        self.address = address
        #: The bus while it takes combined writes; None once it has refused them (or never could).
        self.rdwr: CombinedWriteBus | None = bus if isinstance(bus, CombinedWriteBus) else None
        self.bytes_sent = 0
        self.transactions = 0

    def command(self, *cmd: int) -> None:
        for start in range(0, len(cmd), SMBUS_BLOCK):
            block = list(cmd[start:start + SMBUS_BLOCK])
            self.bus.write_i2c_block_data(self.address, CONTROL_COMMAND, block)
            self._count(len(block))

    def data(self, payload: bytes) -> None:
        if self.rdwr is not None:
            try:
                self._data_rdwr(self.rdwr, payload)
                return
            except OSError as exc:
                if exc.errno not in _NO_RDWR:
                    raise
                log.info("oled: i2c adapter refuses combined writes (%s); using 32-byte SMBus blocks", exc)
                self.rdwr = None
        for start in range(0, len(payload), SMBUS_BLOCK):
            block = list(payload[start:start + SMBUS_BLOCK])
            self.bus.write_i2c_block_data(self.address, CONTROL_DATA, block)
            self._count(len(block))

    def _data_rdwr(self, bus: CombinedWriteBus, payload: bytes) -> None:
        from smbus2 import i2c_msg

        for start in range(0, len(payload), RDWR_BLOCK):
            block = payload[start:start + RDWR_BLOCK]
            bus.i2c_rdwr(i2c_msg.write(self.address, bytes((CONTROL_DATA,)) + block))
            self._count(len(block))

    def _count(self, payload: int) -> None:
        self.transactions += 1
        self.bytes_sent += payload + 2  # address byte and control byte
