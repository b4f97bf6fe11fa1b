"""The layout composes lines from cached glyphs instead of asking FreeType per line; this holds it to that.

Two promises: a line looks exactly as Pillow would draw it (so the cache is
only a speed-up), and the ink box the layout measures is exactly the ink it
draws (so a line judged to fit never loses a lit pixel at the panel's edge).
"""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pi_edge.providers.oled import wrapping
from pi_edge.providers.oled.fonts import BUILT_IN, FontChain
from pi_edge.providers.oled.glyphs import START, Glyph, GlyphCache, Line, default_cache, ink
from pi_edge.providers.oled.layout import MAX_FONT_SIZE, PlacedLine, TextPlan, render


def _glyph(char: str, size: int) -> Glyph:
    return default_cache.glyph(char, size)


def _measure(text: str, size: int) -> Line:
    return wrapping.measure(text, size, BUILT_IN, default_cache)


TEXT = st.text(alphabet=st.sampled_from(string.printable[:95] + "°—äöüßéñ€"), min_size=1, max_size=24)


@given(text=TEXT, size=st.integers(10, MAX_FONT_SIZE))
@settings(max_examples=400, deadline=None)
def test_a_composed_line_is_pillows_line_pixel_for_pixel(text, size):
    """Below 10 px Pillow clips descenders to the glyphs' control box; ours keeps them, so those sizes differ."""
    ours = render(TextPlan(1600, 120, size, (PlacedLine(text, 0, 0),), False), margin=20)
    theirs = ink(text, size)
    line = _measure(text, size)
    if theirs is None:
        assert line.empty and ours.getbbox() is None
        return
    box = ours.getbbox()
    assert box is not None, (text, size)
    assert ours.crop(box).convert("L").tobytes() == theirs[2].tobytes(), (text, size)
    assert (box[2] - box[0], box[3] - box[1]) == theirs[2].size, (text, size)


@given(text=TEXT, size=st.integers(4, 128), x=st.integers(-30, 30), y=st.integers(-30, 30))
@settings(max_examples=400, deadline=None)
def test_the_measured_ink_box_is_exactly_the_ink_drawn(text, size, x, y):
    margin = 200
    image = render(TextPlan(3200, 200, size, (PlacedLine(text, x, y),), False), margin=margin)
    line = _measure(text, size)
    box = image.getbbox()
    if line.empty:
        assert box is None
        return
    assert box == (line.left + x + margin, line.top + y + margin, line.right + x + margin, line.bottom + y + margin)


def test_a_glyph_that_sits_a_pixel_off_alone_is_placed_as_in_a_line():
    """'Y' at 17 px: its control box starts a pixel left of its bitmap, which Pillow honours only alone."""
    alone = ink("Y", 17)
    assert alone is not None
    assert _glyph("Y", 17).x == alone[0] + 1
    assert render(TextPlan(100, 40, 17, (PlacedLine("HYH", 0, 0),), False)) == _pillow_picture("HYH", 17, (100, 40))


def _pillow_picture(text: str, size: int, dims: tuple[int, int]) -> Image.Image:
    from PIL import ImageDraw

    from pi_edge.providers.oled.glyphs import font

    image = Image.new("1", dims, 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.text((0, 0), text, font=font(size), fill=255)
    return image


def test_the_glyph_cache_keeps_to_its_pixel_budget():
    """A text of many distinct characters at a huge size evicts old glyphs instead of growing without end."""
    from pi_edge.agent.display.provider import TextOptions
    from pi_edge.providers.oled.layout import plan_text

    cache = GlyphCache(pixels=50_000)
    hostile = " ".join(chr(c) for c in range(0x4E00, 0x4E00 + 80))  # 80 distinct characters, ~3500 px each
    # A panel tall enough for all of them: layout only rasterises what a panel can show.
    plan = plan_text(hostile, 128, 8192, TextOptions(font_size=64, wrap=True), cache=cache)
    render(plan, cache=cache)
    pixels = sum(g.area for g in cache._glyphs.values())
    assert pixels <= 50_000
    assert len(cache) > 1
    assert pixels == cache.pixels


def test_the_oldest_glyphs_leave_the_cache_first():
    """Eviction goes by when a glyph was drawn, not when it was last used (a hit costs no bookkeeping)."""
    def area(char: str) -> int:
        g = default_cache.glyph(char, 64)
        return (g.right - g.x) * (g.bottom - g.y)

    cache = GlyphCache(pixels=area("H") + area("W") + area("M"))
    for char in "WMH.":  # W brings H, the probe glyph it is placed against, in first
        cache.glyph(char, 64)
    assert [key[0] for key in cache._glyphs] == ["W", "M", "."]  # H went first though just used
    assert cache.pixels == area("W") + area("M") + area(".")


def test_a_fresh_cache_starts_cold_and_leaves_the_shared_one_alone():
    """A cache passed in is the only one used: glyphs and measured runs land there, not in the shared one."""
    from pi_edge.agent.display.provider import TextOptions
    from pi_edge.providers.oled.layout import layout_text

    text = "\u2603 fresh ZQ"
    before = (list(default_cache._glyphs), default_cache.run.cache_info())
    cache = GlyphCache()
    image, layout = layout_text(text, 128, 64, TextOptions(), cache=cache)
    assert ("\u2603", layout.font_size, BUILT_IN) in cache._glyphs and cache.run.cache_info().currsize > 0
    assert (list(default_cache._glyphs), default_cache.run.cache_info()) == before
    assert image.tobytes() == layout_text(text, 128, 64, TextOptions())[0].tobytes()  # same picture either way


@given(prefix=TEXT, text=TEXT, size=st.integers(4, 128))
@settings(max_examples=400, deadline=None)
def test_a_run_measured_once_and_shifted_is_the_run_measured_in_place(prefix, text, size):
    """Runs are kept per pen fraction; placed after any prefix they must give the glyph-by-glyph answer."""
    line = START.then([_glyph(c, size) for c in prefix], prefix)
    by_glyph = line.then([_glyph(c, size) for c in text], text)
    assert wrapping.extend(line, text, size, BUILT_IN, default_cache) == by_glyph
    assert wrapping.extend(line, text, size, BUILT_IN, default_cache) == by_glyph  # and again, from the kept run


def test_long_runs_are_measured_but_not_kept():
    """The run cache holds sign-sized words; a hostile 10 000-character word must not sit in it."""
    cache = GlyphCache()
    word = "w" * 10_000
    assert wrapping.measure(word, 12, BUILT_IN, cache) == START.then([_glyph(c, 12) for c in word], word)
    assert cache.run.cache_info().currsize == 0
    wrapping.measure("short", 12, BUILT_IN, cache)
    assert cache.run.cache_info().currsize == 1


def test_runs_after_a_pen_between_pixels_are_measured_as_in_place(monkeypatch):
    """The built-in font advances whole pixels in mode "1"; a font whose pens fall between pixels must
    measure the same through the run cache as glyph by glyph, from every one of the 64 fractions."""
    real = default_cache.glyph
    nudge = {"n": 0}

    def between_pixels(char: str, size: int, fonts: FontChain = BUILT_IN) -> Glyph:
        g = real(char, size, fonts)
        return Glyph(g.advance + nudge["n"], g.x, g.y, g.right, g.bottom, g.mask)

    for n in range(64):
        nudge["n"] = n
        cache = GlyphCache()  # runs kept under another nudge would be another font's
        monkeypatch.setattr(cache, "glyph", between_pixels)
        for prefix in ("a", "Wi", "sign "):
            line = START.then([between_pixels(c, 17) for c in prefix], prefix)
            for text in ("x", " word", "Hello!", "  "):
                expected = line.then([between_pixels(c, 17) for c in text], text)
                assert wrapping.extend(line, text, 17, BUILT_IN, cache) == expected
