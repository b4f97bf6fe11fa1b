"""What every benchmark shares: the repository on the import path, the build cache,
percentiles, process memory, and where results go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from pi_edge.agent.hub.hub import Hub

CACHE = ROOT / ".build" / "bench-cache"
RESULTS = ROOT / "bench" / "results"


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _status_mib(pid: int | str, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default), MiB."""
    return _status_mib(pid, "VmRSS")


def rss_anon_mib(pid: int | str = "self") -> float:
    """The anonymous part of a process's resident memory, MiB: heaps and stacks, without the
    file-backed pages (mapped compiled code, libraries) that the kernel can drop and reload."""
    return _status_mib(pid, "RssAnon")


def cpu_s(pid: int | str = "self") -> float:
    """CPU time a process has used, user + system, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_result(name: str, result: object) -> Path:
    """``bench/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


async def start_hub(state: Path, *, auth: bool = True) -> Hub:
    """A hub as ``pi-edge hub`` runs one (auth on unless told), on free loopback ports, its state in ``state``."""
    from pi_edge.agent.hub.hub import Hub, HubOptions

    hub = Hub(HubOptions(listen="127.0.0.1", port=0, leafnode_port=0, state_dir=state, auth=auth, name="bench-hub"))
    await hub.start()
    return hub


async def enrolled(hub: Hub, name: str) -> list[str]:
    """The agent flags for host ``name`` on ``hub``: enrolled as a user would (none with --no-auth)."""
    if not hub.options.auth:
        return []
    path = hub.state_dir / "hosts" / f"{name}.creds"
    if not path.exists():
        path = await hub.enroll(name)
    return ["--hub-credentials", str(path)]


async def spawn_agent(hub: Hub, args: list[str], actors: tuple[str, ...], name: str = "bench-pi",
                      ) -> subprocess.Popen[str]:
    """Start bench/agent_process.py as host ``name`` (enrolled on ``hub``) with ``args``; return it once READY
    and the hub routes to ``actors``."""
    import asyncio

    from pi_edge.agent.lattice import subjects
    from pi_edge.agent.lattice.client import wait_for_actor
    from pi_edge.agent.lattice.connection import connect

    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "agent_process.py"), "--hub",
                             f"nats-leaf://127.0.0.1:{hub.leafnode_port}", "--name", name,
                             *await enrolled(hub, name), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if line.strip() != "READY":
        proc.kill()
        raise SystemExit(f"bench agent did not start (exit {proc.wait()})")
    nc = await connect(hub.url, name="bench-wait", credentials=hub.operator)
    try:
        for actor in actors:
            await wait_for_actor(nc, subjects.DEFAULT_LATTICE, actor, timeout=120)
    finally:
        await nc.close()
    return proc
