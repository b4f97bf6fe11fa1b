"""Draw a 1-bit frame in a terminal with Unicode half blocks.

luma.emulator's ``asciiblock`` device needs a real tty (it queries the
terminal size and writes escape codes), so the CLI renders strings itself:
each text line carries two pixel rows, upper one in the top half of the cell.
"""

from __future__ import annotations

from PIL import Image

_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",  # ▀ upper half
    (False, True): "\u2584",  # ▄ lower half
    (True, True): "\u2588",  # █ full
}


def to_halfblocks(image: Image.Image) -> str:
    """``ceil(height/2)`` lines of ``width`` characters, joined by newlines."""
    bits = image.convert("1")
    width, height = bits.size
    px = bits.load()
    rows = []
    for y in range(0, height, 2):
        cells = []
        for x in range(width):
            top = bool(px[x, y])
            bottom = bool(px[x, y + 1]) if y + 1 < height else False
            cells.append(_BLOCKS[(top, bottom)])
        rows.append("".join(cells))
    return "\n".join(rows)
