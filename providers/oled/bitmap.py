"""Unpack the wire format of ``show-bitmap`` into a 1-bit image.

The format is the simplest one an actor can produce: pixels row-major, one
bit each, most significant bit first, rows *not* padded, so a bitmap is
exactly ``ceil(width * height / 8)`` bytes.
"""

from __future__ import annotations

from PIL import Image

from .errors import BitmapSizeError

_TO_LUMA = str.maketrans({"0": "\x00", "1": "\xff"})
_FROM_LUMA = bytes.maketrans(b"\x00\xff", b"01")


def bitmap_length(width: int, height: int) -> int:
    """Number of bytes a ``width`` x ``height`` bitmap takes."""
    return (width * height + 7) // 8


def unpack_bitmap(width: int, height: int, bits: bytes) -> Image.Image:
    """A ``"1"`` image from packed bits; wrong lengths raise ``BitmapSizeError``."""
    expected = bitmap_length(width, height)
    if len(bits) != expected:
        raise BitmapSizeError(
            f"a {width}x{height} bitmap takes {expected} bytes (1 bit per pixel, "
            f"row-major, MSB first), got {len(bits)} bytes"
        )
    total = width * height
    if total == 0:
        return Image.new("1", (width, height))
    value = int.from_bytes(bytes(bits), "big") >> (expected * 8 - total)
    levels = format(value, f"0{total}b").translate(_TO_LUMA).encode("latin-1")
    grey = Image.frombytes("L", (width, height), levels)
    return grey.convert("1", dither=Image.Dither.NONE)


def pack_bitmap(image: Image.Image) -> bytes:
    """The inverse of ``unpack_bitmap``, for tests and for actors' host-side tools."""
    width, height = image.size
    levels = image.convert("1").convert("L").tobytes()
    value = int(levels.translate(_FROM_LUMA), 2) if levels else 0
    expected = bitmap_length(width, height)
    value <<= expected * 8 - width * height
    return value.to_bytes(expected, "big")
