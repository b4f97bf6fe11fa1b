"""The fake OLED bus decodes traffic like the panel would.

Decoding is tested with raw bytes (no luma), so a bug in the fake cannot
hide behind a matching bug in how luma is used.  Then each luma.oled
monochrome driver draws a random frame through the fake: the glass must
show exactly that frame.  Faults and the wire counters come last.
"""

from __future__ import annotations

import errno
import os
import random

import luma.core.error
import luma.oled.device
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from luma.core.interface.serial import i2c
from PIL import Image
from smbus2 import i2c_msg

from pi_edge.providers.oled.testing import HORIZONTAL, PAGE, VERTICAL, FakeSSD1306Bus

ADDR = 0x3C
CMD, DATA = 0x00, 0x40


def cmd(bus: FakeSSD1306Bus, *bytes_: int) -> None:
    bus.write_i2c_block_data(ADDR, CMD, list(bytes_))


def data(bus: FakeSSD1306Bus, *bytes_: int) -> None:
    bus.write_i2c_block_data(ADDR, DATA, list(bytes_))


@pytest.fixture
def bus() -> FakeSSD1306Bus:
    b = FakeSSD1306Bus()
    # What luma's ssd1306 sets up: upright orientation, display on.
    cmd(b, 0xA1, 0xC8, 0xAF)
    return b


def lit(bus: FakeSSD1306Bus) -> set[tuple[int, int]]:
    img = bus.image()
    return {(x, y) for y in range(img.height) for x in range(img.width) if img.getpixel((x, y))}


def test_power_on_state_is_dark_page_mode():
    b = FakeSSD1306Bus()
    assert not b.display_on
    assert b.addressing_mode == PAGE
    assert b.contrast == 0x7F
    assert b.image().getbbox() is None


def test_display_off_hides_ram_and_on_shows_it(bus):
    data(bus, 0x01)  # page 0, column 0, top bit
    assert lit(bus) == {(0, 0)}
    cmd(bus, 0xAE)
    assert not bus.display_on
    assert lit(bus) == set()
    assert bus.gddram[0][0] == 0x01  # RAM kept while off
    cmd(bus, 0xAF)
    assert lit(bus) == {(0, 0)}


def test_data_byte_lsb_is_top_pixel(bus):
    cmd(bus, 0xB2, 0x05, 0x10)  # page 2, column 5
    data(bus, 0b1000_0001)
    assert lit(bus) == {(5, 16), (5, 23)}


def test_horizontal_mode_wraps_inside_windows(bus):
    cmd(bus, 0x20, HORIZONTAL, 0x21, 10, 12, 0x22, 1, 2)
    data(bus, 1, 2, 3, 4, 5, 6, 7)
    assert list(bus.gddram[1][10:13]) == [7, 2, 3]  # the 7th byte wrapped to the window start
    assert list(bus.gddram[2][10:13]) == [4, 5, 6]
    assert bus.gddram[1][9] == 0 and bus.gddram[1][13] == 0 and not any(bus.gddram[3])
    assert (bus.column, bus.page) == (11, 1)


def test_vertical_mode_walks_pages_first(bus):
    cmd(bus, 0x20, VERTICAL, 0x21, 0, 1, 0x22, 0, 2)
    data(bus, 1, 2, 3, 4, 5, 6, 7)
    assert [bus.gddram[p][0] for p in range(3)] == [7, 2, 3]
    assert [bus.gddram[p][1] for p in range(3)] == [4, 5, 6]


def test_page_mode_wraps_column_and_keeps_page(bus):
    cmd(bus, 0xB3, 0x05, 0x17)  # page 3, column 0x75 = 117
    data(bus, *range(1, 13))  # 11 bytes reach column 127, the 12th wraps
    assert bus.gddram[3][117] == 12  # wrapped back to the start column
    assert list(bus.gddram[3][118:128]) == list(range(2, 12))
    assert not any(bus.gddram[4]) and not any(bus.gddram[2])


def test_column_nibbles_are_ignored_outside_page_mode(bus):
    cmd(bus, 0x20, HORIZONTAL, 0x21, 0, 127, 0x22, 0, 7, 0x05, 0x13)
    data(bus, 0xFF)
    assert bus.gddram[0][0] == 0xFF and bus.gddram[0][0x35] == 0


def test_multibyte_commands_consume_arguments_in_one_block(bus):
    # 0xA6 and 0x40 are arguments here, not "normal display" or "start line".
    cmd(bus, 0xA8, 0x1F, 0xD3, 0x05, 0x81, 0xA6, 0xDA, 0x02, 0xD5, 0x40)
    assert (bus.multiplex, bus.display_offset, bus.contrast, bus.com_pins) == (0x1F, 5, 0xA6, 0x02)
    assert bus.clock_div == 0x40 and bus.start_line == 0 and not bus.inverted


def test_command_argument_may_arrive_in_next_transaction(bus):
    cmd(bus, 0x81)
    assert bus.contrast == 0x7F
    cmd(bus, 0x10)
    assert bus.contrast == 0x10
    assert bus.commands[-1] == (0x81, 0x10)


def test_invert_and_entire_display_on(bus):
    data(bus, 0x01)
    cmd(bus, 0xA7)
    assert len(lit(bus)) == 128 * 64 - 1 and (0, 0) not in lit(bus)
    cmd(bus, 0xA6, 0xA5)
    assert len(lit(bus)) == 128 * 64
    cmd(bus, 0xA4)
    assert lit(bus) == {(0, 0)}


def test_segment_remap_and_com_scan_mirror_the_image(bus):
    data(bus, 0x01)
    cmd(bus, 0xA0)
    assert lit(bus) == {(127, 0)}
    cmd(bus, 0xC0)
    assert lit(bus) == {(127, 63)}
    cmd(bus, 0xA1)
    assert lit(bus) == {(0, 63)}


def test_start_line_scrolls_rows(bus):
    cmd(bus, 0xB1, 0x00, 0x10)
    data(bus, 0x01)  # RAM row 8
    cmd(bus, 0x40 | 8)
    assert lit(bus) == {(0, 0)}


def test_unknown_command_raises_with_hex():
    b = FakeSSD1306Bus()
    with pytest.raises(AssertionError, match="0x3A"):
        cmd(b, 0x3A)


def test_invalid_addressing_mode_raises(bus):
    with pytest.raises(AssertionError, match="0x03"):
        cmd(bus, 0x20, 0x03)


def test_wrong_address_is_a_remote_io_error(bus):
    before = bus.transactions
    with pytest.raises(OSError) as err:
        bus.write_i2c_block_data(0x3D, DATA, [0xFF])
    assert err.value.errno == errno.EREMOTEIO == 121
    assert bus.transactions == before and not any(bus.gddram[0])


def test_disconnected_panel_nacks_until_reconnected(bus):
    bus.disconnect()
    with pytest.raises(OSError) as err:
        data(bus, 0xFF)
    assert err.value.errno == 121
    bus.reconnect()
    data(bus, 0xFF)
    assert bus.gddram[0][0] == 0xFF


def test_smbus_block_limit(bus):
    with pytest.raises(ValueError):
        data(bus, *([0] * 33))


def test_counters(bus):
    t, n = bus.transactions, bus.bytes_written
    data(bus, 1, 2, 3)
    assert (bus.transactions - t, bus.bytes_written - n) == (1, 4)  # control byte + 3


def test_i2c_rdwr_with_smbus2_messages(bus):
    bus.i2c_rdwr(i2c_msg.write(ADDR, [DATA, 0xFF, 0x81]))
    assert list(bus.gddram[0][:2]) == [0xFF, 0x81]
    # Co=1 control bytes: one command byte each, then a data run.
    bus.i2c_rdwr(i2c_msg.write(ADDR, [0x80, 0xA7, 0x80, 0xB5, 0x40, 0x3C]))
    assert bus.inverted and bus.gddram[5][2] == 0x3C


def test_128x32_panel_shows_four_pages():
    b = FakeSSD1306Bus(width=128, height=32)
    cmd(b, 0xA1, 0xC8, 0xAF, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 3)
    for _ in range(512 // 32):
        data(b, *([0xFF] * 32))
    assert b.image().size == (128, 32)
    assert len(lit(b)) == 128 * 32
    assert not any(b.gddram[4])


# -- other controllers, raw bytes ------------------------------------------------


def panel(controller: str, width: int = 128, height: int = 64, *setup: int) -> FakeSSD1306Bus:
    b = FakeSSD1306Bus(width=width, height=height, controller=controller)
    cmd(b, *setup, 0xAF)
    return b


def test_unknown_controller_names_the_known_ones():
    with pytest.raises(ValueError, match=r"ch1115.*sh1106.*sh1107.*ssd1305.*ssd1306"):
        FakeSSD1306Bus(controller="ssd9999")


@pytest.mark.parametrize(("controller", "opcode", "why"), [
    ("ssd1306", 0xB8, "8 pages only"),
    ("ssd1306", 0x18, "128 columns: high nibble 0x10..0x17"),
    ("sh1106", 0x3A, "not a command"),
    ("sh1107", 0x40, "start line is 0xDC + byte"),
    ("sh1107", 0x18, "high nibble 0x10..0x17"),
    ("sh1107", 0x2E, "no scrolling"),
    ("ch1115", 0x20, "no addressing modes"),
    ("ssd1305", 0xAC, "dim-mode display on: not modelled, so refused"),
])
def test_each_controller_refuses_what_it_does_not_understand(controller, opcode, why):
    b = FakeSSD1306Bus(controller=controller, width=128, height=128 if controller == "sh1107" else 64)
    with pytest.raises(AssertionError, match=f"{controller.upper()} command 0x{opcode:02X}"):
        cmd(b, opcode)


def test_sh1107_has_sixteen_pages_and_a_two_byte_start_line():
    b = panel("sh1107", 128, 128)
    cmd(b, 0xBF, 0x05, 0x10)  # page 15, column 5
    data(b, 0x80)
    assert b.gddram[15][5] == 0x80
    assert lit(b) == {(5, 127)}  # columns run across, page bits down
    cmd(b, 0xDC, 5)
    assert b.start_line == 5 and lit(b) == {(0, 127)}


def test_sh1107_narrow_glass_sits_on_the_middle_com_lines():
    b = panel("sh1107", 64, 128)
    data(b, 0x01)  # RAM column 0 drives COM 0, which this glass does not have
    assert b.column_offset == 32 and lit(b) == set()
    cmd(b, 0xD3, 0x60)  # luma's offset for 64x128 brings column 0 to the left edge
    assert lit(b) == {(0, 0)}


def test_sh1107_multiplex_darkens_lines_it_does_not_scan():
    b = panel("sh1107", 80, 128, 0xD3, 0x68, 0xA8, 0x4F, 0xA5)
    assert len(lit(b)) == 80 * 128
    cmd(b, 0xA8, 0x3F)
    assert lit(b) == {(x, y) for x in range(64) for y in range(128)}


def test_sh1107_remap_and_scan_mirror_the_image():
    b = panel("sh1107", 128, 128)
    data(b, 0x01)
    assert lit(b) == {(0, 0)}
    cmd(b, 0xA1)
    assert lit(b) == {(0, 127)}
    cmd(b, 0xC8)
    assert lit(b) == {(127, 127)}


def test_sh1107_vertical_mode_walks_pages_then_columns():
    b = panel("sh1107", 128, 128, 0x21)
    data(b, *range(1, 18))
    assert [b.gddram[p][0] for p in range(16)] == list(range(1, 17)) and b.gddram[0][1] == 17


def test_ssd1305_has_132_columns_and_shows_four_of_them_less_on_128x32():
    b = panel("ssd1305", 128, 32, 0xA1, 0xC8, 0x20, HORIZONTAL, 0x21, 4, 131, 0x22, 0, 3)
    assert b.column_offset == 4
    data(b, 0x01)
    assert b.gddram[0][4] == 0x01 and lit(b) == {(0, 0)}
    with pytest.raises(AssertionError, match="bad column window"):
        cmd(FakeSSD1306Bus(), 0x21, 4, 131)


def test_segment_remap_mirrors_about_the_chip_not_the_window():
    b = panel("ssd1305", 128, 32, 0xA1, 0xC8, 0x04, 0x10)  # column 4 is x=0
    data(b, 0x01)
    cmd(b, 0xA0)  # now SEG n shows column n: column 4 is 4 segments in from the far edge
    assert lit(b) == {(123, 0)}


def test_ch1115_takes_its_own_commands_and_luma_column_offset():
    b = panel("ch1115", 128, 64, 0xAD, 0x8B, 0x82, 0x00, 0x31, 0xA2, 0x23, 0x81, 0xA1, 0xC8)
    cmd(b, 0xB0, 0x02, 0x10)
    data(b, 0x01)
    assert b.column_offset == 2 and lit(b) == {(0, 0)}


# -- luma's drivers on their controllers ------------------------------------------


def luma_device(bus: FakeSSD1306Bus, driver: str, width: int, height: int):
    device = getattr(luma.oled.device, driver)(i2c(bus=bus, address=ADDR), width=width, height=height)
    device.persist = True  # no atexit clean-up traffic
    return device


def random_frame(width: int, height: int, seed: int) -> Image.Image:
    return Image.frombytes("1", (width, height), random.Random(seed).randbytes(width * height // 8))


ROUND_TRIPS = [
    ("ssd1306", "ssd1306", 128, 64), ("ssd1306", "ssd1306", 128, 32),
    ("ssd1306", "ssd1306", 64, 48), ("ssd1306", "ssd1306", 96, 16),
    ("ssd1305", "ssd1305", 128, 64), ("ssd1305", "ssd1305", 128, 32),
    ("ssd1309", "ssd1309", 128, 64), ("ssd1315", "ssd1315", 128, 64), ("ssd1316", "ssd1316", 128, 64),
    ("sh1106", "sh1106", 128, 64),
    ("sh1107", "sh1107", 64, 128), ("sh1107", "sh1107", 80, 128), ("sh1107", "sh1107", 128, 128),
    ("ch1115", "ch1115", 128, 64),
]


@pytest.mark.parametrize(("driver", "controller", "width", "height"), ROUND_TRIPS,
                         ids=[f"{d}-{w}x{h}" for d, _, w, h in ROUND_TRIPS])
def test_a_frame_luma_draws_is_what_the_glass_shows(driver, controller, width, height):
    bus = FakeSSD1306Bus(width=width, height=height, controller=controller)
    device = luma_device(bus, driver, width, height)
    assert bus.display_on and bus.image().getbbox() is None  # initialised and cleared
    for seed in (1, 2):  # the second frame must fully replace the first
        frame = random_frame(width, height, seed)
        device.display(frame)
        assert bus.image().tobytes() == frame.tobytes()


def test_luma_sh1107_leaves_remap_and_scan_at_reset():
    bus = FakeSSD1306Bus(width=64, height=128, controller="sh1107")
    luma_device(bus, "sh1107", 64, 128)
    assert (bus.display_offset, bus.multiplex) == (0x60, 0x7F)
    assert not bus.segment_remap and not bus.com_scan_reversed


# -- faults ---------------------------------------------------------------------------


def test_fail_next_fails_the_next_calls_and_leaves_the_panel_alone(bus):
    data(bus, 0x01)
    before = (bytes(bus.gddram[0]), len(bus.commands), bus.transactions, bus.bytes_written)
    bus.fail_next(2)
    for _ in range(2):
        with pytest.raises(OSError) as err:
            cmd(bus, 0xA7)
        assert err.value.errno == errno.EREMOTEIO and err.value.strerror == os.strerror(errno.EREMOTEIO)
    assert (bytes(bus.gddram[0]), len(bus.commands), bus.transactions, bus.bytes_written) == before
    assert not bus.inverted and bus.failed_transfers == 2
    cmd(bus, 0xA7)
    assert bus.inverted


@pytest.mark.parametrize("send", [
    lambda b: b.write_i2c_block_data(ADDR, DATA, [0xFF]),
    lambda b: b.write_byte_data(ADDR, DATA, 0xFF),
    lambda b: b.write_byte(ADDR, DATA),
    lambda b: b.i2c_rdwr(i2c_msg.write(ADDR, [DATA, 0xFF])),
], ids=["block", "byte_data", "byte", "rdwr"])
def test_every_kind_of_transfer_can_be_failed(bus, send):
    bus.fail_next(1, errno.EIO)
    with pytest.raises(OSError) as err:
        send(bus)
    assert err.value.errno == errno.EIO and bus.failed_transfers == 1 and not any(bus.gddram[0])
    send(bus)
    assert bus.transactions == 2  # the fixture's command block, then this one


def test_write_byte_data_sends_one_command(bus):
    bus.write_byte_data(ADDR, CMD, 0xAE)
    assert not bus.display_on and bus.bytes_written == 4 + 2


def test_a_glitch_during_a_luma_frame_leaves_the_last_frame_shown(bus):
    device = luma_device(bus, "ssd1306", 128, 64)
    first, second = random_frame(128, 64, 1), random_frame(128, 64, 2)
    device.display(first)
    bus.fail_next(1)
    with pytest.raises(luma.core.error.DeviceNotFoundError):  # luma's command() translates EREMOTEIO
        device.display(second)
    assert bus.image().tobytes() == first.tobytes()
    device.display(second)
    assert bus.image().tobytes() == second.tobytes()


def test_disconnected_transfers_are_counted_as_failed(bus):
    t, n = bus.transactions, bus.bytes_written
    bus.disconnect()
    for _ in range(3):
        with pytest.raises(OSError):
            data(bus, 0xFF)
    assert (bus.failed_transfers, bus.transactions, bus.bytes_written) == (3, t, n)


def test_reconnect_without_power_cycle_keeps_the_picture(bus):
    data(bus, 0x01)
    bus.disconnect()
    bus.reconnect(power_cycled=False)
    assert bus.display_on and lit(bus) == {(0, 0)}


def test_a_power_cycled_panel_needs_a_driver_init_again():
    bus = FakeSSD1306Bus()
    device = luma_device(bus, "ssd1306", 128, 64)
    frame = random_frame(128, 64, 3)
    device.display(frame)
    bus.disconnect()
    bus.reconnect()  # power-cycled by default: back at reset
    assert not bus.display_on and not any(map(any, bus.gddram))
    assert (bus.addressing_mode, bus.contrast) == (PAGE, 0x7F)
    device.display(frame)  # without init: dark, and the data piled into one page
    assert bus.image().getbbox() is None and not any(map(any, bus.gddram[1:]))
    device = luma_device(bus, "ssd1306", 128, 64)
    device.display(frame)
    assert bus.image().tobytes() == frame.tobytes()


# -- counters and bus time --------------------------------------------------------


def test_wire_bits_count_start_address_bytes_acks_and_stop(bus):
    bus.reset_counters()
    data(bus, 1, 2, 3)
    assert (bus.transactions, bus.bytes_written) == (1, 4)
    assert bus.wire_bits == 1 + 9 * (1 + 4) + 1


def test_rdwr_messages_share_one_stop(bus):
    bus.reset_counters()
    bus.i2c_rdwr(i2c_msg.write(ADDR, [DATA, 1, 2]), i2c_msg.write(ADDR, [DATA, 3]))
    assert (bus.transactions, bus.bytes_written) == (2, 5)
    assert bus.wire_bits == 2 * (1 + 9) + 9 * 5 + 1


def test_a_nacked_call_costs_start_address_and_stop(bus):
    bus.reset_counters()
    with pytest.raises(OSError):
        bus.write_i2c_block_data(0x3D, DATA, [1, 2, 3])
    assert (bus.failed_transfers, bus.transactions, bus.bytes_written, bus.wire_bits) == (1, 0, 0, 11)


def test_full_ssd1306_frame_from_luma_costs_99ms_at_100khz():
    bus = FakeSSD1306Bus()
    device = luma_device(bus, "ssd1306", 128, 64)
    bus.reset_counters()
    device.display(random_frame(128, 64, 4))
    # luma was handed a bus object, so it is "unmanaged": one command block
    # (control + 0x21 0 127 0x22 0 7) then 1024 data bytes in 32-byte SMBus
    # blocks, each with its own START, address, control byte and STOP.
    command = 1 + 9 * (1 + 7) + 1
    block = 1 + 9 * (1 + 1 + 32) + 1
    assert (bus.transactions, bus.bytes_written) == (1 + 32, 7 + 32 * 33)
    assert bus.wire_bits == command + 32 * block == 9930
    assert bus.bus_seconds(100_000) == pytest.approx(0.0993)
    assert bus.bus_seconds(400_000) == pytest.approx(0.024825)


def test_one_message_frame_costs_92ms_at_100khz(bus):
    # The i2c_rdwr path (luma's own when it opens the bus; the provider's
    # transport): the whole frame after one control byte in one message.
    cmd(bus, 0x20, HORIZONTAL, 0x21, 0, 127, 0x22, 0, 7)
    frame = random_frame(128, 64, 5)
    px = frame.load()
    payload = bytes(sum(1 << bit for bit in range(8) if px[x, 8 * page + bit])
                    for page in range(8) for x in range(128))  # page by page, LSB on top
    bus.reset_counters()
    bus.i2c_rdwr(i2c_msg.write(ADDR, bytes([DATA]) + payload))
    assert bus.wire_bits == 1 + 9 * (1 + 1 + 1024) + 1 == 9236
    assert bus.bus_seconds(100_000) == pytest.approx(0.09236)
    assert bus.bus_seconds(400_000) == pytest.approx(0.02309)
    assert bus.image().tobytes() == frame.tobytes()


def test_reset_counters_zeroes_counters_not_the_panel(bus):
    data(bus, 0x01)
    bus.fail_next(1)
    with pytest.raises(OSError):
        data(bus, 0x02)
    bus.reset_counters()
    assert (bus.bytes_written, bus.transactions, bus.failed_transfers, bus.wire_bits) == (0, 0, 0, 0)
    assert bus.display_on and lit(bus) == {(0, 0)} and bus.bus_seconds(100_000) == 0.0


def test_bus_seconds_needs_a_positive_clock(bus):
    with pytest.raises(ValueError, match="positive"):
        bus.bus_seconds(0)


def _byte_by_byte(bus: FakeSSD1306Bus) -> FakeSSD1306Bus:
    """The same bus decoding data one byte at a time: the reference the bulk write must match."""
    bus._write_data = lambda body: [bus._write_ram(b) for b in body]  # type: ignore[method-assign]
    return bus


@st.composite
def _traffic(draw: st.DrawFn, controller: str) -> list[tuple[int, list[int]]]:
    """Pointer-moving commands and data runs, as (control byte, bytes) writes a driver could send."""
    spec = FakeSSD1306Bus(controller=controller).spec
    last_column = spec.ram_columns - 1
    steps: list[tuple[int, list[int]]] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["data", "data", "page", "column", "mode", "window"]))
        if kind == "data":
            steps.append((DATA, draw(st.lists(st.integers(0, 255), max_size=300))))
        elif kind == "page":
            steps.append((CMD, [0xB0 + draw(st.integers(0, spec.pages - 1))]))
        elif kind == "column":
            column = draw(st.integers(0, min(last_column, (spec.high_column_max & 0x0F) << 4 | 0x0F)))
            steps.append((CMD, [column & 0x0F, 0x10 | column >> 4]))
        elif spec.windows and kind == "mode":
            steps.append((CMD, [0x20, draw(st.sampled_from([PAGE, HORIZONTAL, VERTICAL]))]))
        elif spec.windows and kind == "window":
            c0 = draw(st.integers(0, last_column))
            p0 = draw(st.integers(0, spec.pages - 1))
            steps.append((CMD, [0x21, c0, draw(st.integers(c0, last_column)),
                                0x22, p0, draw(st.integers(p0, spec.pages - 1))]))
    return steps


@pytest.mark.parametrize("controller", ["ssd1306", "sh1106", "ssd1305"])
@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_data_runs_land_where_byte_by_byte_writes_land(controller: str, data: st.DataObject) -> None:
    traffic = data.draw(_traffic(controller))
    bulk, reference = FakeSSD1306Bus(controller=controller), _byte_by_byte(FakeSSD1306Bus(controller=controller))
    for b in (bulk, reference):
        for control, payload in traffic:
            b.i2c_rdwr(i2c_msg.write(ADDR, [control, *payload]))
    assert bulk.gddram == reference.gddram
    assert (bulk.column, bulk.page) == (reference.column, reference.page)


def test_a_data_byte_out_of_range_is_named(bus):
    with pytest.raises(AssertionError, match="data byte out of range: 256"):
        bus._decode([DATA, 1, 256])


# -- the public face ----------------------------------------------------------------


def test_the_example_in_the_fake_bus_docstring_works_as_written() -> None:
    """What a user's own test does: the provider draws through the fake, the fake says what the glass shows."""
    from pi_edge.providers.oled import DisplayConfig, FakeSSD1306Bus, OledProvider

    bus = FakeSSD1306Bus()
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=bus)
    try:
        provider.show_text("Hello")
        assert bus.image().getbbox() is not None
        assert bus.image().tobytes() == provider.snapshot_image().tobytes()
    finally:
        provider.close()


def test_the_fake_bus_needs_no_test_tools_and_no_luma() -> None:
    """Users import it in their own tests, whatever they run them with; it is a model, not a luma client."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from pi_edge.providers.oled import FakeSSD1306Bus\n"
            "FakeSSD1306Bus().write_i2c_block_data(0x3C, 0x00, [0xAF])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', 'hypothesis', 'luma')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
