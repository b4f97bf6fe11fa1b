"""The smaller gaps a new user fell into: each one's fix, held."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pi_edge.agent.hub.hub import Hub, HubOptions
from pi_edge.agent.lattice.client import LatticeClient
from tests.processes import run_cli


async def test_scaling_down_is_an_actor_scaled_event_not_actor_started(start_agent, built) -> None:
    """'events' said actor-started when an actor was scaled down."""
    agent = await start_agent({"misbehave": built["misbehave"]})
    async with LatticeClient(agent.url) as lattice, \
            lattice.events("test-pi", ("actor-started", "actor-scaled")) as events:
        await agent.service.host.scale_actor("misbehave", 2)
        await agent.service.host.scale_actor("misbehave", 1)
        seen = [await asyncio.wait_for(anext(events), 10) for _ in range(2)]
    assert [(e["kind"], e["data"]["previous"], e["data"]["scale"]) for e in seen] == [
        ("actor-scaled", 1, 2), ("actor-scaled", 2, 1)]


async def test_hosts_with_a_hub_and_no_agent_says_so_without_a_warning(hub) -> None:
    """The no-responders status was read as a ping reply: "ignoring a ping reply that is not JSON: b''"."""
    code, out, err = await run_cli("hosts", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 1 and out.strip() == "no hosts answered in lattice 'default'", out
    assert "not JSON" not in err and "WARNING" not in err, err


async def test_a_mistyped_flag_is_told_with_the_commands_own_usage() -> None:
    """It printed pi-edge's top-level usage."""
    code, _out, err = await run_cli("display", "--hots", "pi-01", "Hello")
    assert code == 2, err
    assert err.startswith("usage: pi-edge display ") and "pi-edge display: error: unrecognized arguments: --hots" in err
    code, _out, err = await run_cli("trust", "list", "--hots", "pi-01")
    assert code == 2 and "pi-edge trust list: error: unrecognized arguments: --hots pi-01" in err, err


async def test_an_agent_on_the_hubs_machine_is_told_to_pick_another_port(hub, tmp_path: Path) -> None:
    """The agent command 'pi-edge hub' printed failed on the hub's own machine: the hub has 4222 (here: its
    port), and the error said "pick another" without naming --port."""
    code, _out, err = await run_cli("agent", "--port", str(hub.server.client_port), "--state-dir", str(tmp_path / "state"),
                                    "--cache-dir", str(tmp_path / "cache"), "--display", "emulator", "--actor",
                                    f"none={tmp_path}", timeout=60)
    line = err.strip().splitlines()[-1]
    assert code == 1, err
    assert f"its client port 127.0.0.1:{hub.server.client_port} is in use" in line, line
    assert line.endswith("pick another with --port (or port in agent.toml, PI_EDGE_PORT) (0 picks a free one)"), line


async def test_a_second_hub_names_the_leaf_port_it_could_not_have(hub, tmp_path: Path) -> None:
    """It said it "did not start on 0.0.0.0:4222" when the clash was on the leaf port."""
    code, _out, err = await run_cli("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port",
                                    str(hub.leafnode_port), "--state-dir", str(tmp_path / "hub"))
    line = err.strip().splitlines()[-1]
    assert code == 1, err
    assert f"its leaf-node port 127.0.0.1:{hub.leafnode_port} is in use" in line, line
    assert line.endswith("pick another with --leafnode-port (0 picks a free one)"), line


def test_the_hub_says_what_an_agent_on_its_own_machine_needs(tmp_path: Path) -> None:
    hub = Hub(HubOptions(state_dir=tmp_path, auth=False))
    hub.server.client_port, hub.server.leafnode_port = 4222, 7422  # as if started on the defaults
    assert "  an agent on this machine also needs --port 0: the hub has port 4222" in hub.announcement()
