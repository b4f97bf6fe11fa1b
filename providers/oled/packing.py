"""Frames to controller page bytes and back, without a per-pixel Python loop.

SSD1306-family controllers store 8 vertical pixels per byte (a "page" row),
least significant bit on top.  Pillow packs 8 *horizontal* pixels per byte,
most significant bit first, so the frame is transposed once, each byte's bits
reversed by a lookup table, and the pages read out with strided slices: all in C.
"""

from __future__ import annotations

from PIL import Image

Pages = list[bytes]

_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def pack_pages(frame: Image.Image) -> Pages:
    """A physical 1-bit frame (W x H, H a multiple of 8) as H/8 pages of W bytes."""
    height = frame.height
    if height % 8:
        raise ValueError(f"panel height {height} is not a multiple of 8")
    if frame.mode != "1":
        frame = frame.convert("1")
    pages = height // 8
    # After the transpose, row c holds column c top to bottom, eight pixels a
    # byte with the top one in the MSB; reversing each byte's bits puts it in
    # the LSB, where the controller wants it.
    raw = frame.transpose(Image.Transpose.TRANSPOSE).tobytes().translate(_REVERSED_BITS)
    return [raw[p::pages] for p in range(pages)]


def unpack_pages(pages: Pages, width: int) -> Image.Image:
    """The inverse of ``pack_pages``: what a panel holding ``pages`` shows."""
    count = len(pages)
    raw = bytearray(width * count)
    for p, page in enumerate(pages):
        raw[p::count] = page
    turned = Image.frombytes("1", (count * 8, width), bytes(raw).translate(_REVERSED_BITS))
    return turned.transpose(Image.Transpose.TRANSPOSE)
