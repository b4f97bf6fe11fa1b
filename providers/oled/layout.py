"""Pure text layout: text + panel size + options -> a 1-bit image.

No I/O here, so every rule (wrapping, fitting, centring) is tested directly.
Glyph extents come from the font's ink box rather than its advance width,
so a line that "fits" never loses a lit pixel at the panel's edge.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from PIL import Image, ImageFont

from pi_edge.agent.display.provider import ALIGNMENTS, TextLayout, TextOptions
from pi_edge.providers.oled.errors import ValueRangeError
from pi_edge.providers.oled.fonts import BUILT_IN, FontChain, built_in, fallback, has_glyph

MAX_FONT_SIZE = 64
MIN_FONT_SIZE = 8
#: Explicit sizes outside this range are refused rather than silently clamped.
FONT_SIZE_RANGE = (4, 128)

# Rendering mode "1" turns anti-aliasing off, so measured boxes match the
# pixels that get lit on a 1-bit panel exactly.
_MODE = "1"


font = built_in  # the font every line's metrics (pitch, ascent) come from


@dataclass(frozen=True)
class _Glyph:
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

    def moved(self, dx: int, dy: int) -> _Glyph:
        return _Glyph(self.advance, self.x + dx, self.y + dy, self.right + dx, self.bottom + dy, self.mask,
                      self.missing)


#: The glyph a probe line puts on either side of the one being placed.
_PROBE = "H"


FontFace = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _ink(text: str, size: int, face: FontFace | None = None, baseline: int = 0) -> tuple[int, int, Image.Image] | None:
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


#: Glyph pictures kept, in pixels (Pillow stores a byte per pixel): a few thousand glyphs at sign
#: sizes, and a hostile text of thousands of distinct characters at 128 px cannot grow it further.
GLYPH_CACHE_PIXELS = 4 << 20
#: Measured runs kept: a word (or a space and a word) at one size from one pen fraction.  The fit
#: search measures the same words at the same sizes message after message; longer runs are not kept.
RUN_CACHE_SIZE = 4096
RUN_CACHE_MAX_CHARS = 48


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
        self._glyphs: dict[tuple[str, int, FontChain], _Glyph] = {}
        self._lock = threading.Lock()
        #: ``run(text, size, frac, fonts)``: ``text`` measured from a pen ``frac``/64 px into its first
        #: pixel, its ink box relative to that pixel (see ``_extend``).
        self.run = lru_cache(maxsize=runs)(self._measure_run)
        self._probe_of = lru_cache(maxsize=256)(self._fallback_probe)

    def __len__(self) -> int:
        return len(self._glyphs)

    def glyph(self, char: str, size: int, fonts: FontChain = BUILT_IN) -> _Glyph:
        """Rasterised once per character, size and fallback fonts (until evicted, oldest first).

        Lines are composed from these.
        """
        glyph = self._glyphs.get((char, size, fonts))
        if glyph is None:
            glyph = self._rasterise(char, size) if fonts is BUILT_IN else self._rasterise_with(char, size, fonts)
            self._remember((char, size, fonts), glyph)
        return glyph

    def _rasterise_with(self, char: str, size: int, fonts: FontChain) -> _Glyph:
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

    def _remember(self, key: tuple[str, int, FontChain], glyph: _Glyph) -> None:
        with self._lock:
            if key in self._glyphs:
                return
            self._glyphs[key] = glyph
            self.pixels += _area(glyph)
            while self.pixels > self.budget and len(self._glyphs) > 1:
                self.pixels -= _area(self._glyphs.pop(next(iter(self._glyphs))))

    def _rasterise(self, char: str, size: int, face: FontFace | None = None, baseline: int = 0) -> _Glyph:
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
        alone = _ink(char, size, face, baseline)
        if alone is None:
            return _Glyph(advance, missing=missing)
        x, y, mask = alone
        glyph = _Glyph(advance, x, y, x + mask.size[0], y + mask.size[1], mask, missing)
        ref = None if char == _PROBE else self.glyph(_PROBE, size) if face is None \
            else self._probe_of(face, size, baseline)
        if ref is not None:
            probe = _ink(_PROBE + char + _PROBE, size, face, baseline)
            for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
                candidate = glyph.moved(dx, dy)
                if probe is not None and _compose([ref, candidate, ref]) == probe:
                    return candidate
        return glyph

    def _fallback_probe(self, face: FontFace, size: int, baseline: int) -> _Glyph | None:
        """A fallback face's own probe glyph on ``baseline``, once per face and size (None: it has none)."""
        return self._rasterise(_PROBE, size, face, baseline) if has_glyph(face, _PROBE) else None

    def _measure_run(self, text: str, size: int, frac: int, fonts: FontChain) -> _Line:
        return _Line("", 0, 0, 0, 0, frac).then([self.glyph(c, size, fonts) for c in text], "")


#: The cache layout uses unless it is given another.
default_cache = GlyphCache()


def _area(glyph: _Glyph) -> int:
    return (glyph.right - glyph.x) * (glyph.bottom - glyph.y) if glyph.mask is not None else 0


def _compose(glyphs: list[_Glyph]) -> tuple[int, int, Image.Image] | None:
    """A line of glyphs as one cropped ink picture (x, y, mask), as ``_ink`` gives Pillow's."""
    line = _START.then(glyphs, "")
    if line.empty:
        return None
    mask = Image.new("L", (line.width, line.bottom - line.top), 0)
    for x, y, glyph in _placed(glyphs):
        mask.paste(255, (x - line.left, y - line.top), glyph)
    return line.left, line.top, mask


def _placed(glyphs: list[_Glyph]) -> Iterator[tuple[int, int, Image.Image]]:
    """Where each inked glyph of a line goes relative to its "la" anchor: the pen walk of ``_Line.then``."""
    pen = 0
    for g in glyphs:
        if g.mask is not None:
            yield ((pen + 32) >> 6) + g.x, g.y, g.mask
        pen += g.advance


class _Line(NamedTuple):
    """A line's ink box relative to its "la" anchor and where its pen ended: all that fitting needs.

    A tuple, and no pictures in it: the font-size search builds dozens of these
    per message and only the chosen lines are ever drawn (``_placed``).
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

    def then(self, glyphs: list[_Glyph], text: str) -> _Line:
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
            return _Line(self.text + text, 0, 0, 0, 0, pen)
        return _Line(self.text + text, left, top, right, bottom, pen)


_NO_INK = (1 << 30, 1 << 30, -(1 << 30), -(1 << 30))
_START = _Line("", 0, 0, 0, 0)


def _extend(line: _Line, text: str, size: int, fonts: FontChain, cache: GlyphCache) -> _Line:
    """``line`` with ``text`` after it; a short run is measured once per size and pen fraction, then shifted.

    A glyph's pixel is (pen + 32) >> 6, so a run's ink relative to the pen's
    pixel depends only on the pen's fraction: the same run anywhere else in a
    line is the same box moved by whole pixels.
    """
    if len(text) > RUN_CACHE_MAX_CHARS:
        return line.then([cache.glyph(c, size, fonts) for c in text], text)
    run = cache.run(text, size, line.pen & 63, fonts)
    shift = line.pen >> 6
    pen = (shift << 6) + run.pen
    if run.right <= run.left:  # no ink in the run: only the pen moves
        return _Line(line.text + text, line.left, line.top, line.right, line.bottom, pen)
    left, right = shift + run.left, shift + run.right
    if line.right <= line.left:
        return _Line(line.text + text, left, run.top, right, run.bottom, pen)
    return _Line(line.text + text, min(line.left, left), min(line.top, run.top), max(line.right, right),
                 max(line.bottom, run.bottom), pen)


def _measure(text: str, size: int, fonts: FontChain, cache: GlyphCache) -> _Line:
    """The exact ink box of ``text`` drawn at (0, 0) with anchor "la": the box ``render`` fills.

    Side bearings are not ink, so centring uses this box rather than the
    advance width; built from cached glyphs, so measuring costs no rasterising.
    """
    return _extend(_START, text, size, fonts, cache)


def _paragraphs(text: str) -> list[list[str]]:
    """Explicit newlines split paragraphs; other whitespace separates words."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [para.split() for para in text.split("\n")]


def _extend_upto(line: _Line, text: str, size: int, width: int, fonts: FontChain, cache: GlyphCache,
                 cut: bool = False) -> _Line:
    """``line`` with ``text`` after it, measured only until it is wider than ``width``.

    A long text is measured a run at a time and left after the run that makes
    it too wide, so a 64 KiB word costs what the panel can show, not its length.
    With ``cut``, it ends exactly at the glyph that crosses ``width`` (its
    ``text`` is then the part measured): what a line cut at the panel's edge
    shows, and all that places it.
    """
    if len(text) <= RUN_CACHE_MAX_CHARS and not cut:
        return _extend(line, text, size, fonts, cache)  # most words: one cached run
    # Measured without its text, spelt once at the end: text without ink (a braille blank, a zero-width
    # space) never gets wider, and joining it run by run would be quadratic.
    spelt, line = line.text, line._replace(text="")
    for start in range(0, len(text), RUN_CACHE_MAX_CHARS):
        run = text[start:start + RUN_CACHE_MAX_CHARS]
        longer = _extend(line, run, size, fonts, cache)._replace(text="")
        if longer.width > width:
            if not cut:
                return longer._replace(text=spelt + text[:start + len(run)])
            for i, char in enumerate(run):
                line = _extend(line, char, size, fonts, cache)._replace(text="")
                if line.width > width:
                    return line._replace(text=spelt + text[:start + i + 1])
        line = longer
    return line._replace(text=spelt + text)


def _break_word(word: str, size: int, width: int, fonts: FontChain, cache: GlyphCache) -> Iterator[_Line]:
    """Cut a word that alone is wider than the panel into panel-wide pieces, as they are needed.

    A line only widens as glyphs are added, so growing it glyph by glyph finds
    each cut in one pass, and a caller that has all the lines it can show stops
    asking: a 64 KiB word costs what fits on the panel.
    """
    line, start = _START, 0
    for i, char in enumerate(word):
        longer = _extend(line, char, size, fonts, cache)._replace(text="")  # spelt at the cut: no quadratic joins
        if longer.width > width and i > start:
            yield line._replace(text=word[start:i])
            line, start = _extend(_START, char, size, fonts, cache)._replace(text=""), i
        else:
            line = longer
    yield line._replace(text=word[start:])


def _built_in_only(text: str) -> bool:
    """Printable ASCII, which the built-in font draws whole (a test holds it to that): nothing to look up."""
    return text.isascii() and text.isprintable()


class _Stack:
    """Lines stacked ``pitch`` apart as wrapping makes them; says when their ink is taller than ``height``."""

    def __init__(self, pitch: int, height: int | None) -> None:
        self.lines: list[_Line] = []
        self.pitch, self.height = pitch, height
        self.top = self.bottom = 0
        self.inked = False

    def full_after(self, line: _Line) -> bool:
        """Add ``line``; True once the stack no longer fits (it only grows, so it never will again)."""
        self.lines.append(line)
        if self.height is None or line.empty:
            return False
        y = (len(self.lines) - 1) * self.pitch
        if not self.inked:
            self.top, self.bottom, self.inked = y + line.top, y + line.bottom, True
        else:
            self.top, self.bottom = min(self.top, y + line.top), max(self.bottom, y + line.bottom)
        return self.bottom - self.top > self.height


def _wrap(text: str, size: int, width: int, wrap: bool, break_words: bool, fonts: FontChain,
          cache: GlyphCache, height: int | None = None) -> list[_Line] | None:
    """Greedy word wrap at ``size``, lines measured as they grow.

    A word wider than ``width`` is cut into pieces, or with ``break_words=False``
    the answer is None (this size would have to split a word).  A line grows
    word by word from its measured self, so wrapping costs one glyph lookup per
    character.  With ``height``, wrapping stops at the first line that makes
    the block taller than that (it is kept, so the caller sees the text does not
    fit, and the lines before it are those that would be shown): the work is
    bounded by the panel, not by the length of the text.
    """
    stack = _Stack(_pitch(size), height)
    for words in _paragraphs(text):
        if not wrap:
            if stack.full_after(_extend_upto(_START, " ".join(words), size, width, fonts, cache, cut=True)):
                return stack.lines
            continue
        current: _Line | None = None
        spelt: list[str] = []  # the start of current's text, handed over as it grows (see _SPELT_CHUNK)
        for word in words:
            if current is not None:
                candidate = _extend(current, " " + word, size, fonts, cache) if len(word) < RUN_CACHE_MAX_CHARS \
                    else _extend_upto(current, " " + word, size, width, fonts, cache)
                if candidate.width <= width:
                    current = candidate
                    if len(current.text) > _SPELT_CHUNK:
                        spelt.append(current.text)
                        current = current._replace(text="")
                    continue
                if stack.full_after(_spelt(current, spelt) if spelt else current):
                    return stack.lines
                spelt = []
            current = _extend_upto(_START, word, size, width, fonts, cache)
            if current.width > width:
                if not break_words:
                    return None
                pieces = _break_word(word, size, width, fonts, cache)
                current = next(pieces)
                for piece in pieces:
                    if stack.full_after(current):
                        return stack.lines
                    current = piece
        if stack.full_after(_START if current is None else _spelt(current, spelt) if spelt else current):
            return stack.lines
    return stack.lines


#: A growing line's text is set aside past this many characters: words without ink (braille blanks,
#: zero-width spaces from a fallback font) never make a line wider, and joining such a line word by
#: word would cost the square of its length.
_SPELT_CHUNK = 64


def _spelt(line: _Line, spelt: list[str]) -> _Line:
    """``line`` with the text set aside while it grew put back in front."""
    return line._replace(text="".join(spelt) + line.text) if spelt else line


@cache
def _pitch(size: int) -> int:
    ascent, descent = font(size).getmetrics()
    return int(ascent + descent)


def _rows(lines: list[_Line], pitch: int) -> Iterator[tuple[int, int, int]]:
    """(index, top, bottom) of the ink of each inked line, with lines stacked ``pitch`` apart."""
    for i, ln in enumerate(lines):
        if not ln.empty:
            yield i, i * pitch + ln.top, i * pitch + ln.bottom


def _block(lines: list[_Line], pitch: int) -> tuple[int, int]:
    """Top and bottom of the ink of ``lines`` stacked ``pitch`` apart."""
    rows = list(_rows(lines, pitch))
    if not rows:
        return 0, 0
    return min(t for _, t, _ in rows), max(b for _, _, b in rows)


def _fits(lines: list[_Line], pitch: int, width: int, height: int) -> bool:
    top, bottom = _block(lines, pitch)
    return bottom - top <= height and all(ln.width <= width for ln in lines)


def _try_size(text: str, size: int, width: int, height: int, wrap: bool, break_words: bool,
              fonts: FontChain, cache: GlyphCache) -> tuple[list[_Line], bool]:
    """The wrapped lines at ``size`` and whether they fit (never, if a word would have to be split and may not)."""
    lines = _wrap(text, size, width, wrap, break_words, fonts, cache, height)
    if lines is None:
        return [], False
    return lines, _fits(lines, _pitch(size), width, height)


def _largest_fitting(text: str, width: int, height: int, wrap: bool, fonts: FontChain,
                     cache: GlyphCache) -> tuple[int, list[_Line]]:
    """The largest size at which the text fits with every word whole, as a sign is lettered.

    Only a word too wide for the panel even at MIN is split, and then at the
    largest size that fits with it split; MIN (cut to fit) if nothing fits.
    """
    whole = _bisect_sizes(text, width, height, wrap, False, fonts, cache)
    if whole is not None:
        return whole
    at_min = _wrap(text, MIN_FONT_SIZE, width, wrap, False, fonts, cache, height)
    if at_min is not None:  # every word fits the width at MIN; the text is just too long: cut it there
        return MIN_FONT_SIZE, at_min
    split = _bisect_sizes(text, width, height, wrap, True, fonts, cache)
    if split is not None:
        return split
    return MIN_FONT_SIZE, _wrap(text, MIN_FONT_SIZE, width, wrap, True, fonts, cache, height) or []


def _bisect_sizes(text: str, width: int, height: int, wrap: bool, break_words: bool,
                  fonts: FontChain, cache: GlyphCache) -> tuple[int, list[_Line]] | None:
    """Bisect sizes MAX..MIN for the largest that fits (fit shrinks as size grows); None if none does."""
    lo, hi = MIN_FONT_SIZE, MAX_FONT_SIZE
    best: tuple[int, list[_Line]] | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        lines, fits = _try_size(text, mid, width, height, wrap, break_words, fonts, cache)
        if fits:
            best = (mid, lines)
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def _cut_to_height(lines: list[_Line], pitch: int, height: int) -> list[_Line]:
    """The longest run of lines from the top whose ink fits ``height`` (a block only grows line by line)."""
    top = bottom = None
    for i, line_top, line_bottom in _rows(lines, pitch):
        top = line_top if top is None else min(top, line_top)
        bottom = line_bottom if bottom is None else max(bottom, line_bottom)
        if bottom - top > height:
            return lines[:i]
    return list(lines)


def _check(width: int, height: int, options: TextOptions) -> None:
    if width <= 0 or height <= 0:
        raise ValueRangeError(f"panel size must be positive, got {width}x{height}")
    if options.align not in ALIGNMENTS:
        raise ValueRangeError(f"align {options.align!r} is not one of {', '.join(ALIGNMENTS)}")
    lo, hi = FONT_SIZE_RANGE
    if options.font_size is not None and not lo <= options.font_size <= hi:
        raise ValueRangeError(
            f"font size {options.font_size} is outside {lo}..{hi}; omit it to fit the text to the screen"
        )


@dataclass(frozen=True)
class PlacedLine:
    """One line of text and where its ``"la"`` anchor goes on the panel."""

    text: str
    x: int
    y: int


@dataclass(frozen=True)
class TextPlan:
    """Where every line goes; rendering it is the only step that draws."""

    width: int
    height: int
    font_size: int
    lines: tuple[PlacedLine, ...]
    truncated: bool
    fonts: FontChain = BUILT_IN

    def missing(self, cache: GlyphCache | None = None) -> str:
        """The characters on the panel that no font had (each once, in reading order): drawn as boxes."""
        glyph = (default_cache if cache is None else cache).glyph
        found = dict.fromkeys(c for line in self.lines if not _built_in_only(line.text) for c in line.text
                              if glyph(c, self.font_size, self.fonts).missing)
        return "".join(found)

    def layout(self, cache: GlyphCache | None = None) -> TextLayout:
        return TextLayout(lines=len(self.lines), font_size=self.font_size, truncated=self.truncated,
                          missing=self.missing(cache))


def plan_text(text: str, width: int, height: int, options: TextOptions, fonts: FontChain = BUILT_IN,
              cache: GlyphCache | None = None) -> TextPlan:
    """Wrap, fit and place ``text`` as a sign: aligned, block centred vertically.

    Characters the built-in font lacks are drawn from the first of ``fonts`` that has them.
    Glyphs come from ``cache`` (``default_cache`` unless given).
    """
    _check(width, height, options)
    cache = default_cache if cache is None else cache
    if options.font_size is not None:
        size = options.font_size
        lines, _ = _try_size(text, size, width, height, options.wrap, True, fonts, cache)
    else:
        size, lines = _largest_fitting(text, width, height, options.wrap, fonts, cache)
    pitch = _pitch(size)
    kept = _cut_to_height(lines, pitch, height)
    truncated = len(kept) < len(lines) or any(ln.width > width for ln in kept)

    top, bottom = _block(kept, pitch)
    y0 = (height - (bottom - top)) // 2 - top
    placed = []
    for i, ln in enumerate(kept):
        if options.align == "left" or ln.width > width:  # a line cut at the edge shows its start
            x = -ln.left
        elif options.align == "right":
            x = width - ln.right
        else:
            x = (width - ln.width) // 2 - ln.left
        placed.append(PlacedLine(ln.text, x, y0 + i * pitch))
    return TextPlan(width, height, size, tuple(placed), truncated, fonts)


def render(plan: TextPlan, margin: int = 0, cache: GlyphCache | None = None) -> Image.Image:
    """Draw ``plan`` on a 1-bit image; ``margin`` adds a border (tests use it to see overflow)."""
    glyph = (default_cache if cache is None else cache).glyph
    image = Image.new("1", (plan.width + 2 * margin, plan.height + 2 * margin), 0)
    # Straight onto the image's core: Image.paste re-checks modes and boxes on every
    # call, which cost more than the pasting for a line of small glyphs.  Same C call.
    core = image.im
    for line in plan.lines:
        for x, y, mask in _placed([glyph(c, plan.font_size, plan.fonts) for c in line.text]):
            left, top = line.x + x + margin, line.y + y + margin
            width, height = mask.size
            core.paste(255, (left, top, left + width, top + height), mask.im)
    return image


def layout_text(text: str, width: int, height: int, options: TextOptions, fonts: FontChain = BUILT_IN,
                cache: GlyphCache | None = None) -> tuple[Image.Image, TextLayout]:
    """Render ``text`` as a sign: wrapped, aligned, centred vertically, in a 1-bit image."""
    cache = default_cache if cache is None else cache
    plan = plan_text(text, width, height, options, fonts, cache)
    return render(plan, 0, cache), plan.layout(cache)
