"""Round trip laptop -> hub -> leaf -> agent -> Wasm actor -> provider -> fake bus, against plain NATS.

Two baselines cross the same hub and leaf servers to the same process in the
same run, interleaved message by message so machine noise lands on all three:
a plain nats-py echo (the transport alone: what the target is set against)
and a nats-py responder doing oled-text's drawing in plain Python (the same
work with no sandbox and no agent: what pi-edge itself adds).  A fourth path
goes through pi-edge to an actor that only echoes (bench/actors/echo): the
agent and the sandbox with no drawing, against the plain echo.  Also: agent
start to ready with a warm compile cache, and the agent's RSS.

    .venv/bin/python bench/roundtrip.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import time
from pathlib import Path

from common import CACHE, ROOT, pct, rss_mib, spawn_agent, write_result

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import hub_config
from pi_edge.agent.wasm.build import build_actor


async def start_agent(hub: NatsServer, actor: Path, echo_actor: Path) -> tuple[subprocess.Popen[str], float]:
    """Spawn the agent; seconds until the hub routes to its actor."""
    started = time.perf_counter()
    proc = await spawn_agent(hub.leafnode_port or 0, hub.url, ["--actor", str(actor), "--echo-actor", str(echo_actor),
                                                                "--cache-dir", str(CACHE)], ("oled-text", "echo"))
    return proc, time.perf_counter() - started


async def measure(messages: int) -> dict[str, object]:
    actor = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    echo_actor = build_actor(ROOT / "bench" / "actors" / "echo", CACHE).path
    with NatsServer(hub_config("127.0.0.1", 0, 0, name="bench-hub")) as hub:
        # The first start fills the compile cache; the second is the warm start we report.
        for attempt in ("cold", "warm"):
            proc, ready_s = await start_agent(hub, actor, echo_actor)
            if attempt == "cold":
                proc.terminate()
                proc.wait()
        try:
            nc = await connect(hub.url, name="bench-laptop")
            actor_subject = subjects.actor(subjects.DEFAULT_LATTICE, "oled-text")
            texts = [f"Message {i}" for i in range(messages)]
            paths = {"plain": "bench.echo", "direct": "bench.direct", "actor": actor_subject,
                     "echo_actor": subjects.actor(subjects.DEFAULT_LATTICE, "echo")}
            for warmup in texts[:50]:
                for subject in paths.values():
                    await nc.request(subject, warmup.encode(), timeout=5)
            ms: dict[str, list[float]] = {name: [] for name in paths}
            order = list(paths.items())
            for i, text in enumerate(texts):
                body = text.encode()
                replies = {}
                turn = i % len(order)
                for name, subject in order[turn:] + order[:turn]:  # each path goes first as often as the others
                    t0 = time.perf_counter()
                    replies[name] = await nc.request(subject, body, timeout=5)
                    ms[name].append((time.perf_counter() - t0) * 1000)
                if replies["actor"].data != replies["direct"].data:
                    raise SystemExit(f"roundtrip bench: FAILED: actor said {replies['actor'].data!r}, "
                                     f"the plain responder {replies['direct'].data!r}")
                if replies["echo_actor"].data != body:
                    raise SystemExit(f"roundtrip bench: FAILED: the echo actor said {replies['echo_actor'].data!r}")
            await nc.close()
            rss = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
    quantiles = {"p50": 0.5, "p90": 0.9, "p99": 0.99}

    def summary(values: list[float]) -> dict[str, float]:
        return {**{k: pct(values, q) for k, q in quantiles.items()}, "mean": statistics.fmean(values)}

    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "messages": messages,
        "pi_edge_ms": summary(ms["actor"]),
        "plain_nats_ms": summary(ms["plain"]),
        "plain_python_sign_ms": summary(ms["direct"]),
        "pi_edge_echo_actor_ms": summary(ms["echo_actor"]),
        "ratio_to_plain": {k: pct(ms["actor"], q) / pct(ms["plain"], q) for k, q in quantiles.items()},
        "ratio_to_plain_python_sign": {k: pct(ms["actor"], q) / pct(ms["direct"], q) for k, q in quantiles.items()},
        "echo_actor_ratio_to_plain": {k: pct(ms["echo_actor"], q) / pct(ms["plain"], q) for k, q in quantiles.items()},
        "warm_start_to_ready_s": ready_s,
        "agent_rss_mib_two_actors": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    result = asyncio.run(measure(parser.parse_args().messages))
    a = result["pi_edge_ms"]
    print(f"round trip over hub -> leaf, {result['messages']} messages ({result['machine']})")
    print(f"{'path':<44}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
    for label, key in (("plain nats-py echo", "plain_nats_ms"),
                       ("nats-py responder, same drawing, no sandbox", "plain_python_sign_ms"),
                       ("pi-edge display (agent + Wasm actor)", "pi_edge_ms"),
                       ("pi-edge echo actor (agent + Wasm, no drawing)", "pi_edge_echo_actor_ms")):
        row = result[key]
        print(f"{label:<44}{row['p50']:>9.3f}{row['p90']:>9.3f}{row['p99']:>9.3f}")  # type: ignore[index]
    for label, key in (("pi-edge / echo", "plain_nats_ms"), ("pi-edge / same drawing", "plain_python_sign_ms")):
        row = result[key]
        print(f"{label:<44}{a['p50'] / row['p50']:>9.2f}{a['p90'] / row['p90']:>9.2f}{a['p99'] / row['p99']:>9.2f}")  # type: ignore[index]
    ratio = result["echo_actor_ratio_to_plain"]
    print(f"{'pi-edge echo actor / echo':<44}{ratio['p50']:>9.2f}{ratio['p90']:>9.2f}{ratio['p99']:>9.2f}")  # type: ignore[index]
    print(f"agent start to ready (warm compile cache): {result['warm_start_to_ready_s']:.2f} s")
    print(f"agent RSS with both actors: {result['agent_rss_mib_two_actors']:.1f} MiB")
    write_result("roundtrip", result)


if __name__ == "__main__":
    main()
