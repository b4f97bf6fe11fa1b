"""Frames onto an SSD1306: stock luma.oled ``display()`` against our changed-window writer.

Same frames, same run, interleaved frame by frame so machine noise lands on
both.  Three kinds of update: a full new screen, one changed line of text and
a ticking clock digit.  For each: CPU per frame, bytes and simulated wire time
per update, and frames per second on the glass when actors send as fast as
they can over a bus that takes real time (paced at 400 kHz).  Every result is
checked against what the fake panel decodes; a wrong picture exits non-zero.

    .venv/bin/python bench/display.py [--repeat 500] [--seconds 3] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import luma.core
import luma.oled
import PIL
from common import write_result
from luma.core.interface.serial import i2c
from luma.oled.device import ssd1306
from PIL import Image, ImageDraw, ImageFont
from smbus2 import i2c_msg

from pi_edge.agent.display.provider import TextOptions
from pi_edge.providers.oled.bitmap import pack_bitmap
from pi_edge.providers.oled.config import DisplayConfig
from pi_edge.providers.oled.device import open_device
from pi_edge.providers.oled.layout import layout_text
from pi_edge.providers.oled.panel import PanelWriter, addressing_for
from pi_edge.providers.oled.provider import OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus
from pi_edge.providers.oled.transport import I2CTransport

WIDTH, HEIGHT, ADDRESS = 128, 64, 0x3C
CONFIG = DisplayConfig(display="ssd1306", width=WIDTH, height=HEIGHT, i2c_address=ADDRESS)
PACE_HZ = 400_000
TARGET_CPU = 10.0  # stock / ours, at least
TARGET_LINE_BYTES = 0.20  # ours / stock for a one-line change, at most


class BenchFailure(SystemExit):
    """A wrong picture or a wrong count: the numbers around it mean nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(f"display bench: FAILED: {message}")


# -- the bus ------------------------------------------------------------------


def wire_bits(payload: int) -> int:
    """One I2C write: START, address byte, payload bytes (control byte included), 9 clocks a byte, STOP."""
    return 1 + 9 * (1 + payload) + 1


class NullBus:
    """Takes transfers and does nothing: CPU timing must not include a Python panel model."""

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        pass

    def i2c_rdwr(self, *messages: object) -> None:
        pass

    def close(self) -> None:
        pass


class WireMeter:
    """An smbus2-like proxy that counts what crosses the wire and, if paced, takes the time it would.

    Counted here rather than by the fake so the bench does not depend on the
    fake's helpers.  Pacing sleeps the owed wire time once it exceeds 1 ms
    (``time.sleep`` is too coarse below that); oversleep is paid back, so the
    total time slept equals the total wire time.
    """

    def __init__(self, inner: object, pace_hz: int | None = None) -> None:
        self.inner = inner
        self.pace_hz = pace_hz
        self.transactions = self.bytes = self.bits = 0
        self._owed = 0.0

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        self.inner.write_i2c_block_data(i2c_addr, register, data)  # type: ignore[attr-defined]
        self._count(1 + len(data))

    def i2c_rdwr(self, *messages: object) -> None:
        self.inner.i2c_rdwr(*messages)  # type: ignore[attr-defined]
        for msg in messages:
            self._count(len(bytes(msg)))  # type: ignore[call-overload]

    def close(self) -> None:
        pass

    def counters(self) -> tuple[int, int, int]:
        return self.transactions, self.bytes, self.bits

    def _count(self, payload: int) -> None:
        bits = wire_bits(payload)
        self.transactions += 1
        self.bytes += 1 + payload  # address byte + control byte + data
        self.bits += bits
        if self.pace_hz:
            self._owed += bits / self.pace_hz
            if self._owed > 0.001:
                t0 = time.perf_counter()
                time.sleep(self._owed)
                self._owed -= time.perf_counter() - t0


def stock_device(bus: object) -> ssd1306:
    """Plain luma.oled, as its docs show it, on a bus we hand it (so 32-byte SMBus blocks)."""
    return ssd1306(i2c(bus=bus, address=ADDRESS))


def our_writer(bus: object) -> PanelWriter:
    """Our bare writer, built the way ``PanelSink`` builds it (luma initialises the controller)."""
    device = open_device(CONFIG, bus)
    writer = PanelWriter(I2CTransport(bus, ADDRESS), addressing_for(device), CONFIG.width, CONFIG.height)
    writer.assume_blank()  # as PanelSink does: luma's init just cleared panel memory
    return writer


def check_glass(fake: FakeSSD1306Bus, frame: Image.Image, what: str) -> None:
    if fake.image().tobytes() != frame.convert("1").tobytes():
        raise BenchFailure(f"{what}: the panel does not show the intended frame")


# -- the frames -----------------------------------------------------------------


# Each takes ``sender``: concurrent senders draw frames of their own, so no frame
# on the glass is a free repeat of another sender's.  Sender 0 is the scenario.


def full_frames(sender: int = 0, count: int = 8) -> list[Image.Image]:
    """Random noise: nearly every byte changes every frame, the worst case for a diffing writer."""
    rng = random.Random(1306 + sender)
    return [Image.frombytes("1", (WIDTH, HEIGHT), rng.randbytes(WIDTH * HEIGHT // 8)) for _ in range(count)]


def _draw_lines(lines: Sequence[str], size: int) -> Image.Image:
    image = Image.new("1", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    font = ImageFont.load_default(size=size)
    for i, line in enumerate(lines):
        draw.text((0, i * 16), line, font=font, fill=255)
    return image


def line_frames(sender: int = 0, count: int = 10) -> list[Image.Image]:
    """A four-line status screen whose second line changes: a sensor reading."""
    return [_draw_lines(["pi-edge  node-3", f"temp {21 + sender + i / 10:.1f} C", "hum  48 %", "up 3d 04:17"], 12)
            for i in range(count)]


def clock_texts(sender: int = 0) -> list[str]:
    return [f"12:3{(4 + sender) % 10}:5{d}" for d in range(10)]


def clock_frames(sender: int = 0) -> list[Image.Image]:
    """A big clock where only the last digit ticks."""
    frames = []
    font = ImageFont.load_default(size=24)
    for text in clock_texts(sender):
        image = Image.new("1", (WIDTH, HEIGHT))
        draw = ImageDraw.Draw(image)
        draw.fontmode = "1"
        draw.text((17, 16), text, font=font, fill=255)  # left-anchored, so only the last digit moves
        frames.append(image)
    return frames


# -- 1. CPU per frame --------------------------------------------------------------


def cpu_per_frame(frames: list[Image.Image], repeat: int) -> dict[str, dict[str, float]]:
    """Median CPU (all threads) and wall time per frame, measured over batches.

    Each path runs a batch of frames on its own, batches of the three paths
    alternating, so one path's leftovers (the provider's frame thread finishing
    after a ticket resolves) never land in another's measurement, and timer
    overhead is spread over the batch.  On a bus that does nothing: a Python
    model of the panel would dwarf what is measured.  The syscalls a real bus
    costs are left out too, which flatters stock (33 transfers a frame, ours 2).
    """
    stock = stock_device(NullBus())
    writer = our_writer(NullBus())
    provider = OledProvider(CONFIG, bus=NullBus())
    bits = [pack_bitmap(f) for f in frames]
    paths: dict[str, Callable[[int], object]] = {
        "e2e": lambda i: provider.show_bitmap(WIDTH, HEIGHT, bits[i]),
        "writer": lambda i: writer.write(frames[i]),
        "stock": lambda i: stock.display(frames[i]),
    }
    batch = max(len(frames), 20)
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in paths}
    try:
        for i in range(len(frames)):  # warm up: our first frame goes out in full
            for run in paths.values():
                run(i)
        gc.collect()
        for _ in range(max(1, repeat // batch)):
            for name, run in paths.items():
                c0, w0 = time.process_time(), time.perf_counter()
                for n in range(batch):
                    run(n % len(frames))
                w1, c1 = time.perf_counter(), time.process_time()
                samples[name][0].append((c1 - c0) * 1000 / batch)
                samples[name][1].append((w1 - w0) * 1000 / batch)
    finally:
        provider.close()
    return {name: {"cpu_ms": statistics.median(c), "wall_ms": statistics.median(w)}
            for name, (c, w) in samples.items()}


# -- 2./3. bytes and wire time per update, checked on the glass ------------------------


def bus_per_update(name: str, frames: list[Image.Image]) -> dict[str, dict[str, float]]:
    """Every update of the sequence on a decoding fake, per path; each frame is checked on the glass."""
    fakes = {path: FakeSSD1306Bus(WIDTH, HEIGHT, ADDRESS) for path in ("stock", "stock_managed", "writer", "e2e")}
    meters = {path: WireMeter(fake) for path, fake in fakes.items()}
    stock = stock_device(meters["stock"])
    managed = stock_device(meters["stock_managed"])
    # What luma does when it opens smbus2 itself: one i2c_rdwr of up to 4 KiB (for reference only).
    managed._serial_interface._managed, managed._serial_interface._i2c_msg_write = True, i2c_msg.write
    writer = our_writer(meters["writer"])
    provider = OledProvider(CONFIG, bus=meters["e2e"])
    transport: I2CTransport = provider._sink.transport  # type: ignore[union-attr]
    updates: dict[str, list[tuple[int, int, int]]] = {path: [] for path in fakes}
    try:
        sequence = [*range(len(frames)), 0]  # the first update primes; the wrap-around is measured
        for step, i in enumerate(sequence):
            frame = frames[i]
            before = {path: meter.counters() for path, meter in meters.items()}
            stock.display(frame)
            managed.display(frame)
            returned = writer.write(frame)
            sent_before = transport.bytes_sent
            report = provider.show_bitmap(WIDTH, HEIGHT, pack_bitmap(frame))
            deltas = {path: tuple(a - b for a, b in zip(meters[path].counters(), before[path], strict=True))
                      for path in meters}
            for path, fake in fakes.items():
                check_glass(fake, frame, f"{name} frame {step} via {path}")
            if report.status != "shown":
                raise BenchFailure(f"{name} frame {step}: provider reported {report.status!r}")
            if not returned == report.bus_bytes == transport.bytes_sent - sent_before == deltas["e2e"][1]:
                raise BenchFailure(f"{name} frame {step}: our byte counts disagree: writer {returned}, report "
                                   f"{report.bus_bytes}, transport {transport.bytes_sent - sent_before}, "
                                   f"wire {deltas['e2e'][1]}")
            if step and deltas["writer"] != deltas["e2e"]:  # the priming frame may differ if PanelSink changes
                raise BenchFailure(f"{name} frame {step}: bare writer and provider sent different traffic")
            if step:
                for path in fakes:
                    updates[path].append(deltas[path])  # type: ignore[arg-type]
    finally:
        provider.close()
    for path, fake in fakes.items():  # the meter and the panel model saw the same traffic
        if meters[path].bytes != fake.bytes_written + fake.transactions:
            raise BenchFailure(f"{name} via {path}: wire meter counted {meters[path].bytes} B, the fake "
                               f"{fake.bytes_written} B in {fake.transactions} transactions")
        theirs = getattr(fake, "wire_bits", None)  # newer fakes count wire bits too: a second opinion
        if theirs is not None and theirs != meters[path].bits:
            print(f"warning: {name} via {path}: the fake counts {theirs} wire bits, the meter "
                  f"{meters[path].bits}", file=sys.stderr)
    result: dict[str, dict[str, float]] = {}
    for path, rows in updates.items():
        transactions, nbytes, bits = (statistics.fmean(col) for col in zip(*rows, strict=True))
        result[path] = {"transactions": transactions, "bytes": nbytes, "bytes_max": max(r[1] for r in rows),
                        "wire_bits": bits, "ms_100k": bits / 100_000 * 1000, "ms_400k": bits / 400_000 * 1000}
    return result


# -- 4. frames per second on the glass ------------------------------------------------------


def _senders(count: int, seconds: float, send: Callable[[int, int], str]) -> tuple[dict[str, int], float]:
    """``count`` threads calling ``send(thread, n)`` until the deadline; statuses counted."""
    counts = {"submitted": 0, "shown": 0, "superseded": 0}
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(count + 1)

    def loop(thread: int) -> None:
        mine = {"submitted": 0, "shown": 0, "superseded": 0}
        start.wait()
        deadline = time.perf_counter() + seconds
        n = 0
        try:
            while time.perf_counter() < deadline:
                status = send(thread, n)
                mine["submitted"] += 1
                mine[status] += 1
                n += 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)
        with lock:
            for key, value in mine.items():
                counts[key] += value

    threads = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise BenchFailure(f"a sender failed: {errors[0]!r}")
    return counts, elapsed


def fps_ours(make: Callable[[int], list[Image.Image]], senders: int, seconds: float,
             texts: Callable[[int], list[str]] | None = None) -> dict[str, float]:
    """Actors sending as fast as they can through ``OledProvider`` (bitmaps, or text when ``texts``)."""
    fake = FakeSSD1306Bus(WIDTH, HEIGHT, ADDRESS)
    meter = WireMeter(fake, PACE_HZ)
    provider = OledProvider(CONFIG, bus=meter)
    frames = make(0)
    bits = [[pack_bitmap(f) for f in make(t)] for t in range(senders)]
    strings = [texts(t) for t in range(senders)] if texts is not None else []

    def send(thread: int, n: int) -> str:
        if texts is not None:
            mine = strings[thread]
            frame = provider.show_text(mine[n % len(mine)], TextOptions()).frame
            assert frame is not None
            return frame.status
        return provider.show_bitmap(WIDTH, HEIGHT, bits[thread][n % len(bits[thread])]).status

    try:
        provider.show_bitmap(WIDTH, HEIGHT, bits[0][-1])  # prime: the first frame goes out in full
        before = dict(provider.stats)
        wire_before = meter.bits
        counts, elapsed = _senders(senders, seconds, send)
        busy = (meter.bits - wire_before) / PACE_HZ / elapsed
        stats = provider.stats
        desired = provider._frames.desired  # the newest frame accepted: what the glass must show now
        assert desired is not None
        check_glass(fake, provider.snapshot_image(), f"fps x{senders}: our model of panel memory")
        check_glass(fake, desired, f"fps x{senders}: the newest frame")
        if texts is not None and not any(  # and the text really is the text
                layout_text(t, WIDTH, HEIGHT, TextOptions())[0].tobytes() == desired.tobytes()
                for mine in strings for t in mine):
            raise BenchFailure("fps show_text: the panel shows none of the texts sent")
        if (stats["frames_sent"] - before["frames_sent"] != counts["shown"]
                or stats["frames_superseded"] - before["frames_superseded"] != counts["superseded"]):
            raise BenchFailure(f"fps x{senders}: provider stats {stats} disagree with frame reports {counts}")
        provider.show_bitmap(WIDTH, HEIGHT, bits[0][0])
        check_glass(fake, frames[0], f"fps x{senders}: a frame after the run")
    finally:
        provider.close()
    return {**counts, "seconds": elapsed, "fps": counts["shown"] / elapsed, "bus_busy": busy}


def fps_stock(make: Callable[[int], list[Image.Image]], senders: int, seconds: float) -> dict[str, float]:
    """The same loop on stock luma, serialised by a lock (luma has no scheduler of its own)."""
    fake = FakeSSD1306Bus(WIDTH, HEIGHT, ADDRESS)
    meter = WireMeter(fake, PACE_HZ)
    device = stock_device(meter)
    lock = threading.Lock()
    last: list[Image.Image] = []
    frames = [make(t) for t in range(senders)]

    def send(thread: int, n: int) -> str:
        frame = frames[thread][n % len(frames[thread])]
        with lock:
            device.display(frame)
            last[:] = [frame]
        return "shown"

    wire_before = meter.bits
    counts, elapsed = _senders(senders, seconds, send)
    check_glass(fake, last[0], f"stock fps x{senders}")
    busy = (meter.bits - wire_before) / PACE_HZ / elapsed
    return {**counts, "seconds": elapsed, "fps": counts["shown"] / elapsed, "bus_busy": busy}


# -- report ------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Model"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} {model}".strip()


LABELS = {"full": "full screen", "line": "one text line", "clock": "clock digit"}


def print_report(result: dict) -> None:  # type: ignore[type-arg]
    cpu, bus, fps = result["cpu"], result["bus"], result["fps"]
    print(f"stock luma.oled {result['versions']['luma.oled']} display() vs ours, ssd1306 {WIDTH}x{HEIGHT}, "
          f"{result['machine']}, Python {result['python']}")
    print(f"\nCPU per frame over {result['repeat']} frames, median of batch means "
          "(ms; cpu = process_time, all threads; wall = perf_counter)")
    print(f"{'update':<15}{'':6}{'stock':>8}{'writer':>8}{'e2e':>8}{'stock/writer':>14}{'stock/e2e':>11}{'target':>9}")
    for key, label in LABELS.items():
        for kind in ("cpu", "wall"):
            s, w, e = (cpu[key][p][f"{kind}_ms"] for p in ("stock", "writer", "e2e"))
            print(f"{label if kind == 'cpu' else '':<15}{kind:<6}{s:>8.3f}{w:>8.3f}{e:>8.3f}"
                  f"{s / w:>13.1f}x{s / e:>10.1f}x{'>=10x' if kind == 'cpu' else '':>9}")
    print("\nbus per update (bytes = address + control + data; wire time = START + 9 clocks/byte + STOP)")
    print(f"{'update':<15}{'stock B':>8}{'ours B':>8}{'ours/stock':>11}{'target':>8}"
          f"{'stock ms':>10}{'ours ms':>9}{'stock ms':>10}{'ours ms':>9}{'xfers s/o':>11}")
    print(f"{'':<50}{'@100k':>10}{'@100k':>9}{'@400k':>10}{'@400k':>9}")
    for key, label in LABELS.items():
        s, o = bus[key]["stock"], bus[key]["e2e"]
        target = "<=0.20" if key == "line" else ""
        print(f"{label:<15}{s['bytes']:>8.0f}{o['bytes']:>8.0f}{o['bytes'] / s['bytes']:>11.3f}{target:>8}"
              f"{s['ms_100k']:>10.2f}{o['ms_100k']:>9.2f}{s['ms_400k']:>10.2f}{o['ms_400k']:>9.2f}"
              f"{s['transactions']:>6.0f}/{o['transactions']:<4.0f}")
    m = bus["full"]["stock_managed"]["bytes"]
    print(f"(stock on a bus luma opens itself sends a full frame in one i2c_rdwr: {m:.0f} B)")
    print(f"\nframes on the glass, bus paced at {PACE_HZ // 1000} kHz, {result['seconds']:g} s per run")
    print(f"{'update':<22}{'path':<7}{'senders':>8}{'submitted':>10}{'shown':>8}{'superseded':>11}{'fps':>8}"
          f"{'bus busy':>9}")
    for row in fps:
        print(f"{row['update']:<22}{row['path']:<7}{row['senders']:>8}{row['submitted']:>10}{row['shown']:>8}"
              f"{row['superseded']:>11}{row['fps']:>8.1f}{row['bus_busy']:>8.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=500, help="frames timed per scenario and path")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each frames-per-second run")
    parser.add_argument("--quick", action="store_true", help="smoke run: --repeat 30 --seconds 0.3")
    args = parser.parse_args()
    repeat, seconds = (30, 0.3) if args.quick else (args.repeat, args.seconds)

    makers: dict[str, Callable[[int], list[Image.Image]]] = {"full": full_frames, "line": line_frames,
                                                              "clock": clock_frames}
    scenarios = {key: make(0) for key, make in makers.items()}
    result: dict = {  # type: ignore[type-arg]
        "machine": machine(),
        "python": platform.python_version(),
        "versions": {"luma.oled": luma.oled.__version__, "luma.core": luma.core.__version__,
                     "pillow": PIL.__version__},
        "repeat": repeat, "seconds": seconds, "pace_hz": PACE_HZ,
        "bus": {key: bus_per_update(key, frames) for key, frames in scenarios.items()},
        "cpu": {key: cpu_per_frame(frames, repeat) for key, frames in scenarios.items()},
        "fps": [],
    }
    for key, make in makers.items():
        for senders in (1, 4):
            result["fps"].append({"update": LABELS[key], "path": "ours", "senders": senders,
                                  **fps_ours(make, senders, seconds)})
        for senders in (1, 4):
            result["fps"].append({"update": LABELS[key], "path": "stock", "senders": senders,
                                  **fps_stock(make, senders, seconds)})
    for senders in (1, 4):
        result["fps"].append({"update": "clock via show_text", "path": "ours", "senders": senders,
                              **fps_ours(clock_frames, senders, seconds, texts=clock_texts)})
    result["targets"] = {
        "cpu_stock_over_ours_at_least": TARGET_CPU,
        "line_bytes_ours_over_stock_at_most": TARGET_LINE_BYTES,
        "measured_cpu_stock_over_writer": {k: v["stock"]["cpu_ms"] / v["writer"]["cpu_ms"]
                                           for k, v in result["cpu"].items()},
        "measured_cpu_stock_over_e2e": {k: v["stock"]["cpu_ms"] / v["e2e"]["cpu_ms"] for k, v in result["cpu"].items()},
        "measured_line_bytes_ratio": result["bus"]["line"]["e2e"]["bytes"] / result["bus"]["line"]["stock"]["bytes"],
    }
    result["checks"] = "every frame decoded by the fake panel matched the intended frame"
    print_report(result)
    write_result("display", result)


if __name__ == "__main__":
    main()
