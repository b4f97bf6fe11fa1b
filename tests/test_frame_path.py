"""The frame path below the provider: packing, window planning, the latest-wins scheduler,
and what actually crosses the (fake) bus."""

from __future__ import annotations

import errno
import random
import threading
from collections.abc import Callable

import luma.core.error
import luma.oled.device
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from luma.core.interface.serial import i2c
from PIL import Image, ImageDraw, ImageFont

from pi_edge.providers.oled import DisplayConfig, DisplayUnavailableError, OledConfigError, OledProvider
from pi_edge.providers.oled.config import PANEL_SIZES
from pi_edge.providers.oled.errors import DisplayIOError
from pi_edge.providers.oled.packing import pack_pages, unpack_pages
from pi_edge.providers.oled.scheduler import FrameScheduler
from pi_edge.providers.oled.testing import FakeSSD1306Bus
from pi_edge.providers.oled.windows import Window, changed_runs, plan_windows


def frame_of(seed: int, size: tuple[int, int] = (128, 64)) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("1", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] // 8)))


def text_frame(lines: list[str]) -> Image.Image:
    image = Image.new("1", (128, 64))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    for i, line in enumerate(lines):
        draw.text((0, i * 16), line, fill=1, font=font)
    return image


# -- packing -----------------------------------------------------------------------


@given(st.sampled_from([(128, 64), (128, 32), (64, 128), (96, 16)]), st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_pages_hold_eight_rows_per_byte_lsb_on_top(size, seed):
    image = frame_of(seed, size)
    pages = pack_pages(image)
    px = image.load()
    for page, data in enumerate(pages):
        for x in (0, size[0] // 2, size[0] - 1):
            expected = sum(1 << bit for bit in range(8) if px[x, page * 8 + bit])
            assert data[x] == expected
    assert unpack_pages(pages, size[0]).tobytes() == image.tobytes()


# -- planning windows -----------------------------------------------------------------


def test_runs_join_small_gaps_and_split_large_ones():
    old = bytes(32)
    new = bytearray(old)
    new[2] = new[5] = 1  # gap of 2: cheaper to resend
    new[20] = 1  # gap of 14: a window of its own
    assert changed_runs(old, bytes(new), gap=7) == [(2, 5), (20, 20)]
    assert changed_runs(old, old, gap=7) == []


def test_unknown_memory_is_written_whole():
    pages = pack_pages(frame_of(1))
    assert plan_windows(None, pages, 10, rectangles=True) == [Window(0, 7, 0, 127)]
    assert plan_windows(None, pages, 7, rectangles=False) == [Window(p, p, 0, 127) for p in range(8)]


def test_a_full_change_is_one_rectangle_and_a_digit_is_a_small_window():
    a, b = pack_pages(frame_of(1)), pack_pages(frame_of(2))
    assert plan_windows(a, b, 10, rectangles=True) == [Window(0, 7, 0, 127)]
    clock_a, clock_b = pack_pages(text_frame(["", "12:34:56"])), pack_pages(text_frame(["", "12:34:57"]))
    [window] = plan_windows(clock_a, clock_b, 10, rectangles=True)
    assert window.size < 64, f"a ticking digit rewrote {window}"


@given(st.integers(0, 2**32), st.integers(0, 2**32), st.booleans())
@settings(max_examples=60, deadline=None)
def test_planned_windows_cover_every_change_and_apply_cleanly(seed_a, seed_b, rectangles):
    rng = random.Random(seed_b)
    old = pack_pages(frame_of(seed_a))
    new = [bytearray(page) for page in old]
    for _ in range(rng.randrange(0, 40)):  # sparse edits: the interesting case
        new[rng.randrange(8)][rng.randrange(128)] ^= 1 << rng.randrange(8)
    new_pages = [bytes(p) for p in new]
    ram = [bytearray(p) for p in old]
    for w in plan_windows(old, new_pages, 10, rectangles):
        for p in range(w.first_page, w.last_page + 1):
            ram[p][w.first_col:w.last_col + 1] = new_pages[p][w.first_col:w.last_col + 1]
    assert [bytes(p) for p in ram] == new_pages


# -- on the bus ---------------------------------------------------------------------------


@pytest.fixture
def panel():
    bus = FakeSSD1306Bus()
    provider = OledProvider(DisplayConfig(), bus=bus)
    yield provider, bus
    provider.close()


def test_one_changed_line_sends_only_its_pages(panel):
    provider, bus = panel
    before = text_frame(["first line", "second line", "third line", "fourth"])
    after = text_frame(["first line", "second LINE", "third line", "fourth"])
    provider.show_bitmap(128, 64, before.tobytes())
    sent_before = bus.bytes_written
    report = provider.show_bitmap(128, 64, after.tobytes())
    changed_pages = {y // 8 for y in range(64) for x in range(128) if before.getpixel((x, y)) != after.getpixel((x, y))}
    assert changed_pages and changed_pages <= {2, 3}
    assert report.status == "shown" and 0 < report.bus_bytes < 0.2 * 1024
    assert bus.bytes_written - sent_before < 0.2 * 1024
    assert bus.image().tobytes() == after.tobytes()


def test_same_frame_again_costs_nothing_on_the_bus(panel):
    provider, _ = panel
    frame = text_frame(["steady"])
    provider.show_bitmap(128, 64, frame.tobytes())
    assert provider.show_bitmap(128, 64, frame.tobytes()).bus_bytes == 0


class BlockOnlyBus:
    """An adapter that speaks SMBus block writes and nothing else (no ``i2c_rdwr`` at all)."""

    def __init__(self, panel: FakeSSD1306Bus) -> None:
        self.panel = panel

    def write_i2c_block_data(self, address: int, register: int, data: list[int]) -> None:
        self.panel.write_i2c_block_data(address, register, data)


class RefusingRdwrBus(BlockOnlyBus):
    """Has ``i2c_rdwr``, but the adapter refuses combined transfers as some SMBus-only ones do."""

    def __init__(self, panel: FakeSSD1306Bus) -> None:
        super().__init__(panel)
        self.refused = 0

    def i2c_rdwr(self, *messages: object) -> None:
        self.refused += 1
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")


@pytest.mark.parametrize("shape", [FakeSSD1306Bus, BlockOnlyBus, RefusingRdwrBus])
def test_frames_reach_the_glass_whatever_writes_the_bus_takes(shape):
    """Combined writes where the bus takes them; 32-byte blocks where it has none or refuses them (asked once)."""
    glass = FakeSSD1306Bus()
    bus = glass if shape is FakeSSD1306Bus else shape(glass)
    provider = OledProvider(DisplayConfig(), bus=bus)
    try:
        for lit in (1, 0):  # every pixel changes: one 128x64 window, set up in one command write
            frame = Image.new("1", (128, 64), lit)
            glass.reset_counters()
            provider.show_bitmap(128, 64, frame.tobytes())
            assert glass.image().tobytes() == frame.tobytes()
            assert glass.transactions - 1 == (1 if shape is FakeSSD1306Bus else 1024 // 32)
        assert getattr(bus, "refused", 1) == 1
    finally:
        provider.close()


@pytest.mark.parametrize("rotate", [0, 1])
def test_the_emulator_reports_the_bytes_a_panel_would_get(rotate):
    """No bus, but the same diffing writer: the emulator's replies say what a Pi would send."""
    emulator = OledProvider(DisplayConfig(display="emulator", rotate=rotate))
    panel = OledProvider(DisplayConfig(display="ssd1306", rotate=rotate), bus=FakeSSD1306Bus())
    try:
        size = (64, 128) if rotate % 2 else (128, 64)
        frames = [text_frame(["one", "two"]).resize(size), text_frame(["one", "three"]).resize(size)]
        for frame in [*frames, frames[1]]:
            sent = [p.show_bitmap(*size, frame.tobytes()).bus_bytes for p in (emulator, panel)]
            assert sent[0] == sent[1], sent
        assert sent == [0, 0]  # the same frame again: nothing to send
    finally:
        emulator.close()
        panel.close()


def test_invert_is_a_controller_command_and_the_snapshot_follows(panel):
    provider, bus = panel
    provider.show_text("inverse")
    provider.set_invert(True)
    assert bus.inverted
    assert bus.image().tobytes() == provider.snapshot_image().tobytes()
    assert provider.snapshot_image().getpixel((0, 0)) == 255
    provider.set_invert(False)
    assert not bus.inverted and provider.snapshot_image().getpixel((0, 0)) == 0


# -- the scheduler ---------------------------------------------------------------------------


class GatedSink:
    """Holds the first frame "on the wire" until the test opens the gate."""

    def __init__(self) -> None:
        self.on_wire = threading.Event()
        self.gate = threading.Event()
        self.written: list[Image.Image] = []
        self.present = threading.Event()  # cleared: the panel is unplugged
        self.present.set()

    def write(self, frame: Image.Image) -> int:
        self.on_wire.set()
        self.gate.wait(10)
        if not self.present.is_set():
            raise DisplayIOError(0x3C, "test bus", "no acknowledge")
        self.written.append(frame)
        return 7

    def recover(self) -> None:
        if not self.present.is_set():
            raise DisplayIOError(0x3C, "test bus", "still gone")


def test_newer_frames_replace_the_waiting_one_and_each_caller_hears_its_fate():
    sink = GatedSink()
    frames = FrameScheduler(sink, "test", retry_delays=(0.001,))
    try:
        a, b, c = frame_of(1), frame_of(2), frame_of(3)
        firsts: list = []
        # The bus is idle, so the first caller sends its frame itself: from a thread of its own.
        sender = threading.Thread(target=lambda: firsts.append(frames.submit(a)))
        sender.start()
        assert sink.on_wire.wait(10)
        second = frames.submit(b)
        third = frames.submit(c)
        assert second.wait(1).status == "superseded"  # answered while the bus is still busy
        sink.gate.set()
        sender.join(10)
        [first] = firsts
        assert first.wait(0).status == "shown" and first.wait(0).bus_bytes == 7
        assert third.wait(10).status == "shown"
        assert sink.written == [a, c]
        assert (frames.frames_sent, frames.frames_superseded) == (2, 1)
    finally:
        frames.close()


def test_a_silent_panel_turns_unhealthy_then_gets_the_newest_frame_on_return():
    sink = GatedSink()
    sink.gate.set()
    sink.present.clear()
    changes: list[bool] = []
    frames = FrameScheduler(sink, "test", retry_delays=(0.001, 0.001, 0.001), recover_backoff=(0.001, 0.01),
                            on_health=lambda healthy, _why: changes.append(healthy))
    try:
        with pytest.raises(DisplayUnavailableError, match="kept and shown when the display answers again"):
            frames.submit(frame_of(1)).wait(10)
        newest = frame_of(2)
        with pytest.raises(DisplayUnavailableError):
            frames.submit(newest).wait(10)
        assert sink.written == []
        sink.present.set()
        assert frames.wait_healthy(10)
        assert sink.written == [newest] and changes == [False, True]
    finally:
        frames.close()


# -- configuration ----------------------------------------------------------------------------


class AcceptingBus:
    """Acknowledges everything: only luma's own size checks are exercised."""

    def write_i2c_block_data(self, *_args: object) -> None:
        pass


@pytest.mark.parametrize("driver", sorted(PANEL_SIZES))
def test_panel_size_table_matches_luma(driver):
    cls = getattr(luma.oled.device, driver)
    for width, height in PANEL_SIZES[driver]:
        cls(i2c(bus=AcceptingBus()), width=width, height=height)
    with pytest.raises(luma.core.error.DeviceDisplayModeError):
        cls(i2c(bus=AcceptingBus()), width=100, height=48)


def test_impossible_size_lists_what_the_driver_takes():
    sizes = "its sizes are 64x128, 80x128, 128x128"
    with pytest.raises(OledConfigError, match=f"sh1107 does not drive a 128x64 panel; {sizes}"):
        DisplayConfig(display="sh1107", width=128, height=64)


# -- every panel, every rotation, any sequence of updates --------------------------------------

PANELS = [
    ("ssd1306", 128, 64), ("ssd1306", 128, 32), ("ssd1306", 64, 48), ("ssd1305", 128, 32),
    ("ssd1309", 128, 64), ("ssd1315", 128, 64), ("ssd1316", 128, 32), ("sh1106", 128, 64),
    ("sh1107", 64, 128), ("sh1107", 128, 128), ("ch1115", 128, 64),
]


def edited(image: Image.Image, rng: random.Random) -> Image.Image:
    """A frame like the last one with a few strokes changed: the case diffing must get right."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    for _ in range(rng.randrange(1, 4)):
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        draw.rectangle((x, y, x + rng.randrange(1, 20), y + rng.randrange(1, 10)), fill=rng.randrange(2))
    return out


@given(st.sampled_from(PANELS), st.integers(0, 3), st.lists(st.sampled_from(["new", "edit", "same", "clear"]),
                                                           min_size=1, max_size=6), st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_panel_shows_the_intended_frame_after_any_sequence_of_updates(panel, rotate, steps, seed):
    driver, width, height = panel
    rng = random.Random(seed)
    bus = FakeSSD1306Bus(width=width, height=height, controller=driver)
    provider = OledProvider(DisplayConfig(display=driver, width=width, height=height, rotate=rotate), bus=bus)
    try:
        size = (provider.width, provider.height)
        frame = Image.new("1", size)
        for step in steps:
            if step == "new":
                frame = frame_of(rng.randrange(2**32), size)
            elif step == "edit":
                frame = edited(frame, rng)
            elif step == "clear":
                frame = Image.new("1", size)
            provider.show_bitmap(*size, frame.tobytes())
            shown = provider.snapshot_image()
            assert shown.tobytes() == frame.tobytes(), f"{driver} rotate {rotate}: provider's copy differs after {step}"
            glass = bus.image().rotate(rotate * 90, expand=True)  # the viewer turns with the panel
            assert glass.tobytes() == frame.tobytes(), f"{driver} rotate {rotate}: panel differs after {step}"
    finally:
        provider.close()


def test_unplug_and_replug_mid_stream_ends_with_the_right_picture(panel):
    provider, bus = panel
    frames = [text_frame([f"frame {i}", "steady line"]) for i in range(12)]
    outcomes = []
    for i, frame in enumerate(frames):
        if i == 4:
            bus.fail_next(2)  # a glitch: absorbed by the retries
        if i == 7:
            bus.disconnect()  # the wire comes loose
        if i == 9:
            bus.reconnect(power_cycled=True)  # and back, with the controller reset
            assert provider.wait_healthy(10)
        try:
            outcomes.append(provider.show_bitmap(128, 64, frame.tobytes()).status)
        except DisplayUnavailableError:
            outcomes.append("error")
    assert outcomes == ["shown"] * 7 + ["error"] * 2 + ["shown"] * 3
    assert bus.failed_transfers > 2
    assert bus.image().tobytes() == frames[-1].tobytes()
    assert provider.health().healthy


@pytest.mark.parametrize("err", [errno.EREMOTEIO, errno.EIO])
def test_brief_bus_faults_are_retried_until_the_frame_lands(panel, err):
    provider, bus = panel
    frame = text_frame(["brown-out", "survived"])
    bus.fail_next(3, err)  # one attempt plus three retries: the fourth try gets through
    report = provider.show_bitmap(128, 64, frame.tobytes())
    assert report.status == "shown" and bus.failed_transfers == 3
    assert bus.image().tobytes() == frame.tobytes() and provider.health().healthy


# -- listeners -------------------------------------------------------------------------------


def _from_another_thread(action: Callable[[], object]) -> bool:
    """Run ``action`` on a thread of its own; True if it finished within a bounded wait.

    What a listener that hands work to another thread sees: if the scheduler called it
    holding a lock that work needs, the work cannot finish until the listener returns.
    """
    worker = threading.Thread(target=action, daemon=True)
    worker.start()
    worker.join(2.0)
    return not worker.is_alive()


def test_a_frame_listener_is_called_with_the_bus_free(panel):
    """A listener that changes a setting (which needs the bus) through another thread must not stall."""
    provider, bus = panel
    finished: list[bool] = []
    heard = threading.Event()

    def on_frame() -> None:
        finished.append(_from_another_thread(lambda: provider.set_contrast(0x10)))
        heard.set()

    provider.listen(on_frame=on_frame)
    provider.show_text("heard")
    assert heard.wait(10)
    assert finished == [True] and bus.contrast == 0x10


def test_health_listeners_are_called_with_the_scheduler_free(panel):
    """Going unhealthy and coming back, the listener can ask the scheduler (another thread) about health."""
    provider, bus = panel
    heard: list[tuple[bool, bool]] = []
    back = threading.Event()

    def on_health(healthy: bool, _why: str) -> None:
        heard.append((healthy, _from_another_thread(lambda: provider.wait_healthy(0))))
        if healthy:
            back.set()

    provider.listen(on_health=on_health)
    bus.disconnect()
    with pytest.raises(DisplayUnavailableError):
        provider.show_text("gone")
    bus.reconnect()
    assert back.wait(10)
    assert heard == [(False, True), (True, True)]
