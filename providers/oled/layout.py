"""Pure text layout: text + panel size + options -> a 1-bit image.

The largest font size at which the text fits (``wrapping`` breaks it into
lines, ``glyphs`` measures them), placed as a sign: aligned, the block
centred vertically.  No I/O here, so every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from pi_edge.agent.display.provider import ALIGNMENTS, TextLayout, TextOptions
from pi_edge.providers.oled.errors import ValueRangeError
from pi_edge.providers.oled.fonts import BUILT_IN, FontChain
from pi_edge.providers.oled.glyphs import GlyphCache, Line, default_cache, line_pitch, placed
from pi_edge.providers.oled.wrapping import wrap_lines

MAX_FONT_SIZE = 64
MIN_FONT_SIZE = 8
#: Explicit sizes outside this range are refused rather than silently clamped.
FONT_SIZE_RANGE = (4, 128)


def _built_in_only(text: str) -> bool:
    """Printable ASCII, which the built-in font draws whole (a test holds it to that): nothing to look up."""
    return text.isascii() and text.isprintable()


def _rows(lines: list[Line], pitch: int) -> Iterator[tuple[int, int, int]]:
    """(index, top, bottom) of the ink of each inked line, with lines stacked ``pitch`` apart."""
    for i, ln in enumerate(lines):
        if not ln.empty:
            yield i, i * pitch + ln.top, i * pitch + ln.bottom


def _block(lines: list[Line], pitch: int) -> tuple[int, int]:
    """Top and bottom of the ink of ``lines`` stacked ``pitch`` apart."""
    rows = list(_rows(lines, pitch))
    if not rows:
        return 0, 0
    return min(t for _, t, _ in rows), max(b for _, _, b in rows)


def _fits(lines: list[Line], pitch: int, width: int, height: int) -> bool:
    top, bottom = _block(lines, pitch)
    return bottom - top <= height and all(ln.width <= width for ln in lines)


def _try_size(text: str, size: int, width: int, height: int, wrap: bool, break_words: bool,
              fonts: FontChain, cache: GlyphCache) -> tuple[list[Line], bool]:
    """The wrapped lines at ``size`` and whether they fit (never, if a word would have to be split and may not)."""
    lines = wrap_lines(text, size, width, wrap, break_words, fonts, cache, height)
    if lines is None:
        return [], False
    return lines, _fits(lines, line_pitch(size), width, height)


def _largest_fitting(text: str, width: int, height: int, wrap: bool, fonts: FontChain,
                     cache: GlyphCache) -> tuple[int, list[Line]]:
    """The largest size at which the text fits with every word whole, as a sign is lettered.

    Only a word too wide for the panel even at MIN is split, and then at the
    largest size that fits with it split; MIN (cut to fit) if nothing fits.
    """
    whole = _bisect_sizes(text, width, height, wrap, False, fonts, cache)
    if whole is not None:
        return whole
    at_min = wrap_lines(text, MIN_FONT_SIZE, width, wrap, False, fonts, cache, height)
    if at_min is not None:  # every word fits the width at MIN; the text is just too long: cut it there
        return MIN_FONT_SIZE, at_min
    split = _bisect_sizes(text, width, height, wrap, True, fonts, cache)
    if split is not None:
        return split
    return MIN_FONT_SIZE, wrap_lines(text, MIN_FONT_SIZE, width, wrap, True, fonts, cache, height) or []


def _bisect_sizes(text: str, width: int, height: int, wrap: bool, break_words: bool,
                  fonts: FontChain, cache: GlyphCache) -> tuple[int, list[Line]] | None:
    """Bisect sizes MAX..MIN for the largest that fits (fit shrinks as size grows); None if none does."""
    lo, hi = MIN_FONT_SIZE, MAX_FONT_SIZE
    best: tuple[int, list[Line]] | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        lines, fits = _try_size(text, mid, width, height, wrap, break_words, fonts, cache)
        if fits:
            best = (mid, lines)
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def _cut_to_height(lines: list[Line], pitch: int, height: int) -> list[Line]:
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
    pitch = line_pitch(size)
    kept = _cut_to_height(lines, pitch, height)
    truncated = len(kept) < len(lines) or any(ln.width > width for ln in kept)

    top, bottom = _block(kept, pitch)
    y0 = (height - (bottom - top)) // 2 - top
    where = []
    for i, ln in enumerate(kept):
        if options.align == "left" or ln.width > width:  # a line cut at the edge shows its start
            x = -ln.left
        elif options.align == "right":
            x = width - ln.right
        else:
            x = (width - ln.width) // 2 - ln.left
        where.append(PlacedLine(ln.text, x, y0 + i * pitch))
    return TextPlan(width, height, size, tuple(where), truncated, fonts)


def render(plan: TextPlan, margin: int = 0, cache: GlyphCache | None = None) -> Image.Image:
    """Draw ``plan`` on a 1-bit image; ``margin`` adds a border (tests use it to see overflow)."""
    glyph = (default_cache if cache is None else cache).glyph
    image = Image.new("1", (plan.width + 2 * margin, plan.height + 2 * margin), 0)
    # Straight onto the image's core: Image.paste re-checks modes and boxes on every
    # call, which cost more than the pasting for a line of small glyphs.  Same C call.
    core = image.im
    for line in plan.lines:
        for x, y, mask in placed([glyph(c, plan.font_size, plan.fonts) for c in line.text]):
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
