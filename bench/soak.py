"""Soak: traps of every kind among a stream of good messages, and what the agent's memory does.

The agent runs in a process of its own (bench/agent_process.py: the real Agent,
its own leaf nats-server joined to a hub in this process, oled-text on a panel
over the fake bus, and tests/actors/misbehave).  Requesters keep good messages
flowing to oled-text while another sends misbehave a mix of traps: an uncaught
exception, a memory bomb up to the instance's cap, an endless loop past the
deadline, each followed by a good message.  Every
request must get a reply (an answer or an error), and the agent's RSS at the
end must be within 20 MiB of its RSS after the warm-up: before traps freed
their instance at once, each memory bomb kept its 256 MiB.

    .venv/bin/python bench/soak.py [--good 100000] [--traps 1000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from common import CACHE, ROOT, rss_mib, spawn_agent, start_hub, write_result

from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.replies import ERROR_HEADER
from pi_edge.agent.wasm.build import build_actor

#: The trap kinds sent to misbehave, in turn: an uncaught exception, a memory bomb, an endless loop.
TRAPS = (b"trap", b"grow", b"loop")
MEMORY_MB = 64  # the instances' cap: a memory bomb fills it before it traps
DEADLINE_MS = 200
RSS_SLACK_MIB = 20


async def start_agent(hub: Hub) -> subprocess.Popen[str]:
    oled = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    misbehave = build_actor(ROOT / "tests" / "actors" / "misbehave", CACHE).path
    return await spawn_agent(hub, [
        "--actor", str(oled), "--misbehave-actor", str(misbehave), "--cache-dir", str(CACHE),
        "--deadline-ms", str(DEADLINE_MS), "--memory-mb", str(MEMORY_MB), "--max-traps", "1000000000"],
        ("oled-text", "misbehave"))


class Tally:
    def __init__(self) -> None:
        self.sent = self.answered = self.errors = self.unanswered = 0

    def to_json(self) -> dict[str, int]:
        return {"sent": self.sent, "answered": self.answered, "errors": self.errors, "unanswered": self.unanswered}


async def send(nc, subject: str, body: bytes, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    tally.sent += 1
    try:
        reply = await nc.request(subject, body, timeout=30)
    except Exception:
        tally.unanswered += 1
        return
    tally.answered += 1
    if reply.headers and ERROR_HEADER in reply.headers:
        tally.errors += 1


async def good(nc, count: int, outstanding: int, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    subject = subjects.actor(subjects.DEFAULT_LATTICE, "oled-text")
    numbers = iter(range(count))

    async def requester() -> None:
        for i in numbers:
            await send(nc, subject, f"Message {i}".encode(), tally)

    await asyncio.gather(*(requester() for _ in range(outstanding)))


async def traps(nc, count: int, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    subject = subjects.actor(subjects.DEFAULT_LATTICE, "misbehave")
    for i, kind in zip(range(count), itertools.cycle(TRAPS), strict=False):
        await send(nc, subject, kind, tally)
        await send(nc, subject, f"fine {i}".encode(), tally)


async def measure(good_count: int, trap_count: int, warmup: int) -> dict[str, object]:
    state = tempfile.TemporaryDirectory(prefix="bench-soak-")
    hub = await start_hub(Path(state.name) / "hub")
    proc = await start_agent(hub)
    nc = await connect(hub.url, name="bench-soak", credentials=hub.operator)
    try:
        started = rss_mib(proc.pid)
        good_tally, trap_tally = Tally(), Tally()
        await asyncio.gather(good(nc, warmup, 16, good_tally), traps(nc, max(trap_count // 20, 3), trap_tally))
        warm = rss_mib(proc.pid)
        peak = warm
        t0 = time.perf_counter()

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_mib(proc.pid))
                await asyncio.sleep(1.0)  # a sampling period, not synchronisation

        sampler = asyncio.create_task(sample())
        await asyncio.gather(good(nc, good_count, 16, good_tally), traps(nc, trap_count, trap_tally))
        sampler.cancel()
        elapsed = time.perf_counter() - t0
        end = rss_mib(proc.pid)
    finally:
        await nc.close()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
        await hub.stop()
        state.cleanup()
    return {
        "good": good_tally.to_json(), "traps": trap_tally.to_json(), "seconds": round(elapsed, 1),
        "rss_mib": {"start": round(started, 1), "after_warmup": round(warm, 1), "peak": round(peak, 1),
                    "end": round(end, 1)},
        "ok": (good_tally.unanswered == trap_tally.unanswered == 0 and end - warm <= RSS_SLACK_MIB),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=100_000, help="good messages to oled-text")
    parser.add_argument("--traps", type=int, default=1000, help="traps of mixed kinds to misbehave")
    parser.add_argument("--quick", action="store_true", help="10 000 good messages and 100 traps")
    args = parser.parse_args()
    good_count, trap_count = (10_000, 100) if args.quick else (args.good, args.traps)
    result = asyncio.run(measure(good_count, trap_count, warmup=max(good_count // 20, 500)))
    result["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
    path = write_result("soak", result)
    rss: dict[str, float] = result["rss_mib"]  # type: ignore[assignment]
    print(f"soak: {good_count} good messages and {trap_count} traps ({', '.join(t.decode() for t in TRAPS)}, "
          f"each followed by a good one) in {result['seconds']} s")
    print(f"  good: {result['good']}")
    print(f"  traps: {result['traps']}  (every trap is an error reply)")
    print(f"  agent RSS MiB: start {rss['start']}, after warm-up {rss['after_warmup']}, peak {rss['peak']}, "
          f"end {rss['end']}  (end - warm-up {rss['end'] - rss['after_warmup']:+.1f}; "
          f"allowed {RSS_SLACK_MIB})")
    print(f"  {'OK' if result['ok'] else 'FAILED'}; results in {path}")
    if not result["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
