"""The display seen from the laptop: snapshots, live watching, and a panel that drops off the bus."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from pi_edge.agent.display.provider import TextOptions
from pi_edge.agent.display.screen import Screen
from pi_edge.agent.errors import ActorReplyError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request
from pi_edge.agent.lattice.connection import connect
from pi_edge.providers.oled.layout import layout_text
from tests.events import follow
from tests.processes import CliProcess, run_cli


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.convert("1").tobytes() == b.convert("1").tobytes()


async def show(url: str, text: str) -> bytes:
    nc = await connect(url, name="test-laptop")
    try:
        return (await request(nc, subjects.actor("default", "oled-text"), text.encode(), None, 10,
                              what="actor 'oled-text'")).body
    finally:
        await nc.close()


async def test_snapshot_saves_what_the_panel_shows(start_agent, built, tmp_path) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]})
    await show(agent.url, "Snap shot")
    png = tmp_path / "screen.png"
    code, out, err = await run_cli("snapshot", "--nats-url", agent.url, "--creds", str(agent.creds_path), "-o", str(png), "--scale", "3")
    assert code == 0, err
    assert out.startswith(f"saved {png} (128x64 from host test-pi, scale 3)")
    with Image.open(png) as saved:
        assert saved.size == (384, 192)
        assert same_pixels(saved.resize((128, 64), Image.Resampling.NEAREST), agent.bus.image())

    code, out, err = await run_cli("snapshot", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 0, err
    assert out.rstrip("\n") == Screen.of(agent.bus.image()).halfblocks()


async def test_snapshot_among_several_hosts_asks_which(hub, start_agent, built) -> None:
    await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-a")
    await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-b")
    code, out, err = await run_cli("snapshot", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--timeout", "3")
    assert code != 0 and out == ""
    assert "2 hosts in lattice 'default' (pi-a, pi-b); pick one with --host" in err
    code, _, err = await run_cli("snapshot", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--host", "pi-c", "--timeout", "2")
    assert code != 0 and "no host 'pi-c' is running" in err


async def test_watch_redraws_when_a_frame_reaches_the_panel(start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]})
    watch = await CliProcess.start("watch", "--nats-url", agent.url, "--creds", str(agent.creds_path), "--frames", "1")
    try:
        await watch.wait_line(r"^test-pi: display \(Ctrl-C stops\)$")
        await show(agent.url, "Live")
        assert await watch.wait(timeout=30) == 0, watch.transcript()
    finally:
        await watch.kill()
    out = watch.lines["stdout"]
    start = out.index("test-pi: frame 1") + 1
    assert "\n".join(out[start:start + 32]) == Screen.of(agent.bus.image()).halfblocks()


async def test_watch_says_when_its_host_stops(hub, start_agent, built) -> None:
    from tests.test_fleet import until_hub_sees

    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-w")
    await until_hub_sees(hub, "pi-w")
    watch = await CliProcess.start("watch", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--host", "pi-w")
    try:
        await watch.wait_line(r"^pi-w: display \(Ctrl-C stops\)$")
        await agent.service.stop()
        await watch.wait_line(r"^pi-w: the host stopped; waiting for it to come back")
    finally:
        await watch.kill()


async def test_a_burst_of_frames_gives_few_frame_events_and_the_last_shows_the_last_frame(start_agent, built) -> None:
    from pi_edge.agent.host.display_events import FRAME_EVENT_INTERVAL_S

    agent = await start_agent({"oled-text": built["oled-text"]})
    nc = await connect(agent.url, name="test-events", credentials=agent.credentials)
    frames = await follow(nc, "frame")
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        burst = 30
        for i in range(burst):
            await request(nc, subjects.actor("default", "oled-text"), f"Frame {i}".encode(), None, 10,
                          what="actor 'oled-text'")
        final = Screen.of(agent.bus.image()).to_json()
        seen = 0
        while True:  # the newest frame is always announced, at the latest one interval after it was shown
            event = await asyncio.wait_for(frames.get(), 10)
            seen += 1
            if event["screen"] == final:
                break
        elapsed = loop.time() - started
        assert seen <= elapsed / FRAME_EVENT_INTERVAL_S + 2, (seen, elapsed)
        assert seen < burst
    finally:
        await nc.close()


async def test_unplugged_panel_errors_reach_the_sender_and_events_the_lattice(start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]})
    nc = await connect(agent.url, name="test-events", credentials=agent.credentials)
    events = await follow(nc, "provider-health")
    try:
        agent.bus.disconnect()
        with pytest.raises(ActorReplyError, match="0x3C.*kept and shown when the display answers again"):
            await show(agent.url, "While away")
        down = await asyncio.wait_for(events.get(), 10)
        assert down["healthy"] is False and "0x3C" in str(down["reason"])

        agent.bus.reconnect()
        up = await asyncio.wait_for(events.get(), 10)
        assert up["healthy"] is True
        expected, _ = layout_text("While away", 128, 64, TextOptions())
        assert same_pixels(agent.bus.image(), expected), "the frame sent while away was not shown on return"
        assert (await show(agent.url, "Back")).startswith(b"shown:")
    finally:
        await nc.close()


async def test_panel_missing_at_start_leaves_the_agent_serving_and_unhealthy(start_agent, built) -> None:
    from pi_edge.agent.lattice.client import ping
    from pi_edge.providers.oled.testing import FakeSSD1306Bus

    bus = FakeSSD1306Bus()
    bus.disconnect()
    agent = await start_agent({"oled-text": built["oled-text"]}, bus=bus)
    nc = await connect(agent.url, name="test-events", credentials=agent.credentials)
    events = await follow(nc, "provider-health")
    try:
        [host] = await ping(nc, "default")
        assert host["display"]["healthy"] is False and "0x3C" in host["display"]["reason"]
        with pytest.raises(ActorReplyError, match="kept and shown when the display answers again"):
            await show(agent.url, "Early")
        bus.reconnect()
        while not (await asyncio.wait_for(events.get(), 10))["healthy"]:
            pass
        [host] = await ping(nc, "default")
        assert host["display"] == {"healthy": True, "reason": ""}
        assert (await show(agent.url, "On time")).startswith(b"shown:")
    finally:
        await nc.close()
