"""Frames to controller page bytes and back, without a per-pixel Python loop.

SSD1306-family controllers store 8 vertical pixels per byte (a "page" row),
least significant bit on top.  Pillow packs 8 *horizontal* pixels per byte,
most significant bit first, so the frame is turned once (transpose, then a
mirror) and its packed bytes are read out with strided slices: all in C.
"""

from __future__ import annotations

from PIL import Image

Pages = list[bytes]


def pack_pages(frame: Image.Image) -> Pages:
    """A physical 1-bit frame (W x H, H a multiple of 8) as H/8 pages of W bytes."""
    width, height = frame.size
    if height % 8:
        raise ValueError(f"panel height {height} is not a multiple of 8")
    if frame.mode != "1":
        frame = frame.convert("1")
    pages = height // 8
    # After the turn, row c holds column c bottom-to-top, so each packed byte
    # has the page's bottom pixel in its MSB and its top pixel in its LSB.
    raw = frame.transpose(Image.Transpose.TRANSPOSE).transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    return [raw[pages - 1 - p::pages] for p in range(pages)]


def unpack_pages(pages: Pages, width: int) -> Image.Image:
    """The inverse of ``pack_pages``: what a panel holding ``pages`` shows."""
    count = len(pages)
    raw = bytearray(width * count)
    for p, page in enumerate(pages):
        raw[count - 1 - p::count] = page
    turned = Image.frombytes("1", (count * 8, width), bytes(raw))
    return turned.transpose(Image.Transpose.FLIP_LEFT_RIGHT).transpose(Image.Transpose.TRANSPOSE)
