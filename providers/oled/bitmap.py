"""``show-bitmap``'s wire format (defined with the contract in ``agent.screen``), checked.

Pixels row-major, one bit each, most significant bit first, rows *not*
padded, so a bitmap is exactly ``ceil(width * height / 8)`` bytes.
"""

from __future__ import annotations

from PIL import Image

from pi_edge.agent.display.screen import bitmap_length, bits_from_image, image_from_bits
from pi_edge.providers.oled.errors import BitmapSizeError

__all__ = ["bitmap_length", "pack_bitmap", "unpack_bitmap"]


def unpack_bitmap(width: int, height: int, bits: bytes) -> Image.Image:
    """A ``"1"`` image from packed bits; wrong lengths raise ``BitmapSizeError``."""
    expected = bitmap_length(width, height)
    if len(bits) != expected:
        raise BitmapSizeError(
            f"a {width}x{height} bitmap takes {expected} bytes (1 bit per pixel, "
            f"row-major, MSB first), got {len(bits)} bytes"
        )
    return image_from_bits(width, height, bits)


def pack_bitmap(image: Image.Image) -> bytes:
    """The inverse of ``unpack_bitmap``, for tests and for actors' host-side tools."""
    return bits_from_image(image)
