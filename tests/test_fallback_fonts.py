"""Characters Pillow's built-in font lacks are drawn from a fallback font, on the same baseline,
and what no font has is reported instead of silently drawn as a box."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from PIL import Image

from pi_edge.agent.display.provider import TextOptions
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.errors import OledConfigError
from pi_edge.providers.oled.fonts import BUILT_IN, built_in, chain_of, has_glyph, system_chain
from pi_edge.providers.oled.layout import layout_text, plan_text, render
from tests.fonts import block_font

SIZE = 20  # px: 1000 font units are 20 pixels, so a block's corners fall on whole pixels
LEFT = TextOptions(align="left", wrap=False, font_size=SIZE)
#: ü is a block 8 px wide and 10 px tall standing on the baseline; ß hangs 4 px below it.
BLOCKS = {"ü": (100, 0, 500, 500), "ß": (100, -200, 300, 300)}


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return block_font(tmp_path_factory.mktemp("fonts") / "blocks.ttf", BLOCKS)


def ink_boxes(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """The ink of each run of lit columns, left to right: (left, top, right, bottom)."""
    width, height = image.size
    px = image.load()
    lit = [any(px[x, y] for y in range(height)) for x in range(width)]
    boxes, x = [], 0
    while x < width:
        if not lit[x]:
            x += 1
            continue
        start = x
        while x < width and lit[x]:
            x += 1
        box = image.crop((start, 0, x, height)).getbbox()
        assert box is not None
        boxes.append((start, box[1], x, box[3]))
    return boxes


def solid(image: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return set(image.crop(box).convert("L").tobytes()) == {255}


def test_the_built_in_font_has_ascii_and_a_few_signs_but_no_accents() -> None:
    face = built_in(SIZE)
    assert has_glyph(face, "a") and has_glyph(face, "°") and has_glyph(face, "…")
    assert not has_glyph(face, "ü") and not has_glyph(face, "€") and not has_glyph(face, "日")


def test_a_missing_character_comes_from_the_fallback_font_on_the_same_baseline(blocks: Path) -> None:
    fonts = chain_of((str(blocks),))
    image, layout = layout_text("Hü", 128, 32, LEFT, fonts)
    assert layout.missing == ""
    (h_box, u_box) = ink_boxes(image)
    left, top, right, bottom = u_box
    assert (right - left, bottom - top) == (8, 10), u_box  # the fallback's block, at the built-in font's size
    assert solid(image, u_box)
    assert bottom == h_box[3], f"ü stands at row {bottom}, H on the baseline at row {h_box[3]}"
    # ß descends 4 px below the baseline: fitting and drawing see the fallback glyph's real extent.
    image, _ = layout_text("Hß", 128, 32, LEFT, fonts)
    (h_box, s_box) = ink_boxes(image)
    assert s_box[3] == h_box[3] + 4 and s_box[3] - s_box[1] == 10 and solid(image, s_box)


@pytest.mark.parametrize("size", [SIZE, None], ids=["fixed-size", "fit-to-panel"])
def test_lines_are_measured_with_the_fallback_glyphs(blocks: Path, size: int | None) -> None:
    """Right-aligned, the fallback's block must end on the panel's last column: measured, not guessed."""
    image, _ = layout_text("Hü", 128, 32, TextOptions(align="right", wrap=False, font_size=size),
                           chain_of((str(blocks),)))
    *_, u_box = ink_boxes(image)
    assert u_box[2] == 128 and solid(image, u_box), u_box


def test_without_a_fallback_the_box_is_drawn_and_reported(blocks: Path) -> None:
    image, layout = layout_text("Hü", 128, 32, LEFT, BUILT_IN)
    assert layout.missing == "ü"
    _, box = ink_boxes(image)
    assert not solid(image, box), "the built-in font's box is an outline, not the fallback's block"


def test_what_no_font_has_is_reported_once_in_reading_order(blocks: Path) -> None:
    fonts = chain_of((str(blocks),))
    _, layout = layout_text("☃ a ü ☃ b 日", 128, 64, TextOptions(), fonts)
    assert layout.missing == "☃日"


def test_a_control_character_in_an_ascii_line_is_reported() -> None:
    assert layout_text("tab\x00nul\x7f", 128, 64, TextOptions())[1].missing == "\x00\x7f"


def test_an_invisible_character_with_a_fallback_font_without_a_space_is_reported_not_raised(blocks: Path,
                                                                                             tmp_path: Path) -> None:
    """A soft hyphen or zero-width space alone is nothing to Pillow's text shaping when the font has no
    space glyph (as the test blocks have none): asking that font whether it draws one raised ValueError
    and every message holding one failed.  Such a font does not draw it; the next one may."""
    fonts = chain_of((str(blocks),))
    _, layout = layout_text("Gr\u00fc\u00dfe\u00ad \u200bok", 128, 64, TextOptions(), fonts)
    assert layout.missing == "\u00ad\u200b"
    spaced = block_font(tmp_path / "spaced.ttf", {" ": None, "\u200b": None})
    _, layout = layout_text("a\u200bb", 128, 64, TextOptions(), chain_of((str(blocks), str(spaced))))
    assert layout.missing == ""


def test_only_characters_left_on_the_panel_are_reported(blocks: Path) -> None:
    fonts = chain_of((str(blocks),))
    plan = plan_text("ok\n日", 128, 16, TextOptions(font_size=SIZE), fonts)
    assert plan.truncated and [line.text for line in plan.lines] == ["ok"]
    assert plan.layout().missing == ""


def test_a_fallback_font_does_not_change_what_the_built_in_font_draws(blocks: Path) -> None:
    text = "Hello, sign 42!"
    with_fallback = render(plan_text(text, 128, 64, TextOptions(), chain_of((str(blocks),))))
    alone = render(plan_text(text, 128, 64, TextOptions()))
    assert with_fallback.tobytes() == alone.tobytes()


def test_fonts_are_tried_in_order(blocks: Path, tmp_path: Path) -> None:
    other = block_font(tmp_path / "other.ttf", {"ü": (0, 0, 600, 800), "日": (0, 0, 600, 800)})
    fonts = chain_of((str(blocks), str(other)))
    image, layout = layout_text("ü日", 128, 32, LEFT, fonts)
    assert layout.missing == ""
    first, second = ink_boxes(image)
    assert (first[2] - first[0], first[3] - first[1]) == (8, 10), "ü must come from the first font that has it"
    assert (second[2] - second[0], second[3] - second[1]) == (12, 16), "日 only the second font has"


def test_system_fonts_are_those_the_host_has(blocks: Path, tmp_path: Path) -> None:
    assert system_chain([str(tmp_path / "absent.ttf"), str(blocks)]).paths == (str(blocks),)
    assert system_chain([str(tmp_path / "absent.ttf")]) is BUILT_IN


def test_the_provider_draws_with_its_configured_fonts(blocks: Path) -> None:
    provider = OledProvider(DisplayConfig(display="emulator", fonts=(str(blocks),)))
    try:
        layout = provider.show_text("Hü", LEFT)
        assert layout.missing == "" and layout.frame is not None and layout.frame.status == "shown"
        _, u_box = ink_boxes(provider.snapshot_image())
        assert solid(provider.snapshot_image(), u_box)
    finally:
        provider.close()


@pytest.mark.parametrize(("contents", "message"), [
    (None, "does not exist"),
    (b"not a font at all", "cannot be read as a TrueType or OpenType font"),
])
def test_a_font_that_cannot_be_used_is_refused_at_start(tmp_path: Path, contents: bytes | None, message: str) -> None:
    path = tmp_path / "font.ttf"
    if contents is not None:
        path.write_bytes(contents)
    with pytest.raises(OledConfigError, match=f"font {path} {message}"):
        DisplayConfig(display="emulator", fonts=(str(path),))


#: A bitmap font FreeType opens, at 12 px only: one glyph (ü), as BDF text.
BDF_12PX = """STARTFONT 2.1
FONT -misc-test-medium-r-normal--12-120-75-75-c-80-iso10646-1
SIZE 12 75 75
FONTBOUNDINGBOX 8 12 0 -2
STARTPROPERTIES 3
FONT_ASCENT 10
FONT_DESCENT 2
PIXEL_SIZE 12
ENDPROPERTIES
CHARS 1
STARTCHAR uni00FC
ENCODING 252
SWIDTH 500 0
DWIDTH 8 0
BBX 8 12 0 -2
BITMAP
00
00
66
00
66
66
66
66
66
3E
00
00
ENDCHAR
ENDFONT
"""


def test_a_bitmap_font_of_fixed_sizes_is_refused_at_start(tmp_path: Path) -> None:
    """It opens at 12 px, but the sign's text is laid out at whatever size fits: every ü would fail."""
    path = tmp_path / "fixed.bdf"
    path.write_text(BDF_12PX)
    with pytest.raises(OledConfigError, match=f"font {path} cannot be drawn at 4 px .*scalable TrueType or OpenType"):
        DisplayConfig(display="emulator", fonts=(str(path),))


def test_the_log_names_each_character_no_font_has_once(blocks: Path, caplog: pytest.LogCaptureFixture) -> None:
    provider = OledProvider(DisplayConfig(display="emulator", fonts=(str(blocks),)))
    try:
        with caplog.at_level("WARNING", logger="pi_edge.providers.oled.provider"):
            provider.show_text("ü ☃")
            provider.show_text("☃ 日 ☃")
        warned = [r.getMessage() for r in caplog.records if "no font here has" in r.getMessage()]
        assert len(warned) == 2 and "U+2603" in warned[0] and "U+00FC" not in warned[0], warned
        assert "U+65E5" in warned[1] and "U+2603" not in warned[1] and str(blocks) in warned[1], warned
    finally:
        provider.close()


@pytest.mark.parametrize("size", [4, 8, 13, 20, 37, 64, 128])
def test_the_built_in_font_draws_all_of_printable_ascii(size: int) -> None:
    """Layout skips the glyph lookup for lines of printable ASCII when it lists what no font has."""
    face = built_in(size)
    assert [c for c in string.printable if c.isprintable() and not has_glyph(face, c)] == []
