"""What the sandbox costs: verifying a signed 18 MB component at start, epoch interruption
(deadlines) on every call, a call that comes after the process sat idle (as each message
of a round trip does), and the agent's memory after a burst of hostile messages.

Each cost is measured next to its baseline in the same run.

    .venv/bin/python bench/sandbox.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from common import CACHE, ROOT, rss_mib, write_result

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.trust import claims
from pi_edge.agent.wasm.build import build_actor
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus


def verification(wasm: bytes, repeat: int = 20) -> dict[str, float]:
    account = claims.generate_key("account")
    signed = claims.sign(wasm, account, claims.generate_key("actor"), list(claims.CAPABILITIES))
    policy = claims.TrustPolicy(frozenset({account.public_key.decode()}))
    verify, read = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        policy.check(signed)
        t1 = time.perf_counter()
        Path(tempfile.gettempdir(), "pi-edge-bench.wasm").write_bytes(signed)
        t2 = time.perf_counter()
        Path(tempfile.gettempdir(), "pi-edge-bench.wasm").read_bytes()
        read.append((time.perf_counter() - t2) * 1000)
        verify.append((t1 - t0) * 1000)
    Path(tempfile.gettempdir(), "pi-edge-bench.wasm").unlink()
    return {"verify_ms": statistics.median(verify), "read_file_ms": statistics.median(read),
            "component_mib": round(len(signed) / 2**20, 1)}


def epoch_cost(wasm_path: Path, calls: int) -> dict[str, float]:
    """Per-call time of the actor's handle, with and without epoch interruption, interleaved."""
    runs = {}
    for epochs in (True, False):
        runtime = Runtime(cache_dir=CACHE, epoch_interruption=epochs)
        loaded = runtime.load_file("oled-text", wasm_path)
        provider = OledProvider(DisplayConfig(display="emulator"))
        runs[epochs] = (runtime, ComponentInstance(runtime, loaded, provider, Limits()), provider)
    samples: dict[bool, list[float]] = {True: [], False: []}
    # An empty body clears the screen: the cheapest display call, so the Wasm side dominates.
    message = Message("bench", b"", [])
    for i in range(calls):
        for epochs in ((True, False) if i % 2 else (False, True)):
            instance = runs[epochs][1]
            t0 = time.perf_counter()
            instance.call(message)
            samples[epochs].append((time.perf_counter() - t0) * 1e6)
    for runtime, _instance, provider in runs.values():
        provider.close()
        runtime.close()
    on, off = statistics.median(samples[True]), statistics.median(samples[False])
    return {"with_epochs_us": on, "without_epochs_us": off, "ratio": on / off}


IDLE_GAPS_MS = (0, 1, 10)


def idle_cost(echo_path: Path, calls: int) -> dict[str, object]:
    """Per-call time of an actor that only echoes, right after another call and after 1 and 10 ms asleep.

    A message in a round trip arrives after the network has had the CPU, not
    straight after the last call; the guest's interpreter then finds little of
    its code and heap still in the caches.  Gaps interleave call by call.
    """
    runtime = Runtime(cache_dir=CACHE)
    provider = OledProvider(DisplayConfig(display="emulator"))
    instance = ComponentInstance(runtime, runtime.load_file("echo", echo_path), provider, Limits())
    samples: dict[int, list[float]] = {gap: [] for gap in IDLE_GAPS_MS}
    try:
        for i in range(calls):
            message = Message("bench", f"Message {i}".encode(), [])
            for gap in IDLE_GAPS_MS[i % 3:] + IDLE_GAPS_MS[:i % 3]:
                if gap:
                    time.sleep(gap / 1000)
                else:
                    instance.call(message)  # the timed call follows this one at once
                t0 = time.perf_counter()
                instance.call(message)
                samples[gap].append((time.perf_counter() - t0) * 1e6)
    finally:
        provider.close()
        runtime.close()
    medians = {gap: statistics.median(values) for gap, values in samples.items()}
    return {"call_us_after_idle_ms": {str(gap): us for gap, us in medians.items()},
            "ratio_to_back_to_back": {str(gap): us / medians[0] for gap, us in medians.items()}}


async def hostile(wasm_path: Path, messages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as state:
        provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
        service = Agent(AgentOptions(name="bench-pi", port=0, cache_dir=CACHE, heartbeat_s=0,
                                            allow_unsigned=True, state_dir=Path(state),
                                            actors=[ActorSpec("oled-text", wasm_path)]), provider)
        await service.start()
        nc = await connect(service.url, name="bench-fuzz")
        targets = [subjects.actor("default", "oled-text"), subjects.ctl("default", "bench-pi", "deploy"),
                   subjects.ctl("default", "bench-pi", "link"), subjects.provider("default", "bench-pi-display",
                                                                                   "show-bitmap")]
        rng = random.Random(7)
        try:
            for i in range(200):  # warm up: first-use allocations are not growth
                await nc.request(targets[i % len(targets)], rng.randbytes(rng.randrange(0, 2048)), timeout=10)
            before = rss_mib()
            for i in range(messages):
                await nc.request(targets[i % len(targets)], rng.randbytes(rng.randrange(0, 4096)), timeout=10)
            after = rss_mib()
        finally:
            await nc.close()
            await service.stop()
            provider.close()
    return {"rss_before_mib": round(before, 1), "rss_after_mib": round(after, 1), "messages": messages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--hostile", type=int, default=3000)
    args = parser.parse_args()
    wasm_path = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    echo_path = build_actor(ROOT / "bench" / "actors" / "echo", CACHE).path
    result = {
        "verification": verification(wasm_path.read_bytes()),
        "epoch_interruption": epoch_cost(wasm_path, args.calls),
        "idle": idle_cost(echo_path, max(args.calls // 4, 30)),
        "hostile_messages": asyncio.run(hostile(wasm_path, args.hostile)),
    }
    v, e, h = result["verification"], result["epoch_interruption"], result["hostile_messages"]
    print(f"verify a signed {v['component_mib']} MiB component: {v['verify_ms']:.1f} ms "
          f"(reading it from disk: {v['read_file_ms']:.1f} ms)")
    print(f"actor call, median: {e['with_epochs_us']:.0f} us with epoch interruption, "
          f"{e['without_epochs_us']:.0f} us without (x{e['ratio']:.2f})")
    idle = result["idle"]
    print("echo actor call, median, by time asleep before it: " + ", ".join(
        f"{gap} ms {idle['call_us_after_idle_ms'][gap]:.0f} us (x{idle['ratio_to_back_to_back'][gap]:.1f})"  # type: ignore[index]
        for gap in map(str, IDLE_GAPS_MS)))
    print(f"agent RSS around {h['messages']} hostile messages: {h['rss_before_mib']} -> {h['rss_after_mib']} MiB")
    write_result("sandbox", result)


if __name__ == "__main__":
    main()
