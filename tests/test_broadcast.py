"""``display --all``: one request on the broadcast subject reaches every host running the actor,
and every host's answer (or silence) is reported by name."""

from __future__ import annotations

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.replies import HOST_HEADER
from tests.processes import run_cli
from tests.test_fleet import until_hub_sees

NAMES = ("pi-a", "pi-b", "pi-c")


async def three_pis(hub, start_agent, built) -> dict:
    agents = {n: await start_agent({"oled-text": built["oled-text"]}, hub=hub, name=n) for n in NAMES}
    await until_hub_sees(hub, *NAMES)
    return agents


async def test_display_all_lights_every_panel_and_names_every_host(hub, start_agent, built) -> None:
    agents = await three_pis(hub, start_agent, built)
    code, out, err = await run_cli("display", "--all", "Hello, everyone", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, out + err
    lines = out.splitlines()
    for name in NAMES:
        assert any(line.startswith(f"{name}: shown:") and " ms)" in line for line in lines), out
        assert agents[name].bus.image().getbbox() is not None, f"{name}'s panel stayed dark"
    assert "3 of 3 host(s) answered ok" in out

    code, out, err = await run_cli("clear", "--all", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, out + err
    assert all(agents[name].bus.image().getbbox() is None for name in NAMES), out


async def test_a_host_whose_display_fails_is_named_and_the_exit_is_non_zero(hub, start_agent, built) -> None:
    agents = await three_pis(hub, start_agent, built)
    agents["pi-b"].bus.disconnect()
    code, out, err = await run_cli("display", "--all", "Partly", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--timeout", "10")
    assert code != 0, out + err
    lines = {line.split(":", 1)[0]: line for line in out.splitlines() if ":" in line}
    assert lines["pi-b"].startswith("pi-b: error:"), out
    assert lines["pi-a"].startswith("pi-a: shown:") and lines["pi-c"].startswith("pi-c: shown:"), out
    assert "failed: pi-b" in out
    assert agents["pi-a"].bus.image().getbbox() is not None


async def test_a_tiny_timeout_still_names_every_host(hub, start_agent, built) -> None:
    """Hosts are counted from a ping that waits at least a quarter second whatever --timeout says."""
    await three_pis(hub, start_agent, built)
    _code, out, err = await run_cli("display", "--all", "x", "--timeout", "0.001", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    named = {line.split(":", 1)[0] for line in out.splitlines() if ":" in line}
    assert named >= set(NAMES), out + err
    assert "of 3 host(s)" in out, out


async def test_display_host_reaches_that_host_only(hub, start_agent, built) -> None:
    agents = await three_pis(hub, start_agent, built)
    for name in NAMES:
        before = {n: agents[n].provider.stats["frames_sent"] for n in NAMES}
        code, out, err = await run_cli("display", "--host", name, f"Only {name}", "--nats-url", hub.url, "--creds", str(hub.operator_path))
        assert code == 0 and out.startswith("shown:"), out + err
        drawn = {n for n in NAMES if agents[n].provider.stats["frames_sent"] > before[n]}
        assert drawn == {name}, f"--host {name} drew on {sorted(drawn)}"
    await agents["pi-a"].service.host.stop_actor("oled-text")
    code, out, err = await run_cli("display", "--host", "pi-a", "x", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 1 and "no actor 'oled-text' on host 'pi-a' is running" in err, out + err
    code, out, err = await run_cli("clear", "--host", "pi-b", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and out.startswith("cleared") and agents["pi-b"].bus.image().getbbox() is None, out + err
    code, out, err = await run_cli("display", "--host", "pi-b", "--all", "x", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 2 and "not allowed with argument" in err, err


async def test_no_host_runs_the_actor_is_one_clear_error(hub, start_agent) -> None:
    await start_agent({}, hub=hub, name="pi-empty")
    await until_hub_sees(hub, "pi-empty")
    code, _out, err = await run_cli("display", "--all", "x", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code != 0 and "no host runs actor 'oled-text'" in err, err


async def test_the_single_host_path_also_names_the_host(hub, start_agent, built) -> None:
    await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-a")
    await until_hub_sees(hub, "pi-a")
    nc = await connect(hub.url, name="test-laptop", credentials=hub.operator)
    try:
        msg = await nc.request(subjects.actor("default", "oled-text"), b"one", timeout=20)
    finally:
        await nc.close()
    assert msg.data.startswith(b"shown:") and msg.headers and msg.headers[HOST_HEADER] == "pi-a"


def test_broadcast_subject_is_separate_from_the_queue_subject() -> None:
    assert subjects.actor_all("default", "oled-text") == "pe.default.all.actor.oled-text"
    assert subjects.actor_all("default", "oled-text") != subjects.actor("default", "oled-text")
    assert subjects.actor_on("default", "pi-a", "oled-text") == "pe.default.host.pi-a.actor.oled-text"
