"""Text broken into lines no wider than the panel, each line measured as it grows.

The work is bounded by what the panel can show: a word is measured only
until it is wider than the panel, and wrapping stops at the first line that
makes the block taller than the panel.  Measuring goes through a
``GlyphCache``: runs of glyphs are measured once per size and pen fraction.
"""

from __future__ import annotations

from collections.abc import Iterator

from pi_edge.providers.oled.fonts import FontChain
from pi_edge.providers.oled.glyphs import START, GlyphCache, Line, line_pitch

#: Runs up to this many characters are measured once and kept (``GlyphCache.run``); longer ones are
#: measured in place, so a hostile word does not sit in the cache.
RUN_CACHE_MAX_CHARS = 48


def extend(line: Line, text: str, size: int, fonts: FontChain, cache: GlyphCache) -> Line:
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
        return Line(line.text + text, line.left, line.top, line.right, line.bottom, pen)
    left, right = shift + run.left, shift + run.right
    if line.right <= line.left:
        return Line(line.text + text, left, run.top, right, run.bottom, pen)
    return Line(line.text + text, min(line.left, left), min(line.top, run.top), max(line.right, right),
                max(line.bottom, run.bottom), pen)


def measure(text: str, size: int, fonts: FontChain, cache: GlyphCache) -> Line:
    """The exact ink box of ``text`` drawn at (0, 0) with anchor "la": the box ``render`` fills.

    Side bearings are not ink, so centring uses this box rather than the
    advance width; built from cached glyphs, so measuring costs no rasterising.
    """
    return extend(START, text, size, fonts, cache)


def _paragraphs(text: str) -> list[list[str]]:
    """Explicit newlines split paragraphs; other whitespace separates words."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [para.split() for para in text.split("\n")]


def _extend_upto(line: Line, text: str, size: int, width: int, fonts: FontChain, cache: GlyphCache,
                 cut: bool = False) -> Line:
    """``line`` with ``text`` after it, measured only until it is wider than ``width``.

    A long text is measured a run at a time and left after the run that makes
    it too wide, so a 64 KiB word costs what the panel can show, not its length.
    With ``cut``, it ends exactly at the glyph that crosses ``width`` (its
    ``text`` is then the part measured): what a line cut at the panel's edge
    shows, and all that places it.
    """
    if len(text) <= RUN_CACHE_MAX_CHARS and not cut:
        return extend(line, text, size, fonts, cache)  # most words: one cached run
    # Measured without its text, spelt once at the end: text without ink (a braille blank, a zero-width
    # space) never gets wider, and joining it run by run would be quadratic.
    spelt, line = line.text, line._replace(text="")
    for start in range(0, len(text), RUN_CACHE_MAX_CHARS):
        run = text[start:start + RUN_CACHE_MAX_CHARS]
        longer = extend(line, run, size, fonts, cache)._replace(text="")
        if longer.width > width:
            if not cut:
                return longer._replace(text=spelt + text[:start + len(run)])
            for i, char in enumerate(run):
                line = extend(line, char, size, fonts, cache)._replace(text="")
                if line.width > width:
                    return line._replace(text=spelt + text[:start + i + 1])
        line = longer
    return line._replace(text=spelt + text)


def _break_word(word: str, size: int, width: int, fonts: FontChain, cache: GlyphCache) -> Iterator[Line]:
    """Cut a word that alone is wider than the panel into panel-wide pieces, as they are needed.

    A line only widens as glyphs are added, so growing it glyph by glyph finds
    each cut in one pass, and a caller that has all the lines it can show stops
    asking: a 64 KiB word costs what fits on the panel.
    """
    line, start = START, 0
    for i, char in enumerate(word):
        longer = extend(line, char, size, fonts, cache)._replace(text="")  # spelt at the cut: no quadratic joins
        if longer.width > width and i > start:
            yield line._replace(text=word[start:i])
            line, start = extend(START, char, size, fonts, cache)._replace(text=""), i
        else:
            line = longer
    yield line._replace(text=word[start:])


class _Stack:
    """Lines stacked ``pitch`` apart as wrapping makes them; says when their ink is taller than ``height``."""

    def __init__(self, pitch: int, height: int | None) -> None:
        self.lines: list[Line] = []
        self.pitch, self.height = pitch, height
        self.top = self.bottom = 0
        self.inked = False

    def full_after(self, line: Line) -> bool:
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


def wrap_lines(text: str, size: int, width: int, wrap: bool, break_words: bool, fonts: FontChain,
               cache: GlyphCache, height: int | None = None) -> list[Line] | None:
    """Greedy word wrap at ``size``, lines measured as they grow.

    A word wider than ``width`` is cut into pieces, or with ``break_words=False``
    the answer is None (this size would have to split a word).  A line grows
    word by word from its measured self, so wrapping costs one glyph lookup per
    character.  With ``height``, wrapping stops at the first line that makes
    the block taller than that (it is kept, so the caller sees the text does not
    fit, and the lines before it are those that would be shown): the work is
    bounded by the panel, not by the length of the text.
    """
    stack = _Stack(line_pitch(size), height)
    for words in _paragraphs(text):
        if not wrap:
            if stack.full_after(_extend_upto(START, " ".join(words), size, width, fonts, cache, cut=True)):
                return stack.lines
            continue
        current: Line | None = None
        spelt: list[str] = []  # the start of current's text, handed over as it grows (see _SPELT_CHUNK)
        for word in words:
            if current is not None:
                candidate = extend(current, " " + word, size, fonts, cache) if len(word) < RUN_CACHE_MAX_CHARS \
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
            current = _extend_upto(START, word, size, width, fonts, cache)
            if current.width > width:
                if not break_words:
                    return None
                pieces = _break_word(word, size, width, fonts, cache)
                current = next(pieces)
                for piece in pieces:
                    if stack.full_after(current):
                        return stack.lines
                    current = piece
        if stack.full_after(START if current is None else _spelt(current, spelt) if spelt else current):
            return stack.lines
    return stack.lines


#: A growing line's text is set aside past this many characters: words without ink (braille blanks,
#: zero-width spaces from a fallback font) never make a line wider, and joining such a line word by
#: word would cost the square of its length.
_SPELT_CHUNK = 64


def _spelt(line: Line, spelt: list[str]) -> Line:
    """``line`` with the text set aside while it grew put back in front."""
    return line._replace(text="".join(spelt) + line.text) if spelt else line

