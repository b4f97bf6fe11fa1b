"""A hub and a Pi on separate network stacks, joined by a veth pair, so the link can really be cut.

Needs root (network namespaces); skipped with the reason otherwise.  Everything
else is the real thing: `pi-edge hub` in one namespace, `pi-edge agent` in the
other, the laptop's `pi-edge display` run next to the hub.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.processes import CliProcess, run_cli

HUB_IP, PI_IP = "10.199.0.1", "10.199.0.2"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def namespaces() -> Iterator[tuple[tuple[str, ...], tuple[str, ...], str]]:
    """(prefix to run in the hub's namespace, prefix for the Pi's, the Pi's end of the wire)."""
    tag = f"{os.getpid() % 100000}"
    hub_ns, pi_ns, veth_hub, veth_pi = f"pe-hub-{tag}", f"pe-pi-{tag}", f"peh{tag}", f"pep{tag}"
    try:
        ip("netns", "add", hub_ns)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"network namespaces are not available here ({exc})")
    try:
        ip("netns", "add", pi_ns)
        ip("link", "add", veth_hub, "type", "veth", "peer", "name", veth_pi)
        ip("link", "set", veth_hub, "netns", hub_ns)
        ip("link", "set", veth_pi, "netns", pi_ns)
        for ns, dev, addr in ((hub_ns, veth_hub, HUB_IP), (pi_ns, veth_pi, PI_IP)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield ("ip", "netns", "exec", hub_ns), ("ip", "netns", "exec", pi_ns), f"{pi_ns}:{veth_pi}"
    finally:
        for ns in (pi_ns, hub_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


async def test_cut_wire_is_noticed_on_both_sides_the_pi_keeps_working_and_it_rejoins(namespaces, built,
                                                                                   tmp_path) -> None:
    """A cut link went unnoticed for about 2 minutes (no ping interval), and meanwhile 'display' said only that
    the Pi did not answer within 5 s."""
    in_hub, in_pi, wire = namespaces
    pi_ns, veth_pi = wire.split(":")
    hub = await CliProcess.start("hub", "--listen", HUB_IP, "--port", "0", "--leafnode-port", "0",
                                 "--state-dir", str(tmp_path / "hub"), prefix=in_hub)
    agent = events = None
    try:
        m = await hub.wait_line(rf"clients on {HUB_IP}:(\d+), leaf nodes on {HUB_IP}:(\d+)")
        hub_url = f"nats://{HUB_IP}:{m[1]}"
        operator = (await hub.wait_line(r"operator credentials: (\S+) "))[1]
        creds = tmp_path / "pi-far.creds"
        code, _, err = await run_cli("hub", "enroll", "pi-far", "--state-dir", str(tmp_path / "hub"), "-o", str(creds),
                                     prefix=in_hub)
        assert code == 0, err
        agent = await CliProcess.start(
            "agent", "--hub", f"nats-leaf://{HUB_IP}:{m[2]}", "--hub-credentials", str(creds), "--port", "0",
            "--state-dir", str(tmp_path / "pi"), "--display", "emulator",
            "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned", "--cache-dir", str(built["oled-text"].parent.parent),
            prefix=in_pi)
        ready = await agent.wait_line(r"pi-edge agent pi-far: lattice 'default' via (nats://\S+);")
        pi_url = ready[1]
        await agent.wait_line(r"leafnode connection up", stream="stderr")

        async def from_laptop(*args: str, timeout: str = "5") -> tuple[int, str, str]:
            return await run_cli(*args, "--nats-url", hub_url, "--creds", operator, "--timeout", timeout, prefix=in_hub)

        async def until_served_from_laptop() -> None:
            while (await from_laptop("display", "Across the wire", timeout="1"))[0] != 0:
                pass  # interest crosses the leaf link on its own schedule; each try is bounded

        await asyncio.wait_for(until_served_from_laptop(), 30)
        events = await CliProcess.start("events", "--nats-url", hub_url, "--creds", operator, "--host", "pi-far",
                                        "--kind", "host-unreachable", "--kind", "host-back", prefix=in_hub)
        await events.wait_line("following events")

        ip("-n", pi_ns, "link", "set", veth_pi, "down")  # pull the cable
        cut = time.monotonic()
        await events.wait_line(r"pi-far\s+host-unreachable\s+the hub lost its link: Stale Connection", timeout=15)
        hub_noticed = time.monotonic() - cut
        await agent.wait_line(r"leafnode connection closed: the hub stopped answering pings", stream="stderr",
                              timeout=15)
        pi_noticed = time.monotonic() - cut
        assert hub_noticed < 10 and pi_noticed < 10, (hub_noticed, pi_noticed)

        started = time.monotonic()
        code, _, err = await from_laptop("display", "--host", "pi-far", "Lost", timeout="10")
        # Well under the timeout, process start included (tests/test_partition.py times the answer itself).
        assert time.monotonic() - started < 5, "display waited for a host the hub knows is unreachable"
        assert code != 0 and re.search(r"host 'pi-far' is unreachable since \d\d:\d\d:\d\d \(\d+ s ago; "
                                       r"Stale Connection\): nothing was delivered", err), err
        code, out, err = await from_laptop("hosts")
        assert re.search(r"unreachable \(the hub lost their link\):\n  pi-far  last seen \S+ \S+ \(\d+ s ago\): "
                         r"Stale Connection", out), out + err
        code, out, err = await run_cli("display", "--nats-url", pi_url, "Still on the Pi", prefix=in_pi)
        assert code == 0 and out.startswith("shown:"), err

        ip("-n", pi_ns, "link", "set", veth_pi, "up")  # plug it back in
        await events.wait_line(r"pi-far\s+host-back", timeout=60)
        await asyncio.wait_for(until_served_from_laptop(), 60)
        code, out, err = await from_laptop("hosts")
        assert code == 0 and "pi-far" in out and "unreachable" not in out, out + err
    finally:
        if events is not None:
            await events.stop()
        if agent is not None:
            assert await agent.stop() == 0, agent.transcript()
        assert await hub.stop() == 0, hub.transcript()
