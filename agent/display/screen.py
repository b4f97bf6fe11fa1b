"""A screenful of 1-bit pixels in the contract's bitmap format, and ways to look at it.

The format is the one ``show-bitmap`` takes: row-major, one bit per pixel,
most significant bit first, rows not padded.  Snapshots travel the lattice in
it, and the laptop turns them into a PNG or Unicode half blocks.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pi_edge.agent.files import write_output

_TO_LEVELS = str.maketrans({"0": "\x00", "1": "\xff"})
_FROM_LEVELS = bytes.maketrans(b"\x00\xff", b"01")
_BLOCKS = (" ", "\u2584", "\u2580", "\u2588")  # index: top << 1 | bottom
MAX_PNG_SCALE = 16


def bitmap_length(width: int, height: int) -> int:
    """Bytes a ``width`` x ``height`` bitmap takes."""
    return (width * height + 7) // 8


def bits_from_image(image: Image.Image) -> bytes:
    width, height = image.size
    if width % 8 == 0:  # rows are whole bytes: Pillow's own packing is the format
        return image.convert("1").tobytes()
    levels = image.convert("1").convert("L").tobytes()
    value = int(levels.translate(_FROM_LEVELS), 2) if levels else 0
    expected = bitmap_length(width, height)
    return (value << (expected * 8 - width * height)).to_bytes(expected, "big")


def image_from_bits(width: int, height: int, bits: bytes) -> Image.Image:
    """The caller checks the length (``bitmap_length``); extra bytes are ignored."""
    total = width * height
    if total == 0:
        return Image.new("1", (width, height))
    expected = bitmap_length(width, height)
    if width % 8 == 0:  # rows are whole bytes: Pillow reads the format as it is
        return Image.frombytes("1", (width, height), bytes(bits[:expected]))
    value = int.from_bytes(bytes(bits[:expected]), "big") >> (expected * 8 - total)
    levels = format(value, f"0{total}b").translate(_TO_LEVELS).encode("latin-1")
    return Image.frombytes("L", (width, height), levels).convert("1", dither=Image.Dither.NONE)


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    bits: bytes

    @classmethod
    def of(cls, image: Image.Image) -> Screen:
        return cls(image.width, image.height, bits_from_image(image))

    def image(self) -> Image.Image:
        return image_from_bits(self.width, self.height, self.bits)

    def to_json(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "bits": base64.b64encode(self.bits).decode()}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Screen:
        width, height = _whole(data, "width"), _whole(data, "height")
        bits = base64.b64decode(str(data["bits"]), validate=True)
        if width <= 0 or height <= 0 or len(bits) != bitmap_length(width, height):
            raise ValueError(f"a {width}x{height} screen cannot hold {len(bits)} bytes")
        return cls(width, height, bits)

    def lit(self) -> int:
        """How many pixels are lit."""
        return int.from_bytes(self.bits, "big").bit_count()

    def halfblocks(self) -> str:
        """Two pixel rows per text line, upper one in the top half of the cell."""
        return to_halfblocks(self.image())

    def write_png(self, path: str | os.PathLike[str], scale: int = 1) -> Path:
        """Save as PNG, each pixel ``scale`` x ``scale``; written then renamed, so never half a file."""
        if not isinstance(scale, int) or not 1 <= scale <= MAX_PNG_SCALE:
            raise ValueError(f"png scale {scale!r} is outside 1..{MAX_PNG_SCALE}")
        image = self.image()
        if scale > 1:
            image = image.resize((self.width * scale, self.height * scale), Image.Resampling.NEAREST)
        png = io.BytesIO()
        image.save(png, format="PNG")
        return write_output(path, png.getvalue())


def _whole(data: dict[str, object], key: str) -> int:
    """A whole number from a screen's JSON (ValueError, as from ``int``, for anything else)."""
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{key} {value!r} is not a whole number")
    return int(value)


def to_halfblocks(image: Image.Image) -> str:
    """``ceil(height/2)`` lines of ``width`` characters."""
    frame = image.convert("1")
    width, height = frame.size
    if height % 2:
        padded = Image.new("1", (width, height + 1))
        padded.paste(frame, (0, 0))
        frame, height = padded, height + 1
    levels = frame.convert("L").tobytes()
    rows = []
    for y in range(0, height, 2):
        top, bottom = levels[y * width:(y + 1) * width], levels[(y + 1) * width:(y + 2) * width]
        rows.append("".join(_BLOCKS[(t > 0) << 1 | (b > 0)] for t, b in zip(top, bottom, strict=False)))
    return "\n".join(rows)
