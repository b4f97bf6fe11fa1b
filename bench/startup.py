"""Agent start to ready with a warm compile cache and a cold one, the oled-text component's first
compile, and the RSS and idle CPU of an agent process with 1 and with 5 actor instances.

Start to ready is ``Agent.start()`` returning (leaf nats-server up,
connected, actor loaded and subscribed) with the agent in this process; cold
means a fresh, empty compile cache directory, so the start includes compiling
the component.  First compile is ``Runtime(cache_dir=empty).load_file`` next to
the same load from a warm cache.  RSS is read from /proc/<pid>/status of a
bench/agent_process.py child once it prints READY; idle CPU is its utime + stime
over the following ``--idle`` seconds, with no messages (the leaf nats-server
it started is a process of its own and not counted).

    .venv/bin/python bench/startup.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import CACHE, ROOT, cpu_s, enrolled, rss_mib, start_hub, write_result

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.wasm.build import build_actor
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus


async def start_to_ready(wasm: Path, cache: Path) -> float:
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
    with tempfile.TemporaryDirectory(prefix="pi-edge-bench-") as state:
        service = Agent(AgentOptions(name="bench-pi", port=0, cache_dir=cache, heartbeat_s=0,
                                            allow_unsigned=True, state_dir=Path(state),
                                            actors=[ActorSpec("oled-text", wasm)]), provider)
        t0 = time.perf_counter()
        try:
            await service.start()
            return time.perf_counter() - t0
        finally:
            await service.stop()
            provider.close()


def compile_times(wasm: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="pi-edge-bench-cache-") as empty:
        runtime = Runtime(cache_dir=Path(empty))
        try:
            t0 = time.perf_counter()
            cold = runtime.load_file("oled-text", wasm)
            t1 = time.perf_counter()
            warm = runtime.load_file("oled-text", wasm)
            t2 = time.perf_counter()
        finally:
            runtime.close()
        assert not cold.from_cache and warm.from_cache
    return {"first_compile_s": t1 - t0, "from_cache_s": t2 - t1}


def agent_rss_and_idle_cpu(hub: Hub, credentials: list[str], wasm: Path, scale: int,
                           idle_s: float) -> tuple[float, float]:
    """RSS once ready, and the share of one core the agent process uses while no message arrives."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "agent_process.py"), *credentials, "--hub",
         f"nats-leaf://127.0.0.1:{hub.leafnode_port}", "--actor", str(wasm), "--cache-dir", str(CACHE),
         "--scale", str(scale)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "READY":
            raise SystemExit(f"startup bench: agent with scale {scale} did not start (exit {proc.wait()})")
        time.sleep(1.0)  # let start-up garbage settle
        rss = rss_mib(proc.pid)
        cpu0, t0 = cpu_s(proc.pid), time.monotonic()
        time.sleep(idle_s)
        return rss, (cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        proc.terminate()
        proc.wait()


async def idle_with_a_hub(wasm: Path, idle_s: float) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="pi-edge-bench-hub-") as state:
        hub = await start_hub(Path(state) / "hub")
        try:
            credentials = await enrolled(hub, "bench-pi")
            return {str(n): await asyncio.to_thread(agent_rss_and_idle_cpu, hub, credentials, wasm, n, idle_s)
                    for n in (1, 5)}
        finally:
            await hub.stop()


def measure(repeat: int, idle_s: float) -> dict[str, object]:
    wasm = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    asyncio.run(start_to_ready(wasm, CACHE))  # fills the warm cache (and the OS page cache)
    warm, cold = [], []
    for _ in range(repeat):  # interleaved, so machine noise lands on both
        warm.append(asyncio.run(start_to_ready(wasm, CACHE)))
        with tempfile.TemporaryDirectory(prefix="pi-edge-bench-cache-") as empty:
            cold.append(asyncio.run(start_to_ready(wasm, Path(empty))))
    compiles = [compile_times(wasm) for _ in range(repeat)]
    idle = asyncio.run(idle_with_a_hub(wasm, idle_s))
    rss = {n: round(r, 1) for n, (r, _cpu) in idle.items()}
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": repeat,
        "component_mib": round(wasm.stat().st_size / 2**20, 1),
        "start_to_ready_s": {"warm_cache": statistics.median(warm), "cold_cache": statistics.median(cold),
                             "warm_all": warm, "cold_all": cold},
        "compile_s": {"first_compile": statistics.median(c["first_compile_s"] for c in compiles),
                      "from_cache": statistics.median(c["from_cache_s"] for c in compiles)},
        "agent_rss_mib": rss,
        "idle_cpu_percent_of_a_core": {n: round(cpu * 100, 2) for n, (_r, cpu) in idle.items()},
        "idle_seconds": idle_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="starts and compiles of each kind (median)")
    parser.add_argument("--quick", action="store_true", help="smoke run: --repeat 1")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds the ready agent is left idle")
    args = parser.parse_args()
    result = measure(1 if args.quick else args.repeat, 2.0 if args.quick else args.idle)
    s, c, r = result["start_to_ready_s"], result["compile_s"], result["agent_rss_mib"]
    print(f"agent start-up, oled-text component {result['component_mib']} MiB ({result['machine']}, "
          f"{result['cores']} cores), median of {result['repeat']}")
    print(f"{'':<34}{'warm':>9}{'cold':>9}{'cold/warm':>11}")
    print(f"{'start to ready (s)':<34}{s['warm_cache']:>9.3f}{s['cold_cache']:>9.3f}"  # type: ignore[index]
          f"{s['cold_cache'] / s['warm_cache']:>11.1f}")  # type: ignore[index]
    print(f"{'load oled-text component (s)':<34}{c['from_cache']:>9.3f}{c['first_compile']:>9.3f}"  # type: ignore[index]
          f"{c['first_compile'] / c['from_cache']:>11.1f}")  # type: ignore[index]
    print(f"agent process RSS after READY: {r['1']:.1f} MiB with 1 instance, {r['5']:.1f} MiB with 5 "  # type: ignore[index]
          f"({(r['5'] - r['1']) / 4:.1f} MiB per extra instance)")  # type: ignore[index]
    idle = result["idle_cpu_percent_of_a_core"]
    print(f"agent process CPU while idle ({result['idle_seconds']:g} s, no messages): "
          f"{idle['1']:.2f} % of a core with 1 instance, {idle['5']:.2f} % with 5")  # type: ignore[index]
    write_result("startup", result)


if __name__ == "__main__":
    main()
