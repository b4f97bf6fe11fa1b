"""Hosts in the lattice: identity, presence, deploying across the leaf link, scaling, and
desired state that survives a restart with the hub gone."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pi_edge.agent.errors import NoResponderError
from pi_edge.agent.host.desired import DesiredActor, DesiredState
from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import ping, request, wait_for_actor
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.store import sha256
from tests.conftest import endpoint, start_hub
from tests.events import follow
from tests.processes import CliProcess, run_cli
from tests.test_signing import ACCOUNT, ISSUER, signed


async def ask(target: str | Hub, actor: str, text: str) -> bytes:
    url, creds = endpoint(target)
    nc = await connect(url, name="test-laptop", credentials=creds)
    try:
        return (await request(nc, subjects.actor("default", actor), text.encode(), None, 20,
                              what=f"actor {actor!r}")).body
    finally:
        await nc.close()


async def hosts_via(target: str | Hub) -> dict[str, dict]:
    url, creds = endpoint(target)
    nc = await connect(url, name="test-ping", credentials=creds)
    try:
        return {str(h["name"]): h for h in await ping(nc, "default", window=1.0)}
    finally:
        await nc.close()


async def until_hub_sees(hub: Hub, *names: str) -> None:
    """Leaf links come up on their own schedule: wait for the hosts' pings, bounded."""
    nc = await connect(hub.url, name="test-wait", credentials=hub.operator)
    try:
        async def seen() -> None:
            while not set(names) <= {str(h["name"]) for h in await ping(nc, "default", window=0.3)}:
                pass

        await asyncio.wait_for(seen(), 20)
    finally:
        await nc.close()


async def until_routed(target: str | Hub, actor: str) -> None:
    url, creds = endpoint(target)
    nc = await connect(url, name="test-wait", credentials=creds)
    try:
        await wait_for_actor(nc, "default", actor, timeout=15)
    finally:
        await nc.close()


async def test_host_id_is_an_nkey_that_survives_a_restart(start_agent, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = await start_agent({}, name="pi-x", state_dir=state, labels={"node": "pi-01"})
    described = (await hosts_via(first.url))["pi-x"]
    await first.service.stop()
    second = await start_agent({}, name="pi-x", state_dir=state)
    again = (await hosts_via(second.url))["pi-x"]
    assert described["id"] == again["id"] and str(described["id"]).startswith("N") and len(described["id"]) == 56
    assert described["labels"]["node"] == "pi-01" and described["labels"]["display"] == "ssd1306"
    assert {"arch", "os"} <= set(described["labels"])
    assert (state / "host.nk").stat().st_mode & 0o077 == 0, "the host seed must be private"


async def test_deploy_by_label_scale_and_stop_across_leaf_links(hub, start_agent, built) -> None:
    a = await start_agent({}, hub=hub, name="pi-a", labels={"node": "pi-01"})
    b = await start_agent({}, hub=hub, name="pi-b", labels={"node": "pi-02"})
    await until_hub_sees(hub, "pi-a", "pi-b")

    code, out, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--label", "node=pi-02",
                                   "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    assert "uploaded" in out and "pi-b: sign x1 running (fetched and started" in out and "pi-a" not in out
    await until_routed(hub, "sign")
    assert (await ask(hub, "sign", "Deployed")).startswith(b"shown:")
    assert b.bus.image().getbbox() is not None and a.bus.image().getbbox() is None

    code, out, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--host", "pi-b",
                                   "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "already in the store" in out, err

    code, out, err = await run_cli("scale", "sign", "3", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "pi-b: sign now x3" in out, err
    code, out, err = await run_cli("inventory", "pi-b", "--json", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    inventory = json.loads(out)
    assert inventory["actors"]["sign"]["scale"] == 3 and inventory["labels"]["node"] == "pi-02"

    code, out, err = await run_cli("hosts", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0
    [line_a] = [line for line in out.splitlines() if line.startswith("pi-a ")]
    [line_b] = [line for line in out.splitlines() if line.startswith("pi-b ")]
    assert "node=pi-01" in line_a and "sign x3" in line_b and "node=pi-02" in line_b

    code, out, err = await run_cli("stop", "sign", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "pi-b: sign stopped" in out, err
    with pytest.raises(NoResponderError):
        await ask(hub, "sign", "gone")


async def test_offline_host_and_unmatched_label_are_reported_not_waited_on(hub, start_agent, built) -> None:
    await start_agent({}, hub=hub, name="pi-a")
    await until_hub_sees(hub, "pi-a")
    code, _, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--host", "pi-ghost",
                                   "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code != 0 and "host 'pi-ghost' is offline or unknown (answering: pi-a)" in err
    code, _, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--label", "node=nowhere",
                                   "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code != 0 and "no host has label(s) node=nowhere" in err
    code, _out, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--host", "pi-a",
                                   "--label", "node=nowhere", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code != 0 and "host 'pi-a' does not have label(s) node=nowhere" in err, err


async def test_deploying_a_signed_build_names_the_digest_inventory_shows(hub, start_agent, built, tmp_path) -> None:
    """The file's sha256 covers the signature; hosts and inventory go by the component's, without it."""
    from pi_edge.agent.trust import claims

    await start_agent({}, hub=hub, name="pi-a", trusted=[ACCOUNT.public_key.decode()])
    await until_hub_sees(hub, "pi-a")
    wasm = tmp_path / "signed.wasm"
    wasm.write_bytes(claims.sign(built["oled-text"].read_bytes(), ACCOUNT, claims.generate_key("actor"),
                                 list(claims.CAPABILITIES)))
    component = claims.component_digest(wasm.read_bytes())
    code, out, err = await run_cli("deploy", str(wasm), "--name", "sign", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    assert f"component {component[:12]}… as inventory shows it" in out, out
    code, out, err = await run_cli("inventory", "pi-a", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert f"digest {component[:12]}…" in out, out
    code, _, err = await run_cli("inventory", "pi-ghost", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--timeout", "2")
    assert code != 0 and "no host 'pi-ghost' is running" in err


async def test_deployed_actor_is_restored_at_boot_without_the_hub(hub, start_agent, built, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = await start_agent({}, hub=hub, name="pi-a", state_dir=state)
    await until_hub_sees(hub, "pi-a")
    code, _, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--scale", "2",
                                 "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    await first.service.stop()
    await hub.stop()  # the laptop is gone

    again = await start_agent({}, name="pi-a", state_dir=state)  # standalone: no hub at all
    assert again.service.host is not None and again.service.host.actors["sign"].scale == 2
    assert (await ask(again.url, "sign", "Offline")).startswith(b"shown:")


async def test_events_follow_deploys_live(hub, start_agent, built) -> None:
    await start_agent({}, hub=hub, name="pi-a")
    await until_hub_sees(hub, "pi-a")
    events = await CliProcess.start("events", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--kind", "actor-started",
                                    "--kind", "actor-stopped", "--count", "2")
    try:
        await events.wait_line(r"^following events on pe\.default\.evt\.>")
        for command in (["deploy", str(built["oled-text"]), "--name", "sign"], ["stop", "sign"]):
            code, _, err = await run_cli(*command, "--nats-url", hub.url, "--creds", str(hub.operator_path))
            assert code == 0, err
        assert await events.wait(timeout=30) == 0, events.transcript()
    finally:
        await events.kill()
    lines = events.lines["stdout"]
    assert any("pi-a" in line and "actor-started" in line and "sign" in line for line in lines)
    assert any("pi-a" in line and "actor-stopped" in line and "sign" in line for line in lines)


async def test_events_of_one_host_as_json_lines(hub, start_agent, built) -> None:
    """--host follows one host; with --json stdout holds nothing but events, one JSON object a line."""
    await start_agent({}, hub=hub, name="pi-a")
    await start_agent({}, hub=hub, name="pi-b")
    await until_hub_sees(hub, "pi-a", "pi-b")
    events = await CliProcess.start("events", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--host", "pi-b", "--kind", "actor-started",
                                    "--count", "1", "--json")
    try:
        await events.wait_line(r"^following events on pe\.default\.evt\.pi-b\.actor-started", stream="stderr")
        code, _, err = await run_cli("deploy", str(built["oled-text"]), "--name", "sign", "--nats-url", hub.url,
                                     "--creds", str(hub.operator_path))
        assert code == 0, err
        assert await events.wait(timeout=30) == 0, events.transcript()
    finally:
        await events.kill()
    [line] = [line for line in events.lines["stdout"] if line]
    event = json.loads(line)
    assert (event["kind"], event["host"], event["data"]["actor"]) == ("actor-started", "pi-b", "sign")


async def test_malformed_control_requests_get_specific_errors(start_agent) -> None:
    agent = await start_agent({}, name="pi-a")
    nc = await connect(agent.url, name="test", credentials=agent.credentials)
    try:
        for body, expected in [
            (b"{not json", "deploy: malformed request"),
            (b"[1, 2]", "deploy: the request must be a JSON object"),
            (json.dumps({"name": "x", "digest": "abc"}).encode(), "is not a sha256 hex digest"),
            (json.dumps({"name": "x", "digest": "0" * 64, "scale": 99}).encode(), "scale must be a whole number"),
            (json.dumps({"name": 5}).encode(), "request field 'name' must be a str"),
        ]:
            msg = await nc.request(subjects.ctl("default", "pi-a", "deploy"), body, timeout=5)
            assert msg.headers and expected in msg.data.decode(), (body, msg.data)
        msg = await nc.request(subjects.ctl("default", "pi-a", "stop"), json.dumps({"name": "nope"}).encode(),
                               timeout=5)
        assert "actor 'nope' is not running on host pi-a" in msg.data.decode()
    finally:
        await nc.close()


async def test_actor_on_one_host_draws_on_anothers_display_through_a_link(hub, start_agent, built) -> None:
    a = await start_agent({}, hub=hub, name="pi-a")
    b = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-b")
    await until_hub_sees(hub, "pi-a", "pi-b")
    await until_routed(hub, "oled-text")

    code, out, err = await run_cli("links", "--nats-url", hub.url, "--creds", str(hub.operator_path))  # none was ever made on this hub
    assert (code, out.strip()) == (0, "no links: every actor draws on its own host's display"), err
    code, out, err = await run_cli("link", "put", "oled-text", "pi-a-display", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "warning" not in out, out + err
    assert "pi-a: oled-text draws on pi-a-display" in out and "pi-b: oled-text draws on pi-a-display" in out
    assert (await ask(hub, "oled-text", "Far away")).startswith(b"shown:")
    assert a.bus.image().getbbox() is not None, "the linked host's panel shows nothing"
    assert b.bus.image().getbbox() is None, "the actor's own panel was drawn on"
    code, out, _ = await run_cli("links", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert "oled-text" in out and "pi-a-display" in out

    await a.service.stop()  # the provider's host goes away: the actor hears it as an error
    with pytest.raises(Exception, match="display provider 'pi-a-display' is not running in the lattice"):
        await ask(hub, "oled-text", "Nobody home")

    code, out, err = await run_cli("link", "del", "oled-text", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "pi-b: oled-text draws on pi-b-display" in out, err
    assert "link of oled-text (to pi-a-display) removed" in out and "warning" not in out, out
    assert (await ask(hub, "oled-text", "Home again")).startswith(b"shown:")
    assert b.bus.image().getbbox() is not None


async def test_link_del_says_when_there_was_no_link_and_put_warns_of_an_actor_no_host_runs(hub, start_agent,
                                                                                           tmp_path: Path) -> None:
    from pi_edge.agent.host.links import LinkTable

    state = tmp_path / "state"
    state.mkdir()
    LinkTable(state).set("stale", "pi-z-display")  # kept from before a 'link del' it was offline for
    await start_agent({}, hub=hub, name="pi-a", state_dir=state)
    await until_hub_sees(hub, "pi-a")

    code, out, err = await run_cli("link", "del", "ghost", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 1 and out == "", out + err
    assert "actor 'ghost' has no link to remove: it already draws on its own host's display" in err, err

    code, out, err = await run_cli("link", "put", "ghost", "pi-a-display", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, out + err
    assert "warning: no host runs actor 'ghost' yet; the link applies when one starts it" in out
    assert "no host offers" not in out and "pi-a: ghost draws on pi-a-display" in out
    code, out, err = await run_cli("link", "del", "ghost", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "link of ghost (to pi-a-display) removed: it draws on its own host" in out, out + err
    code, out, err = await run_cli("link", "del", "ghost", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 1 and "has no link to remove" in err, out + err

    code, out, err = await run_cli("link", "del", "stale", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "link of stale removed from pi-a (the hub had none)" in out, out + err
    assert "pi-a: stale draws on pi-a-display" in out


async def test_links_survive_a_restart_with_the_hub_gone(hub, start_agent, built, tmp_path: Path) -> None:
    state = tmp_path / "state"
    b = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-b", state_dir=state)
    await until_hub_sees(hub, "pi-b")
    code, _, err = await run_cli("link", "put", "oled-text", "pi-z-display", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    await b.service.stop()
    await hub.stop()
    again = await start_agent({"oled-text": built["oled-text"]}, name="pi-b", state_dir=state)
    assert again.service.host is not None and again.service.host.links == {"oled-text": "pi-z-display"}


async def test_a_host_started_before_its_hub_learns_the_links_once_it_joins(start_agent, built, tmp_path) -> None:
    """A new Pi joining a lattice whose links it has never seen, while the laptop is still asleep."""
    hub = await start_hub(tmp_path / "hub")
    ports = (hub.server.client_port, hub.leafnode_port)
    try:
        code, _, err = await run_cli("link", "put", "oled-text", "pi-z-display", "--nats-url", hub.url, "--creds", str(hub.operator_path))
        assert code == 0, err
        await hub.stop()
        agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-new")
        assert agent.service.host is not None and agent.service.host.links == {}  # started with what it had
        hub = await start_hub(tmp_path / "hub", port=ports[0], leafnode_port=ports[1])  # the laptop wakes up
        fetching = agent.service.hub_links.waiting
        assert fetching is not None, "nothing waits for the hub to fetch the links"
        await asyncio.wait_for(asyncio.shield(fetching), 30)
        assert agent.service.host.links == {"oled-text": "pi-z-display"}
    finally:
        await hub.stop()


async def test_hub_outage_leaves_local_messages_working_and_the_host_returns(start_agent, built, tmp_path) -> None:
    hub = await start_hub(tmp_path / "hub")
    ports = (hub.server.client_port, hub.leafnode_port)
    try:
        agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-a")
        await until_hub_sees(hub, "pi-a")
        await hub.stop()  # the laptop goes to sleep
        assert (await ask(agent.url, "oled-text", "Still here")).startswith(b"shown:")
        assert agent.bus.image().getbbox() is not None

        hub = await start_hub(tmp_path / "hub", port=ports[0], leafnode_port=ports[1])  # and wakes up
        await until_hub_sees(hub, "pi-a")  # the leaf rejoined by itself
        assert (await ask(hub, "oled-text", "Welcome back")).startswith(b"shown:")
    finally:
        await hub.stop()


def deployed_in(state: Path, name: str, component: Path) -> None:
    """A state directory as a deploy leaves it: the component cached, the actor in desired.json."""
    data = component.read_bytes()
    desired = DesiredState(state)
    path = desired.component_path(sha256(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    desired.save({name: DesiredActor(name, sha256(data))})


async def test_a_deployed_actor_that_cannot_be_restored_is_listed_and_stop_forgets_it(hub, start_agent, built,
                                                                                      tmp_path: Path) -> None:
    state = tmp_path / "state"
    deployed_in(state, "sign", signed(built, tmp_path))
    await start_agent({}, hub=hub, name="pi-a", state_dir=state, allow_unsigned=False)  # its issuer: no longer trusted
    await start_agent({}, hub=hub, name="pi-b")
    await until_hub_sees(hub, "pi-a", "pi-b")

    code, out, err = await run_cli("inventory", "pi-a", "--json", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    down = json.loads(out)["not_running"]["sign"]
    assert down["refused"] is True and f"issuer {ISSUER} is not trusted by this host" in down["reason"]
    code, out, err = await run_cli("inventory", "pi-a", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0 and "sign                 REFUSED: actor 'sign' refused: issuer" in out, err

    code, out, err = await run_cli("stop", "sign", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, out + err
    assert "pi-a: sign was not running; forgotten" in out and "pi-b" not in out
    assert DesiredState(state).load() == {}
    code, out, err = await run_cli("stop", "sign", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code != 0 and "actor 'sign' is not running on host pi-a" in out, out + err


async def test_a_reload_retries_deployed_actors_that_failed_to_restore(start_agent, built, tmp_path: Path) -> None:
    state = tmp_path / "state"
    deployed_in(state, "sign", signed(built, tmp_path))
    agent = await start_agent({}, name="pi-a", state_dir=state, allow_unsigned=False)
    assert "sign" not in agent.service.host.actors and "sign" in agent.service.host.not_running
    await agent.service.reconfigure(replace(agent.service.options, trusted=[ISSUER]))  # what SIGHUP does
    assert "sign" in agent.service.host.actors and agent.service.host.not_running == {}
    assert (await ask(agent.url, "sign", "Trusted again")).startswith(b"shown:")


async def test_revoking_trust_on_reload_stops_its_actors_until_it_is_trusted_again(start_agent, built,
                                                                                   tmp_path: Path) -> None:
    state = tmp_path / "state"
    deployed_in(state, "sign", signed(built, tmp_path))
    agent = await start_agent({"oled-text": signed(built, tmp_path, "configured.wasm")}, name="pi-a",
                              state_dir=state, trusted=[ISSUER], allow_unsigned=False)
    host = agent.service.host
    assert set(host.actors) == {"oled-text", "sign"}
    nc = await connect(agent.url, name="test-events", credentials=agent.credentials)
    try:
        events = await follow(nc, "actor-refused", host="pi-a")
        await agent.service.reconfigure(replace(agent.service.options, trusted=[]))  # SIGHUP, issuer removed
        refused = [await asyncio.wait_for(events.get(), 10) for _ in range(2)]
        assert {e["actor"] for e in refused} == {"oled-text", "sign"}
        assert all(f"issuer {ISSUER} is not trusted" in e["reason"] for e in refused)
    finally:
        await nc.close()
    assert host.actors == {} and all(down.refused for down in host.not_running.values())
    with pytest.raises(NoResponderError):
        await ask(agent.url, "sign", "Revoked")
    code, out, _err = await run_cli("scale", "sign", "2", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code != 0 and f"actor 'sign' is not running on host pi-a: actor 'sign' refused: issuer {ISSUER}" in out
    assert set(DesiredState(state).load()) == {"sign"}, "a revoked actor must stay desired"

    await agent.service.reconfigure(replace(agent.service.options, trusted=[ISSUER]))  # trusted again
    assert set(host.actors) == {"oled-text", "sign"} and host.not_running == {}
    assert (await ask(agent.url, "sign", "Back")).startswith(b"shown:")


def test_the_hosts_table_stays_aligned_and_flags_actors_that_do_not_serve() -> None:
    from pi_edge.agent.cli.hosts import hosts_table

    hosts = [
        {"name": "pi-a", "id": "pi-a-0123456789", "uptime_s": 5, "display": {"healthy": True},
         "actors": {"oled-text": 1}, "labels": {"node": "pi-01"}},
        {"name": "kitchen-display-long-name", "id": "k-0123456789", "uptime_s": 86400, "display": {"healthy": False},
         "actors": {"a-rather-long-actor-name": 3, "clock": 1, "bad": 1}, "failed": ["bad"],
         "not_running": ["sign"], "labels": {"room": "kitchen"}},
    ]
    header, kitchen, a, legend = hosts_table(hosts)  # sorted by name
    assert header.index("LABELS") == a.index("node=pi-01") == kitchen.index("room=kitchen"), "\n".join((header, a, kitchen))
    assert header.index("ACTORS") == a.index("oled-text") == kitchen.index("a-rather-long-actor-name x3")
    # 'signx2' read as an actor's name: the count and the marks stand apart from it
    assert "a-rather-long-actor-name x3, bad (failed), clock, sign (down)" in kitchen and "UNHEALTHY" in kitchen
    assert legend.startswith("(failed): marked failed, (down): not running")
    assert len(hosts_table(hosts[:1])) == 2, "no legend when nothing is flagged"
