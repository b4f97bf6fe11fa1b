"""The OLED provider drives real luma.oled code over a fake SSD1306 panel.

Every assertion is about what the panel shows (decoded from the bytes luma
sent), compared with what the provider says it drew.
"""

from __future__ import annotations

import argparse
import string
import threading

import luma.oled.device
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from luma.core.interface.serial import i2c
from PIL import Image

from pi_edge.agent.display.provider import DisplayProvider, TextOptions
from pi_edge.agent.errors import ProviderError
from pi_edge.providers.oled import (
    ALLOWED_DISPLAYS,
    MONOCHROME_I2C_DRIVERS,
    BitmapSizeError,
    BusUnavailableError,
    ClosedError,
    DisplayConfig,
    DisplayUnavailableError,
    OledConfigError,
    OledProvider,
    UnknownDriverError,
    ValueRangeError,
    add_display_arguments,
    config_from_args,
    default_display,
    pack_bitmap,
    to_halfblocks,
)
from pi_edge.providers.oled.layout import MIN_FONT_SIZE, layout_text, plan_text, render
from pi_edge.providers.oled.testing import HORIZONTAL, FakeSSD1306Bus

# luma 3.16 calls Image.getdata(), which Pillow 13 deprecates; not our code.
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")


def same(a: Image.Image, b: Image.Image) -> bool:
    # tobytes() packs any non-zero "1" pixel as set: Pillow stores lit "1"
    # pixels as 1 or 255 depending on how they were drawn.
    return a.size == b.size and a.convert("1").tobytes() == b.convert("1").tobytes()


def lit(image: Image.Image) -> set[tuple[int, int]]:
    return {(x, y) for y in range(image.height) for x in range(image.width) if image.getpixel((x, y))}


def bitmap_with(width: int, height: int, *points: tuple[int, int]) -> bytes:
    img = Image.new("1", (width, height))
    for p in points:
        img.putpixel(p, 1)
    return pack_bitmap(img)


def make(bus: FakeSSD1306Bus | None = None, **kw) -> tuple[OledProvider, FakeSSD1306Bus]:
    bus = bus or FakeSSD1306Bus(width=kw.get("width", 128), height=kw.get("height", 64))
    return OledProvider(DisplayConfig(**kw), bus=bus), bus


@pytest.fixture
def oled() -> tuple[OledProvider, FakeSSD1306Bus]:
    provider, bus = make()
    yield provider, bus
    provider.close()


# -- the panel shows what the provider drew ---------------------------------------


def test_provider_satisfies_the_agent_protocol(oled):
    provider, _ = oled
    assert isinstance(provider, DisplayProvider)
    assert (provider.info().width, provider.info().height, provider.info().driver) == (128, 64, "ssd1306")


def test_open_leaves_panel_on_blank_in_horizontal_mode(oled):
    _, bus = oled
    assert bus.display_on and bus.addressing_mode == HORIZONTAL
    assert bus.contrast == 0xCF  # luma's ssd1306 default
    assert bus.image().getbbox() is None


def test_show_text_reaches_the_panel(oled):
    provider, bus = oled
    layout = provider.show_text("Hello, Pi", TextOptions())
    assert layout.lines == 1 and not layout.truncated
    assert provider.snapshot_image().getbbox() is not None
    assert same(bus.image(), provider.snapshot_image())


def test_clear_turns_every_pixel_off(oled):
    provider, bus = oled
    provider.show_text("something", TextOptions())
    assert bus.image().getbbox() is not None
    provider.clear()
    assert bus.image().getbbox() is None
    assert provider.snapshot_image().getbbox() is None


def test_show_bitmap_lights_exactly_the_given_pixels(oled):
    provider, bus = oled
    points = {(0, 0), (127, 0), (5, 9), (64, 32), (127, 63)}
    provider.show_bitmap(128, 64, bitmap_with(128, 64, *points))
    assert lit(bus.image()) == points
    assert same(bus.image(), provider.snapshot_image())


def test_bitmap_bits_are_row_major_msb_first(oled):
    provider, bus = oled
    bits = bytearray(1024)
    bits[0] = 0b1000_0001  # pixels (0,0) and (7,0)
    bits[16] = 0b0100_0000  # row 1 starts at byte 16: pixel (1,1)
    provider.show_bitmap(128, 64, bytes(bits))
    assert lit(bus.image()) == {(0, 0), (7, 0), (1, 1)}


def test_rotate_2_turns_the_frame_for_an_upside_down_panel():
    provider, bus = make(rotate=2)
    provider.show_bitmap(128, 64, bitmap_with(128, 64, (0, 0), (10, 2)))
    # The logical top-left is the glass's bottom-right: the panel is mounted
    # upside down, so the viewer sees it at their top-left again.
    assert lit(bus.image()) == {(127, 63), (117, 61)}
    provider.show_text("Upside", TextOptions())
    assert same(bus.image(), provider.snapshot_image().rotate(180))


def test_rotate_1_is_portrait_and_turns_clockwise():
    provider, bus = make(rotate=1)
    assert (provider.info().width, provider.info().height) == (64, 128)
    provider.show_bitmap(64, 128, bitmap_with(64, 128, (0, 0), (0, 127)))
    assert lit(bus.image()) == {(127, 0), (0, 0)}
    provider.show_text("Tall", TextOptions())
    assert same(bus.image(), provider.snapshot_image().rotate(-90, expand=True))


def test_128x32_panel():
    provider, bus = make(width=128, height=32)
    assert bus.multiplex == 0x1F and bus.com_pins == 0x02
    layout = provider.show_text("Short panel", TextOptions())
    assert not layout.truncated
    assert provider.snapshot_image().size == (128, 32)
    assert provider.snapshot_image().getbbox() is not None
    assert same(bus.image(), provider.snapshot_image())


def test_sh1106_driver_on_an_sh1106_panel():
    bus = FakeSSD1306Bus(controller="sh1106")
    provider, _ = make(bus, display="sh1106")
    provider.show_bitmap(128, 64, bitmap_with(128, 64, (0, 0), (127, 63)))
    assert lit(bus.image()) == {(0, 0), (127, 63)}
    provider.show_text("SH1106", TextOptions())
    assert same(bus.image(), provider.snapshot_image())


def test_set_contrast_reaches_the_register(oled):
    provider, bus = oled
    provider.set_contrast(0x20)
    assert bus.contrast == 0x20
    with pytest.raises(ValueRangeError, match="256"):
        provider.set_contrast(256)
    assert bus.contrast == 0x20


def test_set_power_switches_the_panel(oled):
    provider, bus = oled
    provider.show_text("on", TextOptions())
    provider.set_power(False)
    assert not bus.display_on
    assert bus.image().getbbox() is None
    assert provider.snapshot_image().getbbox() is None
    provider.set_power(True)
    assert bus.display_on and bus.image().getbbox() is not None
    assert same(bus.image(), provider.snapshot_image())


def test_close_keeps_the_last_frame_on_the_glass(oled):
    provider, bus = oled
    provider.show_text("bye", TextOptions())
    shown = bus.image()
    provider.close()
    assert bus.display_on and same(bus.image(), shown)
    with pytest.raises(ClosedError):
        provider.show_text("again", TextOptions())
    provider.close()  # idempotent


def test_concurrent_callers_never_interleave_frames(oled):
    provider, bus = oled

    def worker(n: int) -> None:
        for i in range(4):
            provider.show_text(f"thread {n} frame {i}", TextOptions())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert same(bus.image(), provider.snapshot_image())


# -- errors say what to do ----------------------------------------------------


def test_wrong_bitmap_length_names_the_sizes(oled):
    provider, _ = oled
    with pytest.raises(BitmapSizeError) as err:
        provider.show_bitmap(128, 64, bytes(1000))
    assert "128x64" in str(err.value) and "1024" in str(err.value) and "1000" in str(err.value)


def test_wrong_bitmap_dimensions_name_the_panel(oled):
    provider, _ = oled
    with pytest.raises(BitmapSizeError, match=r"64x32.*128x64"):
        provider.show_bitmap(64, 32, bytes(256))


def test_unknown_driver_lists_the_allowed_ones():
    with pytest.raises(UnknownDriverError) as err:
        DisplayConfig(display="ssd9999")
    for name in ("ssd1306", "sh1106", "emulator"):
        assert name in str(err.value)
    assert isinstance(err.value, ProviderError)


@pytest.mark.parametrize("name", MONOCHROME_I2C_DRIVERS)
def test_every_allowed_driver_is_a_monochrome_luma_oled_class(name):
    assert name in luma.oled.device.__all__
    if name in ("sh1107", "ch1115"):
        return  # command sets beyond the fake's two controllers
    bus = FakeSSD1306Bus(controller="sh1106" if name == "sh1106" else "ssd1306")
    device = getattr(luma.oled.device, name)(i2c(bus=bus, address=0x3C), width=128, height=64)
    assert device.mode == "1"
    assert bus.display_on


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rotate": 4}, "0, 1, 2 or 3"),
        ({"i2c_address": 0x78}, "0x03..0x77"),
        ({"width": 0}, "positive"),
    ],
)
def test_config_rejects_out_of_range_values(kwargs, fragment):
    with pytest.raises(OledConfigError, match=fragment.replace(".", r"\.")):
        DisplayConfig(**kwargs)


def test_missing_i2c_bus_says_how_to_enable_it():
    with pytest.raises(BusUnavailableError) as err:
        OledProvider(DisplayConfig(display="ssd1306", i2c_port=99))
    assert "/dev/i2c-99" in str(err.value)
    assert "raspi-config" in str(err.value) and "--display emulator" in str(err.value)


def test_panel_missing_at_start_leaves_the_provider_unhealthy_until_it_answers():
    bus = FakeSSD1306Bus()
    bus.disconnect()
    provider = OledProvider(DisplayConfig(), bus=bus)
    try:
        health = provider.health()
        assert not health.healthy and "0x3C" in health.reason
        with pytest.raises(DisplayUnavailableError, match=r"0x3C.*kept and shown when the display answers"):
            provider.show_text("waiting", TextOptions())
        bus.reconnect()
        assert provider.wait_healthy(10)
        provider.show_text("here", TextOptions())  # the kept frame went first; this one replaces it
        assert same(bus.image(), provider.snapshot_image()) and bus.image().getbbox() is not None
    finally:
        provider.close()


def test_panel_at_another_address_is_named_in_the_health_reason():
    provider = OledProvider(DisplayConfig(i2c_address=0x3C), bus=FakeSSD1306Bus(address=0x3D))
    try:
        assert "0x3C" in provider.health().reason
    finally:
        provider.close()


def test_unsupported_panel_size_is_a_config_error():
    with pytest.raises(OledConfigError, match="100x50"):
        OledProvider(DisplayConfig(width=100, height=48 + 2), bus=FakeSSD1306Bus())


def _error_classes(package: str) -> list[type[BaseException]]:
    """Every exception class defined in the modules of ``package`` (each module imported)."""
    import importlib
    import inspect
    import pkgutil

    root = importlib.import_module(package)
    found = {}
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.endswith(".__main__"):
            continue  # runs the CLI when imported
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_no_two_error_classes_in_pi_edge_share_a_name():
    """A reader who sees ``except ConfigError`` must not have to look up which one is meant."""
    classes = _error_classes("pi_edge.agent") + _error_classes("pi_edge.providers")
    by_name: dict[str, list[str]] = {}
    for cls in classes:
        by_name.setdefault(cls.__name__, []).append(cls.__module__)
    assert {name: where for name, where in by_name.items() if len(where) > 1} == {}


def test_the_error_tree_drawn_in_errors_py_is_the_real_one():
    """The diagram at the top of providers/oled/errors.py: every class once, each under its first base."""
    import re

    from pi_edge.providers.oled import errors

    assert errors.__doc__ is not None
    drawn = [line for line in errors.__doc__.split("::", 1)[1].splitlines() if line.strip()]
    parents: list[tuple[int, str]] = []  # (column, name) of the open branches
    seen = []
    for line in drawn:
        match = re.search(r"\b([A-Z]\w*Error)\b", line)
        assert match, line
        column, name = match.start(), match.group(1)
        while parents and parents[-1][0] >= column:
            parents.pop()
        if parents:
            assert getattr(errors, name).__bases__[0].__name__ == parents[-1][1], name
        parents.append((column, name))
        seen.append(name)
    defined = [name for name, cls in vars(errors).items()
               if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == errors.__name__]
    assert sorted(seen[1:]) == sorted(defined) and seen[0] == "ProviderError"


def test_unplugged_panel_gets_the_kept_frame_when_it_comes_back(oled):
    provider, bus = oled
    provider.show_text("before", TextOptions())
    bus.disconnect()
    with pytest.raises(DisplayUnavailableError, match="0x3C"):
        provider.show_text("while away", TextOptions())
    with pytest.raises(DisplayUnavailableError):
        provider.set_contrast(10)
    with pytest.raises(DisplayUnavailableError, match="unknown"):
        provider.snapshot_image()  # not claimed as shown: the panel's memory is unknown now
    expected, _ = layout_text("while away", 128, 64, TextOptions())
    bus.reconnect()
    assert provider.wait_healthy(10)
    assert same(bus.image(), expected), "the frame sent while the panel was away is shown on its return"
    assert bus.contrast == 10, "settings made while away are applied on return"
    provider.show_text("after", TextOptions())
    assert same(bus.image(), provider.snapshot_image())


class GlitchyBus(FakeSSD1306Bus):
    """NACKs the next data transfer only, by whichever path data travels."""

    glitch = False

    def _nack_once(self) -> None:
        if self.glitch:
            self.glitch = False
            raise OSError(121, "Remote I/O error")

    def write_i2c_block_data(self, addr, register, data):
        if register == 0x40:
            self._nack_once()
        super().write_i2c_block_data(addr, register, data)

    def i2c_rdwr(self, *messages):
        self._nack_once()
        super().i2c_rdwr(*messages)


def test_a_single_nack_is_retried_without_the_caller_noticing():
    provider, bus = make(GlitchyBus())
    bus.glitch = True
    provider.show_text("glitch", TextOptions())
    assert not bus.glitch, "the glitch was not hit"
    assert same(bus.image(), provider.snapshot_image()) and bus.image().getbbox() is not None


# -- command line ----------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_display_arguments(parser)
    return parser.parse_args(list(argv))


def test_luma_flag_names_and_hex_or_decimal_address():
    cfg = config_from_args(parse("--display", "sh1106", "--i2c-address", "0x3D", "--rotate", "2",
                                 "--width", "128", "--height", "32", "--i2c-port", "3"))
    assert cfg == DisplayConfig(display="sh1106", i2c_address=0x3D, rotate=2, height=32, i2c_port=3)
    assert config_from_args(parse("--i2c-address", "60")).i2c_address == 60


def test_a_flag_not_given_or_not_known_takes_display_configs_default(monkeypatch):
    """DisplayConfig's defaults are written once: the flags, config_from_args and the fake bus take them from it."""
    assert config_from_args(parse("--display", "ssd1306")) == DisplayConfig()
    assert config_from_args(argparse.Namespace(display="ssd1306")) == DisplayConfig()  # a parser without the flags
    bus, config = FakeSSD1306Bus(), DisplayConfig()
    assert (bus.width, bus.height, bus.address, bus.controller) == (
        config.width, config.height, config.i2c_address, config.display)
    monkeypatch.setattr(DisplayConfig, "i2c_address", 0x3D)  # as if the default were changed, there alone
    monkeypatch.setattr(DisplayConfig, "height", 32)
    assert config_from_args(argparse.Namespace(display="ssd1306")) == DisplayConfig(height=32, i2c_address=0x3D)


def test_default_display_depends_on_the_bus_node():
    assert config_from_args(parse("--i2c-port", "99")).display == "emulator"
    assert default_display(99) == "emulator"
    assert "emulator" in ALLOWED_DISPLAYS


@pytest.mark.parametrize("argv", [["--display", "nope"], ["--i2c-address", "0x99"], ["--rotate", "5"]])
def test_bad_flags_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        parse(*argv)
    assert argv[1] in capsys.readouterr().err


# -- emulator -----------------------------------------------------------------------


def test_emulator_writes_png_and_terminal_text(tmp_path):
    png = tmp_path / "screen.png"
    provider = OledProvider(DisplayConfig(display="emulator", png_path=str(png)))
    provider.show_text("Emulated", TextOptions())
    with Image.open(png) as saved:
        assert same(saved, provider.snapshot_image())
    big = provider.write_png(tmp_path / "big.png", scale=4)
    with Image.open(big) as saved:
        assert saved.size == (512, 256)
    text = provider.render_terminal().split("\n")
    assert len(text) == 32 and all(len(line) == 128 for line in text)
    assert set("".join(text)) <= set(" \u2580\u2584\u2588") and set("".join(text)) != {" "}


def test_halfblocks_map_two_rows_per_line():
    img = Image.new("1", (3, 3))
    img.putpixel((0, 0), 1)
    img.putpixel((1, 1), 1)
    img.putpixel((2, 0), 1)
    img.putpixel((2, 1), 1)
    img.putpixel((0, 2), 1)
    assert to_halfblocks(img) == "\u2580\u2584\u2588\n\u2580  "


# -- layout -------------------------------------------------------------------------


def ink(image: Image.Image) -> tuple[int, int, int, int]:
    box = image.getbbox()
    assert box is not None, "nothing was drawn"
    return box


@pytest.mark.parametrize("text", ["Hi", "Hello world", "centre\nme"])
def test_centred_text_is_centred_within_a_pixel(text):
    plan = plan_text(text, 128, 64, TextOptions(align="center"))
    left, top, right, bottom = ink(render(plan))
    assert abs(left - (128 - right)) <= 1
    assert abs(top - (64 - bottom)) <= 1


def test_left_and_right_alignment_touch_the_edges():
    assert ink(render(plan_text("edge", 128, 64, TextOptions(align="left", font_size=16))))[0] == 0
    assert ink(render(plan_text("edge", 128, 64, TextOptions(align="right", font_size=16))))[2] == 128


def test_long_text_wraps_inside_the_panel():
    text = "The quick brown fox jumps over the lazy dog"
    plan = plan_text(text, 128, 64, TextOptions(font_size=16))
    assert len(plan.lines) > 1 and not plan.truncated
    margin = 40
    left, top, right, bottom = ink(render(plan, margin=margin))
    assert margin <= left and right <= margin + 128 and margin <= top and bottom <= margin + 64


def test_explicit_newline_gives_two_lines():
    assert plan_text("one\ntwo", 128, 64, TextOptions(font_size=12)).layout().lines == 2
    assert plan_text("one two", 128, 64, TextOptions(font_size=12)).layout().lines == 1


def test_fit_to_screen_prefers_bigger_type_for_short_text():
    short = plan_text("Hi", 128, 64, TextOptions()).font_size
    long = plan_text("A considerably longer sentence that needs several lines", 128, 64, TextOptions()).font_size
    assert short > long >= MIN_FONT_SIZE


def test_unbreakable_word_is_broken():
    plan = plan_text("Supercalifragilisticexpialidocious", 128, 64, TextOptions(font_size=14))
    assert len(plan.lines) >= 2 and not plan.truncated
    assert "".join(line.text for line in plan.lines) == "Supercalifragilisticexpialidocious"
    margin = 40
    left, _, right, _ = ink(render(plan, margin=margin))
    assert margin <= left and right <= margin + 128


def test_fitting_keeps_words_whole_when_a_smaller_size_does():
    # At 33 px "Messag" / "e 0" would fit; a sign is lettered "Message" / "0" a size smaller.
    plan = plan_text("Message 0", 128, 64, TextOptions())
    assert [line.text for line in plan.lines] == ["Message", "0"]


def test_fitting_splits_a_word_only_if_it_is_too_wide_even_at_the_smallest_size():
    word = "Supercalifragilisticexpialidocious"
    plan = plan_text(word, 128, 64, TextOptions())
    assert len(plan.lines) >= 2 and "".join(line.text for line in plan.lines) == word
    assert plan.font_size > MIN_FONT_SIZE and not plan.truncated


@settings(max_examples=80, deadline=None)
@given(words=st.lists(st.text(alphabet=string.ascii_letters + string.digits + ",.!?", min_size=1, max_size=10),
                      min_size=1, max_size=12))
def test_fitting_never_splits_a_word_that_fits_the_panel(words):
    plan = plan_text(" ".join(words), 128, 64, TextOptions())
    kept = " ".join(line.text for line in plan.lines).split()
    assert kept == words[:len(kept)] and kept, plan  # a split word would show up as two


def test_too_much_text_is_truncated_at_the_smallest_size():
    layout = plan_text("word " * 200, 128, 64, TextOptions()).layout()
    assert layout.truncated and layout.font_size == MIN_FONT_SIZE and layout.lines >= 1


def test_no_wrap_clips_and_says_so():
    plan = plan_text("a line far too long for this panel", 128, 64, TextOptions(wrap=False, font_size=16))
    assert plan.truncated and len(plan.lines) == 1


def test_font_size_out_of_range_is_refused():
    with pytest.raises(ValueRangeError, match="500"):
        plan_text("x", 128, 64, TextOptions(font_size=500))


def test_layout_is_deterministic():
    a = render(plan_text("same input", 128, 64, TextOptions()))
    b = render(plan_text("same input", 128, 64, TextOptions()))
    assert a.tobytes() == b.tobytes()


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=string.printable, max_size=200),
    align=st.sampled_from(["left", "center", "right"]),
    size=st.one_of(st.none(), st.integers(min_value=8, max_value=40)),
)
def test_any_text_lays_out_with_every_lit_pixel_inside_the_panel(text, align, size):
    margin = 48
    plan = plan_text(text, 128, 64, TextOptions(align=align, font_size=size))
    box = render(plan, margin=margin).getbbox()
    if box is not None:
        left, top, right, bottom = box
        assert margin <= left and right <= margin + 128, (plan, box)
        assert margin <= top and bottom <= margin + 64, (plan, box)
    if not text.strip():
        assert box is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bits=st.binary(min_size=1024, max_size=1024), rotate=st.sampled_from([0, 2]))
def test_random_bitmaps_round_trip_to_the_panel(bits, rotate):
    provider, bus = make(rotate=rotate)
    provider.show_bitmap(128, 64, bits)
    assert pack_bitmap(provider.snapshot_image()) == bits
    assert same(bus.image(), provider.snapshot_image().rotate(180 * (rotate // 2)))
