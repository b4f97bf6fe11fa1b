"""Messages per second: one oled-text instance, then 2 and 4, kept busy through a real leaf nats-server.

The agent (the real Agent, its own leaf nats-server, the built oled-text
component, a panel on the fake SSD1306 bus) runs in this process; so do the
requesters, which keep ``--outstanding`` nats-py requests in flight for
``--seconds`` per run.  The process RSS is sampled every second, so a flat
line over a long run reads off start/end/max.  The display keeps only the
newest frame (latest wins): the frames it superseded are counted, not lost
replies.  Client and agent share one process and its GIL, so these are the
agent's numbers with its load generator on its back: a floor, not a ceiling.

    .venv/bin/python bench/throughput.py [--seconds 60] [--instances 1 2 4] [--outstanding 64] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from common import CACHE, ROOT, rss_anon_mib, rss_mib, write_result

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.replies import ERROR_HEADER
from pi_edge.agent.wasm.build import build_actor
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus


async def sample_rss(samples: list[float], anon: list[float], stop: asyncio.Event) -> None:
    """RSS and its anonymous part once a second, and once more at the stop."""
    while True:
        samples.append(rss_mib())
        anon.append(rss_anon_mib())
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


async def drive(nc, subject: str, seconds: float, outstanding: int) -> dict[str, int | float]:  # type: ignore[no-untyped-def]
    """``outstanding`` requesters, each sending its next request as soon as its reply lands."""
    counts = {"ok": 0, "superseded_replies": 0, "errors": 0, "timeouts": 0}
    deadline = time.perf_counter() + seconds

    async def requester(k: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            i += 1
            try:
                reply = await nc.request(subject, f"sender {k} message {i}".encode(), timeout=10)
            except TimeoutError:
                counts["timeouts"] += 1
                continue
            if reply.headers and ERROR_HEADER in reply.headers:
                counts["errors"] += 1
            elif reply.data.startswith(b"superseded:"):
                counts["superseded_replies"] += 1
            else:
                counts["ok"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(requester(k) for k in range(outstanding)))
    elapsed = time.perf_counter() - t0
    answered = counts["ok"] + counts["superseded_replies"]
    return {**counts, "elapsed_s": round(elapsed, 3), "msgs_per_s": answered / elapsed}


async def measure(seconds: float, instances: list[int], outstanding: int) -> dict[str, object]:
    wasm = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
    runs = []
    with tempfile.TemporaryDirectory(prefix="pi-edge-bench-") as state:
        service = Agent(AgentOptions(name="bench-pi", port=0, cache_dir=CACHE, heartbeat_s=0,
                                            allow_unsigned=True, state_dir=Path(state),
                                            actors=[ActorSpec("oled-text", wasm)]), provider)
        await service.start()
        assert service.host is not None
        nc = await connect(service.url, name="bench-load")
        subject = subjects.actor(subjects.DEFAULT_LATTICE, "oled-text")
        try:
            for i in range(20):  # warm up the instance, the connection and the display
                await nc.request(subject, f"warm up {i}".encode(), timeout=10)
            for n in instances:
                await service.host.scale_actor("oled-text", n)
                await nc.flush()
                before = dict(provider.stats)
                samples: list[float] = []
                anon: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_rss(samples, anon, stop))
                result = await drive(nc, subject, seconds, outstanding)
                stop.set()
                await sampler
                after = provider.stats
                runs.append({
                    "instances": n, **result,
                    "frames_sent": after["frames_sent"] - before["frames_sent"],
                    "frames_superseded": after["frames_superseded"] - before["frames_superseded"],
                    "rss_mib": {"start": round(samples[0], 1), "end": round(samples[-1], 1),
                                "max": round(max(samples), 1)},
                    "rss_anon_mib": {"start": round(anon[0], 1), "end": round(anon[-1], 1)},
                    "rss_samples_mib": [round(s, 1) for s in samples],
                    "rss_anon_samples_mib": [round(s, 1) for s in anon],
                })
        finally:
            await nc.close()
            await service.stop()
            provider.close()
    base = runs[0]["msgs_per_s"] if runs else 1.0
    for run in runs:
        run["ratio_to_first"] = round(run["msgs_per_s"] / base, 3)  # type: ignore[operator]
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "seconds": seconds,
        "outstanding": outstanding,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--outstanding", type=int, default=64, help="requests kept in flight")
    parser.add_argument("--quick", action="store_true", help="smoke run: --seconds 5")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    result = asyncio.run(measure(seconds, args.instances, args.outstanding))
    print(f"throughput through a leaf nats-server, {result['outstanding']} requests in flight, "
          f"{seconds:g} s per run ({result['machine']}, {result['cores']} cores)")
    print(f"{'instances':>9}{'msgs/s':>9}{'x 1st':>7}{'replies':>9}{'errors':>7}{'t/o':>5}"
          f"{'frames':>8}{'supersd':>8}{'RSS start':>10}{'end':>7}{'max':>7}{'anon':>6}{'end':>7}")
    for r in result["runs"]:  # type: ignore[attr-defined]
        m = r["rss_mib"]
        print(f"{r['instances']:>9}{r['msgs_per_s']:>9.1f}{r['ratio_to_first']:>7.2f}"
              f"{r['ok'] + r['superseded_replies']:>9}{r['errors']:>7}{r['timeouts']:>5}"
              f"{r['frames_sent']:>8}{r['frames_superseded']:>8}{m['start']:>10.1f}{m['end']:>7.1f}{m['max']:>7.1f}"
              f"{r['rss_anon_mib']['start']:>6.1f}{r['rss_anon_mib']['end']:>7.1f}")
    print("(RSS in MiB of this process: agent, leaf client and load generator together; anon = its "
          "anonymous part, without file-backed pages such as the mapped compiled actor; "
          "frames = sent to the panel, supersd = replaced by a newer frame before sending)")
    write_result("throughput", result)


if __name__ == "__main__":
    main()
