"""Characters as FreeType draws them inside a line: rasterised once, measured in runs, kept in a cache.

Glyph extents come from the font's ink box rather than its advance width,
so a line that "fits" never loses a lit pixel at the panel's edge.  A line
is composed from cached glyphs and measured from them (``Line``), never
drawn whole by FreeType: the fit search measures dozens of lines per message.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from PIL import Image, ImageFont

from pi_edge.providers.oled.fonts import BUILT_IN, FontChain, built_in, fallback, has_glyph

# Rendering mode "1" turns anti-aliasing off, so measured boxes match the
# pixels that get lit on a 1-bit panel exactly.
_MODE = "1"


font = built_in  # the font every line's metrics (pitch, ascent) come from


@cache
def line_pitch(size: int) -> int:
    """How far apart lines of ``size`` sit: the built-in font's ascent and descent."""
    ascent, descent = font(size).getmetrics()
    return int(ascent + descent)


@dataclass(frozen=True)
class Glyph:
    """One character at one size: how far it moves the pen, and its ink relative to the pen.

    ``advance`` is in FreeType's 26.6 fixed point, so pen positions add up
    exactly as FreeType's own layout adds them; ``mask`` is the glyph's own
    bitmap cropped to its ink, whose box is ``x``, ``y``, ``right``, ``bottom``.
    ``missing`` marks a character no font had: the built-in font's box stands in.
    """

    advance: int
    x: int = 0
    y: int = 0
    right: int = 0
    bottom: int = 0
    mask: Image.Image | None = None
    missing: bool = False

    @property
    def area(self) -> int:
        """Pixels its picture holds (Pillow keeps a byte for each): what it costs the cache."""
        return (self.right - self.x) * (self.bottom - self.y) if self.mask is not None else 0

    def moved(self, dx: int, dy: int) -> Glyph:
        return Glyph(self.advance, self.x + dx, self.y + dy, self.right + dx, self.bottom + dy, self.mask,
                     self.missing)


#: The glyph a probe line puts on either side of the one being placed.
_PROBE = "H"


def ink(text: str, size: int, face: ImageFont.FreeTypeFont | None = None,
        baseline: int = 0) -> tuple[int, int, Image.Image] | None:
    """Pillow's own rendering of ``text`` with anchor "la", cropped to its ink: (x, y, mask).

    With another ``face`` (a fallback font), ``text`` sits on the built-in
    font's ``baseline`` instead, so its glyphs line up with the built-in ones.
    """
    if face is None:
        core, (ox, oy) = font(size).getmask2(text, mode=_MODE, anchor="la")
    else:
        core, (ox, oy) = face.getmask2(text, mode=_MODE, anchor="ls")
        oy += baseline
    if 0 in core.size:
        return None
    mask = Image.frombytes("L", core.size, bytes(core))
    box = mask.getbbox()
    if box is None:
        return None
    return ox + box[0], oy + box[1], mask.crop(box)


class Line(NamedTuple):
    """A line's ink box relative to its "la" anchor and where its pen ended: all that fitting needs.

    A tuple, and no pictures in it: the font-size search builds dozens of these
    per message and only the chosen lines are ever drawn (``placed``).
    """

    text: str
    left: int
    top: int
    right: int
    bottom: int
    pen: int = 0  # 26.6

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def empty(self) -> bool:
        return self.right <= self.left or self.bottom <= self.top

    def then(self, glyphs: list[Glyph], text: str) -> Line:
        """This line with ``glyphs`` (spelling ``text``) after it: only the new glyphs are measured.

        Pens add up in 26.6 and round to pixels as FreeType rounds them (halves up).
        """
        pen = self.pen
        left, top, right, bottom = (self.left, self.top, self.right, self.bottom) if self.right > self.left \
            else _NO_INK
        for g in glyphs:
            if g.mask is not None:
                x = (pen + 32) >> 6
                if x + g.x < left:
                    left = x + g.x
                if x + g.right > right:
                    right = x + g.right
                if g.y < top:
                    top = g.y
                if g.bottom > bottom:
                    bottom = g.bottom
            pen += g.advance
        if right <= left:  # no ink yet
            return Line(self.text + text, 0, 0, 0, 0, pen)
        return Line(self.text + text, left, top, right, bottom, pen)


_NO_INK = (1 << 30, 1 << 30, -(1 << 30), -(1 << 30))
START = Line("", 0, 0, 0, 0)


def _compose(glyphs: list[Glyph]) -> tuple[int, int, Image.Image] | None:
    """A line of glyphs as one cropped ink picture (x, y, mask), as ``ink`` gives Pillow's."""
    line = START.then(glyphs, "")
    if line.empty:
        return None
    mask = Image.new("L", (line.width, line.bottom - line.top), 0)
    for x, y, glyph in placed(glyphs):
        mask.paste(255, (x - line.left, y - line.top), glyph)
    return line.left, line.top, mask


def placed(glyphs: list[Glyph]) -> Iterator[tuple[int, int, Image.Image]]:
    """Where each inked glyph of a line goes relative to its "la" anchor: the pen walk of ``Line.then``."""
    pen = 0
    for g in glyphs:
        if g.mask is not None:
            yield ((pen + 32) >> 6) + g.x, g.y, g.mask
        pen += g.advance


#: Glyph pictures kept, in pixels (Pillow stores a byte per pixel): a few thousand glyphs at sign
#: sizes, and a hostile text of thousands of distinct characters at 128 px cannot grow it further.
GLYPH_CACHE_PIXELS = 4 << 20
#: Measured runs kept: a word (or a space and a word) at one size from one pen fraction.  The fit
#: search measures the same words at the same sizes message after message; longer runs are not kept.
RUN_CACHE_SIZE = 4096


class GlyphCache:
    """Glyphs rasterised once per character, size and fallback fonts, and runs of them measured once.

    Glyph pictures stay within ``pixels`` (oldest out first); measured runs up
    to ``runs`` (least recently used out first).  Thread-safe.  Layout shares
    ``default_cache`` unless given another: a test passes a fresh one to start
    cold, or to look inside without the rest of the process in the way.
    """

    def __init__(self, pixels: int = GLYPH_CACHE_PIXELS, runs: int = RUN_CACHE_SIZE) -> None:
        self.budget = pixels
        self.pixels = 0  # what the kept pictures hold now
        self._glyphs: dict[tuple[str, int, FontChain], Glyph] = {}
        self._lock = threading.Lock()
        #: ``run(text, size, frac, fonts)``: ``text`` measured from a pen ``frac``/64 px into its first
        #: pixel, its ink box relative to that pixel (see ``extend``).
        self.run = lru_cache(maxsize=runs)(self._measure_run)
        self._probe_of = lru_cache(maxsize=256)(self._fallback_probe)

    def __len__(self) -> int:
        return len(self._glyphs)

    def glyph(self, char: str, size: int, fonts: FontChain = BUILT_IN) -> Glyph:
        """Rasterised once per character, size and fallback fonts (until evicted, oldest first).

        Lines are composed from these.
        """
        glyph = self._glyphs.get((char, size, fonts))
        if glyph is None:
            glyph = self._rasterise(char, size) if fonts is BUILT_IN else self._rasterise_with(char, size, fonts)
            self._remember((char, size, fonts), glyph)
        return glyph

    def _rasterise_with(self, char: str, size: int, fonts: FontChain) -> Glyph:
        """The built-in font's glyph, or the first fallback font's that has the character."""
        glyph = self.glyph(char, size)
        if not glyph.missing:
            return glyph
        baseline = font(size).getmetrics()[0]
        for path in fonts.paths:
            face = fallback(path, size)
            if has_glyph(face, char):
                return self._rasterise(char, size, face, baseline)
        return glyph

    def _remember(self, key: tuple[str, int, FontChain], glyph: Glyph) -> None:
        with self._lock:
            if key in self._glyphs:
                return
            self._glyphs[key] = glyph
            self.pixels += glyph.area
            while self.pixels > self.budget and len(self._glyphs) > 1:
                self.pixels -= self._glyphs.pop(next(iter(self._glyphs))).area

    def _rasterise(self, char: str, size: int, face: ImageFont.FreeTypeFont | None = None, baseline: int = 0) -> Glyph:
        """One character through FreeType, placed as it would be inside a line.

        Alone, a glyph's offset comes from FreeType's control box, which can be a
        pixel off from where its bitmap goes inside a line; so the glyph is also
        drawn between two probe glyphs and the offset that reproduces that picture
        is kept: lines composed here match Pillow's own, glyph for glyph (except
        below 10 px, where Pillow cuts descenders to the control box and we keep them).
        A fallback ``face`` is probed between its own probe glyphs, on ``baseline``.
        """
        drawn_by = face or font(size)
        advance = round(drawn_by.getlength(char, mode=_MODE) * 64)
        missing = face is None and not has_glyph(drawn_by, char)
        alone = ink(char, size, face, baseline)
        if alone is None:
            return Glyph(advance, missing=missing)
        x, y, mask = alone
        glyph = Glyph(advance, x, y, x + mask.size[0], y + mask.size[1], mask, missing)
        ref = None if char == _PROBE else self.glyph(_PROBE, size) if face is None \
            else self._probe_of(face, size, baseline)
        if ref is not None:
            probe = ink(_PROBE + char + _PROBE, size, face, baseline)
            for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
                candidate = glyph.moved(dx, dy)
                if probe is not None and _compose([ref, candidate, ref]) == probe:
                    return candidate
        return glyph

    def _fallback_probe(self, face: ImageFont.FreeTypeFont, size: int, baseline: int) -> Glyph | None:
        """A fallback face's own probe glyph on ``baseline``, once per face and size (None: it has none)."""
        return self._rasterise(_PROBE, size, face, baseline) if has_glyph(face, _PROBE) else None

    def _measure_run(self, text: str, size: int, frac: int, fonts: FontChain) -> Line:
        return Line("", 0, 0, 0, 0, frac).then([self.glyph(c, size, fonts) for c in text], "")


#: The cache layout uses unless it is given another.
default_cache = GlyphCache()
