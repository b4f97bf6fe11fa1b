"""The lattice's numbers: deploy to first message (cold compile vs warm cache; the fleet compiling once,
first host against second), a linked
round trip (actor on host B drawing on host A's display) against the unlinked one, and how
long a restarted agent takes to serve again through the hub.

Real nats-servers (a hub with JetStream, one leaf per agent), real wasmtime, the built
oled-text component, panels on the fake SSD1306 bus; the agents run in this process.

    .venv/bin/python bench/lattice.py [--messages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from common import CACHE, ROOT, pct, start_hub, write_result

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import AgentOptions
from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import ping, request, wait_for_actor
from pi_edge.agent.lattice.compiled import compile_and_publish
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.store import ComponentStore
from pi_edge.agent.trust import claims
from pi_edge.agent.wasm.build import build_actor
from pi_edge.agent.wasm.targets import local_target
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus

COMPILER = claims.generate_key("account")

async def start_agent(hub: Hub, name: str, state: Path, cache: Path, trusted_compiled: bool = False) -> Agent:
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
    service = Agent(AgentOptions(hub=f"nats-leaf://127.0.0.1:{hub.leafnode_port}", port=0,
                                 hub_credentials=await hub.enroll(name),
                                 state_dir=state, cache_dir=cache, heartbeat_s=0, allow_unsigned=True,
                                 trusted_compiled=[COMPILER.public_key.decode()] if trusted_compiled else []),
                    provider)
    await service.start()
    return service


async def until_seen(nc, name: str) -> None:  # type: ignore[no-untyped-def]
    while name not in {h["name"] for h in await ping(nc, "default", window=0.2)}:
        pass


async def deploy(nc, host: str, digest: str, name: str = "sign") -> float:  # type: ignore[no-untyped-def]
    """Seconds from the deploy request to the first message answered through the hub."""
    t0 = time.perf_counter()
    await request(nc, subjects.ctl("default", host, "deploy"),
                  json.dumps({"name": name, "digest": digest, "scale": 1}).encode(), None, 180, what=host)
    await wait_for_actor(nc, "default", name, timeout=30)
    await request(nc, subjects.actor_on("default", host, name), b"first", None, 10, what=name)
    return time.perf_counter() - t0


async def measure(messages: int) -> dict[str, object]:
    wasm = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    with tempfile.TemporaryDirectory(prefix="pi-edge-bench-") as tmp:
        work = Path(tmp)
        hub = await start_hub(work / "hub")
        agents: list[Agent] = []
        try:
            a = await start_agent(hub, "pi-a", work / "a", work / "cache-a")
            b = await start_agent(hub, "pi-b", work / "b", work / "cache-b")  # empty compile cache: cold
            agents += [a, b]
            nc = await connect(hub.url, name="bench-laptop", credentials=hub.operator)
            await until_seen(nc, "pi-a")
            await until_seen(nc, "pi-b")
            digest, _ = await ComponentStore(nc).put(wasm.read_bytes())
            cold = await deploy(nc, "pi-b", digest)
            await request(nc, subjects.ctl("default", "pi-b", "stop"), b'{"name": "sign"}', None, 10, what="pi-b")
            warm = await deploy(nc, "pi-b", digest)

            # The fleet compiles once: the operator compiles and publishes, hosts that trust its key fetch.
            c = await start_agent(hub, "pi-c", work / "c", work / "cache-c", trusted_compiled=True)
            agents.append(c)
            d = await start_agent(hub, "pi-d", work / "d", work / "cache-d", trusted_compiled=True)
            agents.append(d)
            await until_seen(nc, "pi-c")
            await until_seen(nc, "pi-d")
            t0 = time.perf_counter()
            await compile_and_publish(nc, "sign", wasm.read_bytes(), COMPILER, local_target())
            first_host = time.perf_counter() - t0 + await deploy(nc, "pi-c", digest, "fleet")
            second_host = await deploy(nc, "pi-d", digest, "fleet")

            subject = subjects.actor("default", "sign")
            local: list[float] = []
            linked: list[float] = []
            for linked_to in (None, "pi-a-display"):
                await request(nc, subjects.ctl("default", "pi-b", "link"),
                              json.dumps({"actor": "sign", "provider": linked_to}).encode(), None, 10, what="pi-b")
                samples = linked if linked_to else local
                for i in range(messages):
                    t0 = time.perf_counter()
                    await request(nc, subject, f"Message {i}".encode(), None, 10, what="sign")
                    samples.append((time.perf_counter() - t0) * 1000)

            await b.stop()
            agents.remove(b)
            t0 = time.perf_counter()
            b = await start_agent(hub, "pi-b", work / "b", work / "cache-b")
            agents.append(b)
            await wait_for_actor(nc, "default", "sign", timeout=60)
            await request(nc, subject, b"back", None, 10, what="sign")
            restart = time.perf_counter() - t0
            await nc.close()
        finally:
            for agent in agents:
                await agent.stop()
                agent.provider.close()
            await hub.stop()
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "component_mib": round(wasm.stat().st_size / 2**20, 1),
        "deploy_to_first_message_s": {"cold_compile": round(cold, 3), "warm_cache": round(warm, 3),
                                      "fleet_first_host_compile_publish_fetch": round(first_host, 3),
                                      "fleet_second_host_fetch": round(second_host, 3)},
        "round_trip_ms": {
            "actor_on_b_own_display": {"p50": pct(local, 0.5), "p99": pct(local, 0.99), "mean": statistics.fmean(local)},
            "actor_on_b_display_on_a": {"p50": pct(linked, 0.5), "p99": pct(linked, 0.99),
                                        "mean": statistics.fmean(linked)},
        },
        "restarted_agent_serving_again_s": round(restart, 3),
        "messages": messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    result = asyncio.run(measure(parser.parse_args().messages))
    d, r = result["deploy_to_first_message_s"], result["round_trip_ms"]
    print(f"lattice on {result['machine']}, component {result['component_mib']} MiB")
    print(f"deploy to first message: cold compile {d['cold_compile']:.2f} s, warm cache {d['warm_cache']:.2f} s")  # type: ignore[index]
    print(f"the fleet compiles once: first host {d['fleet_first_host_compile_publish_fetch']:.2f} s (compile, "  # type: ignore[index]
          f"publish, fetch), second host {d['fleet_second_host_fetch']:.2f} s (fetch)")  # type: ignore[index]
    print(f"{'round trip laptop -> hub -> B':<40}{'p50 ms':>9}{'p99 ms':>9}")
    for key, label in (("actor_on_b_own_display", "actor on B, B's display"),
                       ("actor_on_b_display_on_a", "actor on B, A's display (linked)")):
        print(f"{label:<40}{r[key]['p50']:>9.2f}{r[key]['p99']:>9.2f}")  # type: ignore[index]
    print(f"restarted agent serving again through the hub: {result['restarted_agent_serving_again_s']:.2f} s")
    write_result("lattice", result)


if __name__ == "__main__":
    main()
