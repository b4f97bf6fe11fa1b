"""Round trip laptop -> hub -> leaf -> agent -> Wasm actor -> provider -> fake bus, against plain NATS.

Two baselines cross the same hub and leaf servers to the same process in the
same run, interleaved message by message so machine noise lands on all three:
a plain nats-py echo (the transport alone: what the target is set against)
and a nats-py responder doing oled-text's drawing in plain Python (the same
work with no sandbox and no agent: what pi-edge itself adds).  A fourth path
goes through pi-edge to an actor that only echoes (bench/actors/echo): the
agent and the sandbox with no drawing, against the plain echo.  Also: agent
start to ready with a warm compile cache, and the agent's RSS.

    .venv/bin/python bench/roundtrip.py [--messages 2000] [--no-auth]

The hub runs as ``pi-edge hub`` does, with auth (each role an nkey user whose
permissions nats-server checks on every message); ``--no-auth`` runs it open,
to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from agent_process import PLAIN_DIRECT, PLAIN_ECHO
from common import CACHE, ROOT, enrolled, pct, rss_mib, spawn_agent, start_hub, write_result

from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.wasm.build import build_actor


async def start_agent(hub: Hub, actor: Path, echo_actor: Path) -> tuple[subprocess.Popen[str], float]:
    """Spawn the agent; seconds until the hub routes to its actor."""
    await enrolled(hub, "bench-pi")  # before the clock starts: enrolment is the laptop's, once
    started = time.perf_counter()
    proc = await spawn_agent(hub, ["--actor", str(actor), "--echo-actor", str(echo_actor), "--cache-dir", str(CACHE)],
                             ("oled-text", "echo"))
    return proc, time.perf_counter() - started


async def measure(messages: int, auth: bool) -> dict[str, object]:
    actor = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    echo_actor = build_actor(ROOT / "bench" / "actors" / "echo", CACHE).path
    with tempfile.TemporaryDirectory(prefix="bench-roundtrip-") as state:
        hub = await start_hub(Path(state) / "hub", auth=auth)
        try:
            return await measure_on(hub, actor, echo_actor, messages)
        finally:
            await hub.stop()


async def measure_on(hub: Hub, actor: Path, echo_actor: Path, messages: int) -> dict[str, object]:
    # The first start fills the compile cache; the second is the warm start we report.
    for attempt in ("cold", "warm"):
        proc, ready_s = await start_agent(hub, actor, echo_actor)
        if attempt == "cold":
            proc.terminate()
            proc.wait()
    try:
        nc = await connect(hub.url, name="bench-laptop", credentials=hub.operator)
        actor_subject = subjects.actor(subjects.DEFAULT_LATTICE, "oled-text")
        texts = [f"Message {i}" for i in range(messages)]
        paths = {"plain": subjects.actor(subjects.DEFAULT_LATTICE, PLAIN_ECHO),
                 "direct": subjects.actor(subjects.DEFAULT_LATTICE, PLAIN_DIRECT), "actor": actor_subject,
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
        "auth": hub.options.auth,
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
    parser.add_argument("--no-auth", action="store_true", help="an open hub, to compare with the default")
    args = parser.parse_args()
    result = asyncio.run(measure(args.messages, auth=not args.no_auth))
    a = result["pi_edge_ms"]
    print(f"round trip over hub -> leaf, {result['messages']} messages ({result['machine']}), "
          f"auth {'on' if result['auth'] else 'off (--no-auth)'}")
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
    write_result("roundtrip" if result["auth"] else "roundtrip-no-auth", result)


if __name__ == "__main__":
    main()
