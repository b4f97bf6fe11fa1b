"""A fleet of simulated Pis on this machine: how one broadcast display scales with N hosts.

Each simulated Pi is a separate agent process (bench/agent_process.py: the real
Agent, its own leaf nats-server, a fake SSD1306 panel) joined to one hub.
For each fleet size: time to start the fleet (spawn to the hub seeing every host
by ping), time from one broadcast display request (the ``display --all`` path)
to every panel having answered ``shown`` (p50/max over rounds), the hub
nats-server's CPU time and RSS, and the agents' total RSS.

    .venv/bin/python bench/fleet.py [--sizes 10,25,50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CACHE, ROOT, cpu_s, enrolled, pct, start_hub, write_result
from common import rss_mib as common_rss_mib

from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import broadcast, ping
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.wasm.build import build_actor

ACTOR = "oled-text"
START_AT_ONCE = 4  # agents starting concurrently: 2 cores, each start compiles/instantiates Wasm
READY_TIMEOUT = 180.0


def rss_mib(pid: int) -> float:
    """Resident memory of a simulated Pi's process, 0 once it has gone (fleets are summed)."""
    try:
        return common_rss_mib(pid)
    except OSError:
        return 0.0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


class Fleet:
    """Agent processes, each in its own session so it and its leaf nats-server die together."""

    def __init__(self, hub: Hub, actor: Path, logs: Path) -> None:
        self.hub, self.actor, self.logs = hub, actor, logs
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.ready_s: dict[str, float] = {}

    async def start_one(self, name: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            credentials = await enrolled(self.hub, name)
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "agent_process.py"), "--name", name, *credentials,
                 "--hub", f"nats-leaf://127.0.0.1:{self.hub.leafnode_port}", "--actor", str(self.actor),
                 "--cache-dir", str(CACHE)],
                stdout=subprocess.PIPE, stderr=(self.logs / f"{name}.log").open("w"), stdin=subprocess.DEVNULL,
                text=True, start_new_session=True,
            )
            self.procs[name] = proc
            try:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline),  # type: ignore[union-attr]
                                              READY_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(f"{name} not READY within {READY_TIMEOUT:g} s") from None
            if line.strip() != "READY":
                tail = (self.logs / f"{name}.log").read_text()[-400:]
                raise RuntimeError(f"{name} did not start (exit {proc.poll()}): {tail}")
            self.ready_s[name] = time.perf_counter() - started

    async def start(self, names: list[str]) -> None:
        gate = asyncio.Semaphore(START_AT_ONCE)
        await asyncio.gather(*(self.start_one(n, gate) for n in names))

    def pids(self) -> tuple[list[int], list[int]]:
        """(agent python processes, their leaf nats-servers)."""
        agents = [p.pid for p in self.procs.values() if p.poll() is None]
        return agents, [c for pid in agents for c in children(pid)]

    def stop(self) -> None:
        """SIGTERM all, wait a little, then SIGKILL each agent's whole session (agent + leaf server)."""
        _agents, leaves = self.pids()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the session this script created for it
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.procs.clear()
        for pid in leaves:  # orphaned leaf servers are reaped by init: wait until they are gone
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)


async def until_hub_sees(hub: Hub, names: set[str], timeout: float) -> None:
    nc = await connect(hub.url, name="bench-fleet-wait", credentials=hub.operator)
    try:
        deadline = time.monotonic() + timeout
        while True:
            seen = {str(h.get("name")) for h in await ping(nc, subjects.DEFAULT_LATTICE, window=0.5)
                    if ACTOR in dict(h.get("actors", {}))}
            if names <= seen:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub saw {len(seen & names)} of {len(names)} hosts after {timeout:g} s; "
                                   f"missing e.g. {sorted(names - seen)[:5]}")
    finally:
        await nc.close()


async def measure_size(n: int, rounds: int, actor: Path, logs: Path) -> dict[str, Any]:
    names = [f"sim-pi-{i:03d}" for i in range(n)]
    hub = await start_hub(logs / f"hub-{n}")
    fleet = Fleet(hub, actor, logs)
    try:
        assert hub.server.pid is not None
        hub_pid = hub.server.pid
        t0 = time.perf_counter()
        await fleet.start(names)
        all_ready = time.perf_counter() - t0
        await until_hub_sees(hub, set(names), timeout=60 + 2 * n)
        start_s = time.perf_counter() - t0

        nc = await connect(hub.url, name="bench-fleet-laptop", credentials=hub.operator)
        subject = subjects.actor_all(subjects.DEFAULT_LATTICE, ACTOR)
        all_ms: list[float] = []
        host_ms: list[float] = []
        failures: list[str] = []
        try:
            await broadcast(nc, subject, b"warm-up", None, set(names), timeout=30)
            hub_cpu0 = cpu_s(hub_pid)
            for i in range(rounds):
                t = time.perf_counter()
                answers = await broadcast(nc, subject, f"Round {i}".encode(), None, set(names), timeout=30)
                took = (time.perf_counter() - t) * 1000
                bad = [h for h, a in answers.items() if a.error or not a.body.startswith(b"shown:")]
                missing = sorted(set(names) - answers.keys())
                if bad or missing:
                    failures.append(f"round {i}: {len(bad)} failed, {len(missing)} silent")
                else:
                    all_ms.append(took)
                host_ms += [a.seconds * 1000 for a in answers.values()]
            hub_cpu_rounds = cpu_s(hub_pid) - hub_cpu0
        finally:
            await nc.close()
        agents, leaves = fleet.pids()
        ready = list(fleet.ready_s.values())
        return {
            "n": n,
            "fleet_start_s": start_s,
            "all_ready_s": all_ready,
            "agent_ready_s": {"p50": pct(ready, 0.5), "max": max(ready)},
            "broadcast_all_shown_ms": ({"p50": pct(all_ms, 0.5), "max": max(all_ms),
                                        "mean": statistics.fmean(all_ms)} if all_ms else None),
            "per_host_reply_ms": {"p50": pct(host_ms, 0.5), "p90": pct(host_ms, 0.9), "max": max(host_ms)},
            "rounds": rounds,
            "failed_rounds": failures,
            "hub_cpu_s_total": cpu_s(hub_pid),
            "hub_cpu_s_during_rounds": hub_cpu_rounds,
            "hub_rss_mib": rss_mib(hub_pid),
            "agents_rss_mib_total": sum(rss_mib(p) for p in agents),
            "leaf_servers_rss_mib_total": sum(rss_mib(p) for p in leaves),
            "agent_processes": len(agents),
            "leaf_servers": len(leaves),
        }
    finally:
        # Killing the simulated Pis breaks their leaf links mid-write; the hub's "broken pipe" errors
        # that follow say nothing about the measurement.
        quiet = logging.getLogger("pi_edge.nats_server")
        level, quiet.level = quiet.level, logging.ERROR + 1
        try:
            fleet.stop()
            await hub.stop()
        finally:
            quiet.setLevel(level)


async def measure(sizes: list[int], rounds: int) -> dict[str, Any]:
    actor = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    logs = Path(tempfile.mkdtemp(prefix="pi-edge-fleet-logs-"))
    results: list[dict[str, Any]] = []
    # One agent first fills the compile cache, so every size measures warm starts.
    await measure_size(1, 1, actor, logs)
    for n in sizes:
        try:
            results.append(await measure_size(n, rounds, actor, logs))
        except Exception as exc:
            results.append({"n": n, "error": f"{type(exc).__name__}: {exc}"})
        print(f"  n={n}: done", file=sys.stderr, flush=True)
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "started_at_once": START_AT_ONCE,
        "agent_logs": str(logs),
        "sizes": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,25,50", help="comma-separated fleet sizes (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=10, help="broadcast rounds per size (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="sizes 3,10 and 3 rounds, unless given")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.quick:
        sizes = [3, 10] if args.sizes == parser.get_default("sizes") else sizes
        args.rounds = 3 if args.rounds == parser.get_default("rounds") else args.rounds
    result = asyncio.run(measure(sizes, args.rounds))
    print(f"fleet of simulated Pis, one broadcast display, {args.rounds} rounds "
          f"({result['machine']}, {result['cpus']} CPUs, {START_AT_ONCE} agents starting at once)")
    print(f"{'N':>4}{'start s':>9}{'all shown p50 ms':>18}{'max ms':>9}{'hub CPU s':>11}{'hub RSS MiB':>13}"
          f"{'agents RSS MiB':>16}{'leaves RSS MiB':>16}")
    for r in result["sizes"]:
        if "error" in r:
            print(f"{r['n']:>4}  FAILED: {r['error']}")
            continue
        b = r["broadcast_all_shown_ms"] or {"p50": float("nan"), "max": float("nan")}
        print(f"{r['n']:>4}{r['fleet_start_s']:>9.1f}{b['p50']:>18.1f}{b['max']:>9.1f}"
              f"{r['hub_cpu_s_total']:>11.2f}{r['hub_rss_mib']:>13.1f}{r['agents_rss_mib_total']:>16.0f}"
              f"{r['leaf_servers_rss_mib_total']:>16.0f}")
        if r["failed_rounds"]:
            print(f"      failed rounds: {'; '.join(r['failed_rounds'])}")
    write_result("fleet", result)


if __name__ == "__main__":
    main()
