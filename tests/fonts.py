"""Fonts made for tests: a handful of block glyphs whose every pixel is known.

A test of fallback fonts must not depend on what the machine has installed,
so it builds its own with fontTools: each character is one filled rectangle,
given in font units (1000 to the em, baseline at 0), and the "no glyph" box
is an outline, so both look nothing like the built-in font's glyphs.
"""

from __future__ import annotations

from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

UNITS_PER_EM = 1000
ASCENT, DESCENT = 800, 200


def _rectangles(boxes: list[tuple[int, int, int, int]]):  # type: ignore[no-untyped-def]
    pen = TTGlyphPen(None)
    for x0, y0, x1, y1 in boxes:
        pen.moveTo((x0, y0))
        pen.lineTo((x0, y1))
        pen.lineTo((x1, y1))
        pen.lineTo((x1, y0))
        pen.closePath()
    return pen.glyph()


def block_font(path: Path, glyphs: dict[str, tuple[int, int, int, int] | None], advance: int = 600) -> Path:
    """Write a TrueType font to ``path`` with one rectangle (x0, y0, x1, y1) per character (None: no ink,
    as a zero-width space has)."""
    names = {char: f"u{ord(char):04X}" for char in glyphs}
    builder = FontBuilder(UNITS_PER_EM, isTTF=True)
    builder.setupGlyphOrder([".notdef", *names.values()])
    builder.setupCharacterMap({ord(char): name for char, name in names.items()})
    outline = [(50, 0, 550, 60), (50, 640, 550, 700), (50, 60, 110, 640), (490, 60, 550, 640)]
    shapes = {".notdef": _rectangles(outline)}
    shapes.update({names[char]: _rectangles([box] if box else []) for char, box in glyphs.items()})
    builder.setupGlyf(shapes)
    builder.setupHorizontalMetrics(dict.fromkeys(shapes, (advance, 0)))
    builder.setupHorizontalHeader(ascent=ASCENT, descent=-DESCENT)
    builder.setupNameTable({"familyName": "Pi Edge Test Blocks", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=ASCENT, sTypoDescender=-DESCENT, usWinAscent=ASCENT, usWinDescent=DESCENT)
    builder.setupPost()
    builder.save(str(path))
    return path
