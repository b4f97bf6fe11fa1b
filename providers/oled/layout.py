"""Pure text layout: text + panel size + options -> a 1-bit image.

No I/O here, so every rule (wrapping, fitting, centring) is tested directly.
Glyph extents come from the font's ink box rather than its advance width,
so a line that "fits" never loses a lit pixel at the panel's edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from agent.provider import ALIGNMENTS, TextLayout, TextOptions

from .errors import ValueRangeError

MAX_FONT_SIZE = 64
MIN_FONT_SIZE = 8
#: Explicit sizes outside this range are refused rather than silently clamped.
FONT_SIZE_RANGE = (4, 128)

# Rendering mode "1" turns anti-aliasing off, so measured boxes match the
# pixels that get lit on a 1-bit panel exactly.
_MODE = "1"


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in scalable font; cached because loading costs ~1 ms."""
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class _Line:
    text: str
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def empty(self) -> bool:
        return self.right <= self.left or self.bottom <= self.top


def _measure(text: str, size: int) -> _Line:
    """The ink box of ``text`` drawn at (0, 0) with anchor "la".

    ``getbbox`` includes side bearings, which would put centred text a pixel
    or two off; the rendered mask plus its offset is exactly what gets drawn.
    """
    if not text:
        return _Line("", 0, 0, 0, 0)
    mask, (ox, oy) = font(size).getmask2(text, mode=_MODE, anchor="la")
    box = mask.getbbox()
    if box is None:
        return _Line(text, 0, 0, 0, 0)
    left, top, right, bottom = box
    return _Line(text, ox + left, oy + top, ox + right, oy + bottom)


#: How far (pixels, per edge) an estimate may be from the rasterised ink: pen positions are fractional.
SLACK = 1


@lru_cache(maxsize=8192)
def _glyph(char: str, size: int) -> tuple[float, tuple[int, int, int, int] | None]:
    """One character at the origin: its advance, and its ink box (None when it has no ink)."""
    mask, (ox, oy) = font(size).getmask2(char, mode=_MODE, anchor="la")
    box = mask.getbbox()
    ink = None if box is None else (ox + box[0], oy + box[1], ox + box[2], oy + box[3])
    return float(font(size).getlength(char, mode=_MODE)), ink


def _estimate(text: str, size: int) -> _Line | None:
    """The ink box from cached glyphs alone (no layout call): width and height within ``SLACK``.

    Advances add up exactly (the built-in font has no kerning pairs); the
    rounding of fractional pen positions is what the slack covers.  None when
    the line starts or ends with a character without ink.
    """
    if not text:
        return _Line("", 0, 0, 0, 0)
    glyphs = [_glyph(c, size) for c in text]
    first, last = glyphs[0][1], glyphs[-1][1]
    if first is None or last is None:
        return None
    inks = [ink for _, ink in glyphs if ink is not None]
    pen = sum(advance for advance, _ in glyphs[:-1])
    return _Line(text, first[0], min(i[1] for i in inks), round(pen) + last[2], max(i[3] for i in inks))


def _fits_width(text: str, size: int, width: int) -> bool:
    guess = _estimate(text, size)
    if guess is not None:
        if guess.width + SLACK <= width:
            return True
        if guess.width - SLACK > width:
            return False
    return _measure(text, size).width <= width


def _paragraphs(text: str) -> list[list[str]]:
    """Explicit newlines split paragraphs; other whitespace separates words."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [para.split() for para in text.split("\n")]


def _break_word(word: str, size: int, width: int) -> list[str]:
    """Cut a word that alone is wider than the panel into panel-wide pieces."""
    pieces: list[str] = []
    rest = word
    while rest:
        # Largest prefix that fits, by bisection: long words stay cheap.
        lo, hi = 1, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _fits_width(rest[:mid], size, width):
                lo = mid
            else:
                hi = mid - 1
        pieces.append(rest[:lo])
        rest = rest[lo:]
    return pieces


def wrap_lines(text: str, size: int, width: int, wrap: bool = True) -> list[str]:
    """Greedy word wrap at ``size``; words are broken only when wider than ``width``."""
    lines: list[str] = []
    for words in _paragraphs(text):
        if not wrap:
            lines.append(" ".join(words))
            continue
        current = ""
        for word in words:
            candidate = f"{current} {word}" if current else word
            if _fits_width(candidate, size, width):
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            if _fits_width(word, size, width):
                current = word
            else:
                *whole, current = _break_word(word, size, width)
                lines.extend(whole)
        lines.append(current)
    return lines


def _pitch(size: int) -> int:
    ascent, descent = font(size).getmetrics()
    return int(ascent + descent)


def _block(lines: list[_Line], pitch: int) -> tuple[int, int]:
    """Top and bottom of the ink of ``lines`` stacked ``pitch`` apart."""
    boxes = [(i * pitch + ln.top, i * pitch + ln.bottom) for i, ln in enumerate(lines) if not ln.empty]
    if not boxes:
        return 0, 0
    return min(t for t, _ in boxes), max(b for _, b in boxes)


def _fits(lines: list[_Line], pitch: int, width: int, height: int) -> bool:
    top, bottom = _block(lines, pitch)
    return bottom - top <= height and all(ln.width <= width for ln in lines)


def _try_size(text: str, size: int, width: int, height: int, wrap: bool) -> tuple[list[str], bool]:
    """The wrapped lines at ``size`` and whether they fit; rasterises only when estimates cannot tell."""
    texts = wrap_lines(text, size, width, wrap)
    pitch = _pitch(size)
    guesses = [_estimate(t, size) for t in texts]
    if all(g is not None for g in guesses):
        known = [g for g in guesses if g is not None]
        top, bottom = _block(known, pitch)
        widest = max((g.width for g in known), default=0)
        if widest + SLACK <= width and bottom - top + SLACK <= height:
            return texts, True
        if widest - SLACK > width or bottom - top - SLACK > height:
            return texts, False
    return texts, _fits([_measure(t, size) for t in texts], pitch, width, height)


def _largest_fitting(text: str, width: int, height: int, wrap: bool) -> tuple[int, list[str], bool]:
    """Bisect sizes MAX..MIN for the largest that fits (fit shrinks as size grows)."""
    lo, hi = MIN_FONT_SIZE, MAX_FONT_SIZE
    best: tuple[int, list[str], bool] | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        texts, fits = _try_size(text, mid, width, height, wrap)
        if fits:
            best = (mid, texts, True)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:
        texts, _ = _try_size(text, MIN_FONT_SIZE, width, height, wrap)
        return MIN_FONT_SIZE, texts, False
    return best


def _cut_to_height(lines: list[_Line], pitch: int, height: int) -> list[_Line]:
    kept = list(lines)
    while kept:
        top, bottom = _block(kept, pitch)
        if bottom - top <= height:
            break
        kept.pop()
    return kept


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

    def layout(self) -> TextLayout:
        return TextLayout(lines=len(self.lines), font_size=self.font_size, truncated=self.truncated)


def plan_text(text: str, width: int, height: int, options: TextOptions) -> TextPlan:
    """Wrap, fit and place ``text`` as a sign: aligned, block centred vertically."""
    _check(width, height, options)
    if options.font_size is not None:
        size = options.font_size
        texts, _ = _try_size(text, size, width, height, options.wrap)
    else:
        size, texts, _ = _largest_fitting(text, width, height, options.wrap)
    lines = [_measure(t, size) for t in texts]  # exact ink boxes for placement
    pitch = _pitch(size)
    kept = _cut_to_height(lines, pitch, height)
    truncated = len(kept) < len(lines) or any(ln.width > width for ln in kept)

    top, bottom = _block(kept, pitch)
    y0 = (height - (bottom - top)) // 2 - top
    placed = []
    for i, ln in enumerate(kept):
        if options.align == "left":
            x = -ln.left
        elif options.align == "right":
            x = width - ln.right
        else:
            x = (width - ln.width) // 2 - ln.left
        placed.append(PlacedLine(ln.text, x, y0 + i * pitch))
    return TextPlan(width, height, size, tuple(placed), truncated)


def render(plan: TextPlan, margin: int = 0) -> Image.Image:
    """Draw ``plan`` on a 1-bit image; ``margin`` adds a border (tests use it to see overflow)."""
    image = Image.new("1", (plan.width + 2 * margin, plan.height + 2 * margin), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = _MODE
    for line in plan.lines:
        if line.text:
            draw.text((line.x + margin, line.y + margin), line.text, font=font(plan.font_size), fill=255)
    return image


def layout_text(text: str, width: int, height: int, options: TextOptions) -> tuple[Image.Image, TextLayout]:
    """Render ``text`` as a sign: wrapped, aligned, centred vertically, in a 1-bit image."""
    plan = plan_text(text, width, height, options)
    return render(plan), plan.layout()
