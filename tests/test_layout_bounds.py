"""Laying text out costs what the panel can show, not what was sent: wrapping stops once the lines
no longer fit, and a long word is measured only until it is wider than the panel."""

from __future__ import annotations

import string
from contextlib import contextmanager
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_edge.agent.display.provider import TextOptions
from pi_edge.providers.oled import layout, wrapping
from pi_edge.providers.oled.fonts import BUILT_IN
from pi_edge.providers.oled.glyphs import GlyphCache, default_cache
from pi_edge.providers.oled.layout import plan_text, render

WORD = st.text(alphabet=string.ascii_letters + "°äöü€日本", min_size=1, max_size=12) | \
    st.text(alphabet="Wil.", min_size=40, max_size=160)  # words wider than any panel, some past a run's length
TEXT = st.lists(st.tuples(WORD, st.sampled_from([" ", " ", "  ", "\n", "\n\n"])), max_size=60).map(
    lambda pairs: "".join(w + sep for w, sep in pairs))
OPTIONS = st.builds(TextOptions, align=st.sampled_from(["left", "center", "right"]), wrap=st.booleans(),
                    font_size=st.one_of(st.none(), st.integers(min_value=6, max_value=40)))


@contextmanager
def unbounded(real=wrapping.wrap_lines):  # type: ignore[no-untyped-def]
    """Layout as it was before it knew the panel's size: every line of the text, each measured whole."""
    def wrap(text, size, width, wrap, break_words, fonts, cache, height=None):  # type: ignore[no-untyped-def]
        return real(text, size, width, wrap, break_words, fonts, cache, None)

    def whole(line, text, size, width, fonts, cache, cut=False):  # type: ignore[no-untyped-def]
        return line.then([cache.glyph(c, size, fonts) for c in text], text)

    with mock.patch.object(layout, "wrap_lines", wrap), mock.patch.object(wrapping, "_extend_upto", whole):
        yield


@settings(max_examples=150, deadline=None)
@given(text=TEXT, options=OPTIONS, panel=st.sampled_from([(128, 64), (128, 32), (64, 48)]))
def test_stopping_early_shows_what_wrapping_everything_shows(text, options, panel) -> None:
    bounded = plan_text(text, *panel, options)
    with unbounded():
        whole = plan_text(text, *panel, options)
    if not options.wrap and any(line.text != " ".join(para.split())
                                for line, para in zip(bounded.lines, text.split("\n"), strict=False)):
        return  # a line cut at the panel's edge: placed by what it shows, see the test below
    assert bounded == whole
    assert render(bounded).tobytes() == render(whole).tobytes()
    assert bounded.missing() == whole.missing()


def test_a_line_cut_at_the_edge_shows_its_start_placed_by_what_it_shows() -> None:
    """Without wrapping, a line wider than the panel is shown from its start whatever the alignment,
    and what lies past the edge (here a character no font has, taller than W) neither moves it nor is
    reported."""
    shown = "W" * 60
    for align in ("left", "center", "right"):
        options = TextOptions(align=align, wrap=False, font_size=12)
        plan = plan_text(shown + " \u2603\u2603", 128, 64, options)
        assert plan.truncated and plan.missing() == "" and len(plan.lines) == 1
        cut = plan.lines[0].text
        assert cut == "W" * len(cut), cut
        width = [wrapping.measure(t, 12, BUILT_IN, default_cache).width for t in (cut[:-1], cut)]
        assert width[0] <= 128 < width[1], "not cut at the edge"
        alone = render(plan_text(shown, 128, 64, TextOptions(align="left", wrap=False, font_size=12)))
        assert render(plan).tobytes() == alone.tobytes(), align


def test_a_huge_text_of_distinct_characters_rasterises_only_what_fits(monkeypatch) -> None:
    """20 000 characters the glyph cache has never seen, as one word and as words: a few hundred glyphs
    are drawn (what a panel can hold at the sizes tried), not 20 000 at every size."""
    drawn = []
    distinct = [chr(0x4E00 + i) for i in range(20_000)]
    for text in ("".join(distinct), " ".join("".join(distinct[i:i + 4]) for i in range(0, 20_000, 4))):
        cache = GlyphCache()  # cold
        real = cache._rasterise

        def counting(char, size, *args, real=real):  # type: ignore[no-untyped-def]
            drawn.append(char)
            return real(char, size, *args)

        monkeypatch.setattr(cache, "_rasterise", counting)
        drawn.clear()
        plan = plan_text(text, 128, 64, TextOptions(), cache=cache)
        assert plan.truncated and plan.font_size == layout.MIN_FONT_SIZE
        assert len(drawn) < 2_000, f"{len(drawn)} glyphs rasterised for a {len(text)}-character text"


def test_text_without_ink_is_not_joined_quadratically(tmp_path, monkeypatch) -> None:
    """A braille blank (U+2800) is a glyph without ink in DejaVu Sans: a line of them never gets wider,
    so neither the panel's width nor its height stops the measuring.  Copying the line's text at each
    word made 20 000 of them cost hundreds of millions of characters copied; a few dozen per character
    is linear."""
    from pi_edge.providers.oled.fonts import chain_of
    from tests.fonts import block_font

    fonts = chain_of((str(block_font(tmp_path / "blank.ttf", {"\u2800": None})),))
    copied = 0
    real = wrapping.extend

    def counting(line, text, *args):  # type: ignore[no-untyped-def]
        nonlocal copied
        copied += len(line.text)
        return real(line, text, *args)

    monkeypatch.setattr(wrapping, "extend", counting)
    for text in (" ".join(["\u2800"] * 20_000), "\u2800" * 40_000):
        for wrap in (True, False):
            copied = 0
            plan = plan_text(text, 128, 64, TextOptions(wrap=wrap, font_size=12), fonts)
            assert [line.text for line in plan.lines] == [text] and not plan.truncated
            assert copied < 50 * len(text), f"{copied} characters copied laying out {len(text)} (wrap={wrap})"
