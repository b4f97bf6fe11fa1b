"""Round trip laptop -> hub -> leaf -> agent -> Wasm actor -> provider -> fake bus, against plain NATS.

Both paths cross the same hub and leaf servers in the same run, interleaved
message by message so machine noise lands on both.  Also: agent start to
ready with a warm compile cache, and the agent's RSS with one actor.

    .venv/bin/python bench/roundtrip.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import CACHE, ROOT, pct, rss_mib, write_result  # noqa: E402  (puts the repository on the path)

from agent import subjects  # noqa: E402
from agent.build import build_actor  # noqa: E402
from agent.lattice import connect, wait_for_actor  # noqa: E402
from agent.natsserver import NatsServer, hub_config  # noqa: E402



async def start_agent(hub: NatsServer, actor: Path) -> tuple[subprocess.Popen[str], float]:
    """Spawn the agent; seconds until the hub routes to its actor."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "agent_process.py"), "--hub",
         f"nats-leaf://127.0.0.1:{hub.leafnode_port}", "--actor", str(actor), "--cache-dir", str(CACHE)],
        stdout=subprocess.PIPE, text=True,
    )
    line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
    if line.strip() != "READY":
        proc.kill()
        raise SystemExit(f"bench agent did not start (exit {proc.wait()})")
    nc = await connect(hub.url, name="bench-wait")
    try:
        await wait_for_actor(nc, subjects.DEFAULT_LATTICE, "oled-text", timeout=120)
    finally:
        await nc.close()
    return proc, time.perf_counter() - started


async def measure(messages: int) -> dict[str, object]:
    actor = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    with NatsServer(hub_config("127.0.0.1", 0, 0, name="bench-hub")) as hub:
        # The first start fills the compile cache; the second is the warm start we report.
        for attempt in ("cold", "warm"):
            proc, ready_s = await start_agent(hub, actor)
            if attempt == "cold":
                proc.terminate()
                proc.wait()
        try:
            nc = await connect(hub.url, name="bench-laptop")
            actor_subject = subjects.actor(subjects.DEFAULT_LATTICE, "oled-text")
            texts = [f"Message {i}" for i in range(messages)]
            for warmup in texts[:50]:
                await nc.request(actor_subject, warmup.encode(), timeout=5)
                await nc.request("bench.echo", warmup.encode(), timeout=5)
            actor_ms: list[float] = []
            plain_ms: list[float] = []
            for text in texts:
                body = text.encode()
                t0 = time.perf_counter()
                await nc.request("bench.echo", body, timeout=5)
                t1 = time.perf_counter()
                reply = await nc.request(actor_subject, body, timeout=5)
                t2 = time.perf_counter()
                assert reply.data.startswith(b"shown:"), reply.data
                plain_ms.append((t1 - t0) * 1000)
                actor_ms.append((t2 - t1) * 1000)
            await nc.close()
            rss = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
    quantiles = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "messages": messages,
        "pi_edge_ms": {"p50": pct(actor_ms, 0.5), "p90": pct(actor_ms, 0.9), "p99": pct(actor_ms, 0.99),
                       "mean": statistics.fmean(actor_ms)},
        "plain_nats_ms": {"p50": pct(plain_ms, 0.5), "p90": pct(plain_ms, 0.9), "p99": pct(plain_ms, 0.99),
                          "mean": statistics.fmean(plain_ms)},
        "ratio_to_plain": {k: pct(actor_ms, q) / pct(plain_ms, q) for k, q in quantiles.items()},
        "warm_start_to_ready_s": ready_s,
        "agent_rss_mib_one_actor": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    result = asyncio.run(measure(parser.parse_args().messages))
    a, p = result["pi_edge_ms"], result["plain_nats_ms"]
    print(f"round trip over hub -> leaf, {result['messages']} messages ({result['machine']})")
    print(f"{'path':<28}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
    print(f"{'plain nats-py echo':<28}{p['p50']:>9.3f}{p['p90']:>9.3f}{p['p99']:>9.3f}")  # type: ignore[index]
    print(f"{'pi-edge display (actor)':<28}{a['p50']:>9.3f}{a['p90']:>9.3f}{a['p99']:>9.3f}")  # type: ignore[index]
    print(f"{'ratio':<28}{a['p50'] / p['p50']:>9.2f}{a['p90'] / p['p90']:>9.2f}{a['p99'] / p['p99']:>9.2f}")  # type: ignore[index]
    print(f"agent start to ready (warm compile cache): {result['warm_start_to_ready_s']:.2f} s")
    print(f"agent RSS with one actor: {result['agent_rss_mib_one_actor']:.1f} MiB")
    write_result("roundtrip", result)


if __name__ == "__main__":
    main()
