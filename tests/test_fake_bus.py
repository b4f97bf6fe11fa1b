"""The fake SSD1306 bus decodes traffic like the panel would.

These tests drive the fake with raw bytes (no luma), so a bug in the fake
cannot hide behind a matching bug in how luma is used.
"""

from __future__ import annotations

import errno

import pytest
from smbus2 import i2c_msg

from tests.fakes.ssd1306_bus import HORIZONTAL, PAGE, VERTICAL, FakeSSD1306Bus

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
