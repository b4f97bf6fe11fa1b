"""The README's story, for real: hub and leaf nats-servers, the built actor, luma over a fake panel.

A message typed on the "laptop" (the CLI, talking to the hub) crosses the leaf
link into the agent, runs in the Wasm actor, and ends as pixels the fake bus
decoded from SSD1306 traffic.
"""

from __future__ import annotations

import pytest
from PIL import Image

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request, wait_for_actor
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.nats_server import NatsServer
from tests.processes import run_cli


def lit_box(image: Image.Image) -> tuple[int, int, int, int]:
    box = image.convert("1").getbbox()
    assert box is not None, "the panel is blank"
    return box


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    # Compare bytes: "1"-mode pixels may be stored as 1 or 255, which ImageChops counts as different.
    return a.size == b.size and a.convert("1").tobytes() == b.convert("1").tobytes()


async def joined(agent, hub: NatsServer, actor: str = "oled-text") -> None:
    """Wait until the hub routes requests for ``actor`` to this agent."""
    nc = await connect(hub.url, name="test-wait", credentials=hub.operator)
    try:
        await wait_for_actor(nc, subjects.DEFAULT_LATTICE, actor, timeout=15)
    finally:
        await nc.close()


async def test_display_from_the_laptop_reaches_the_panel(hub, start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)

    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "Hello from the laptop")
    assert code == 0, err
    assert out.startswith("shown:") and " ms)" in out

    panel = agent.bus.image()
    assert same_pixels(panel, agent.provider.snapshot_image()), "panel differs from the frame the provider rendered"
    left, top, right, bottom = lit_box(panel)
    assert abs(left - (128 - right)) <= 1, f"not centred horizontally: lit columns {left}..{right}"
    assert abs(top - (64 - bottom)) <= 1, f"not centred vertically: lit rows {top}..{bottom}"


async def test_long_text_wraps_inside_the_panel(hub, start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)
    text = "The quick brown fox jumps over the lazy dog while the Pi keeps the display busy"
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), text)
    assert code == 0, err
    lines = int(out.split(" line(s)")[0].rsplit(" ", 1)[-1])
    assert lines >= 2, out
    left, _, right, _ = lit_box(agent.bus.image())
    assert left >= 0 and right <= 128
    assert same_pixels(agent.bus.image(), agent.provider.snapshot_image())


async def test_text_from_standard_input(hub, start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "-", stdin=b"line one\nline two\n")
    assert code == 0 and out.startswith("shown: 17 chars, 2 line(s)"), (out, err)  # the last newline dropped
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "-", stdin=b"\xff\xfe not text")
    assert code == 1 and "message body is not UTF-8 text" in err, (out, err)


async def test_clear_leaves_every_pixel_off(hub, start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)
    assert (await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "something"))[0] == 0
    assert agent.bus.image().getbbox() is not None
    code, out, err = await run_cli("clear", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    assert out.startswith("cleared")
    assert agent.bus.image().convert("1").getbbox() is None


async def test_actor_not_running_is_one_clear_line(hub, start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--actor", "nobody", "hi")
    assert code != 0
    assert err.strip().splitlines() == [
        "pi-edge: error: no actor 'nobody' is running in the lattice (nobody serves pe.default.actor.nobody)"
    ]
    code, out, _ = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "still here")
    assert code == 0 and out.startswith("shown:")


async def test_unreachable_lattice_is_one_clear_line() -> None:
    code, out, err = await run_cli("display", "--nats-url", "nats://127.0.0.1:1", "--timeout", "1", "hi")
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "cannot reach the lattice at nats://127.0.0.1:1" in err


async def test_trap_and_deadline_errors_leave_the_agent_serving(start_agent, built) -> None:
    from pi_edge.agent.wasm.limits import Limits

    agent = await start_agent({"misbehave": built["misbehave"], "oled-text": built["oled-text"]},
                              limits=Limits(deadline_ms=300))
    nc = await connect(agent.url, name="test-client", credentials=agent.credentials)
    try:
        async def send(actor: str, body: bytes) -> bytes:
            reply = await request(nc, subjects.actor("default", actor), body, None, 10, what=f"actor {actor!r}")
            return reply.body

        from pi_edge.agent.errors import ActorReplyError

        # The exception the actor did not catch, named with the actor's own line (it used to be a bare trap).
        with pytest.raises(ActorReplyError, match="actor 'misbehave' raised RuntimeError: asked to trap at "
                                                  r"app.py:\d+ in handle$"):
            await send("misbehave", b"trap")
        assert await send("misbehave", b"after trap") == b"ok:after trap"

        with pytest.raises(ActorReplyError, match="300 ms deadline"):
            await send("misbehave", b"loop")
        assert await send("misbehave", b"after loop") == b"ok:after loop"

        with pytest.raises(ActorReplyError, match="asked to fail"):
            await send("misbehave", b"err")

        assert (await send("oled-text", b"healthy")).startswith(b"shown:")
        assert same_pixels(agent.bus.image(), agent.provider.snapshot_image())
    finally:
        await nc.close()


async def test_oversized_message_is_refused_with_its_size(start_agent, built) -> None:
    from pi_edge.agent.errors import ActorReplyError
    from pi_edge.agent.wasm.limits import Limits

    agent = await start_agent({"oled-text": built["oled-text"]}, limits=Limits(max_message_bytes=1024))
    nc = await connect(agent.url, name="test-client", credentials=agent.credentials)
    try:
        with pytest.raises(ActorReplyError, match=r"2000 bytes \(headers included\) is over the 1024-byte limit"):
            await request(nc, subjects.actor("default", "oled-text"), b"x" * 2000, None, 5, what="actor")
        ok = await request(nc, subjects.actor("default", "oled-text"), b"fits", None, 5, what="actor")
        assert ok.body.startswith(b"shown:")
    finally:
        await nc.close()


async def test_invalid_utf8_gets_the_actors_own_error(start_agent, built) -> None:
    from pi_edge.agent.errors import ActorReplyError

    agent = await start_agent({"oled-text": built["oled-text"]})
    nc = await connect(agent.url, name="test-client", credentials=agent.credentials)
    try:
        with pytest.raises(ActorReplyError, match="not UTF-8"):
            await request(nc, subjects.actor("default", "oled-text"), b"\xff\xfe", None, 5, what="actor")
    finally:
        await nc.close()


async def test_the_reply_names_characters_no_font_could_draw(start_agent, built, tmp_path) -> None:
    """ü and ß come from the configured fallback font; the snowman and a NUL no font has: the reply says so."""
    from tests.fonts import block_font

    blocks = block_font(tmp_path / "blocks.ttf", {"ü": (100, 0, 500, 500), "ß": (100, -200, 300, 300)})
    agent = await start_agent({"oled-text": built["oled-text"]}, fonts=(str(blocks),))
    nc = await connect(agent.url, name="test-client", credentials=agent.credentials)
    try:
        async def show(text: str) -> str:
            reply = await request(nc, subjects.actor("default", "oled-text"), text.encode(), None, 10, what="actor")
            return reply.body.decode()

        out = await show("Grüße")
        assert out.startswith("shown: 5 chars") and "no font" not in out, out
        out = await show("Grüße ☃\x00 ☃")
        assert out.startswith("shown: 10 chars") and ", no font here has ☃ U+0000 (drawn as boxes);" in out, out
        assert same_pixels(agent.bus.image(), agent.provider.snapshot_image())
    finally:
        await nc.close()


async def test_alignment_size_and_wrapping_from_the_laptop(hub, start_agent, built) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--align", "left", "--size", "12", "Left")
    assert code == 0 and out.startswith("shown: 4 chars, 1 line(s), 12px;"), (out, err)
    left, _, right, _ = lit_box(agent.bus.image())
    assert left <= 1 and right < 64, f"not left-aligned at 12 px: lit columns {left}..{right}"
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--align", "right", "Right")
    assert code == 0, err
    _, _, right, _ = lit_box(agent.bus.image())
    assert right >= 127, f"not right-aligned: lit up to column {right}"
    long = "one two three four five six seven eight nine ten"
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--no-wrap", "--size", "16", long)
    assert code == 0 and "1 line(s), 16px (cut to fit)" in out, (out, err)
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--size", "200", "Huge")
    assert code == 1 and "font size 200 is outside 4..128" in err, (out, err)
    code, out, err = await run_cli("display", "--nats-url", hub.url, "--creds", str(hub.operator_path), "--size", "0", "None")
    assert code == 2 and "size '0' is not a font size in pixels" in err, (out, err)


@pytest.mark.parametrize(("headers", "refusal"), [
    ({"align": "middle"}, "align 'middle' is not one of left, center, right"),
    ({"wrap": "maybe"}, "wrap 'maybe' is not yes or no"),
    ({"font-size": "12px"}, "font-size '12px' is not a size in pixels"),
    ({"font-size": "99999999999"}, "font-size '99999999999' is not a size in pixels"),
])
async def test_a_wrong_text_header_is_refused_with_its_name(start_agent, built, headers, refusal) -> None:
    """Any NATS client may set the headers: the actor names a wrong one and serves on."""
    from pi_edge.agent.errors import ActorReplyError

    agent = await start_agent({"oled-text": built["oled-text"]})
    nc = await connect(agent.url, name="test-client", credentials=agent.credentials)
    try:
        with pytest.raises(ActorReplyError, match=refusal):
            await request(nc, subjects.actor("default", "oled-text"), b"text", headers, 10, what="actor")
        ok = await request(nc, subjects.actor("default", "oled-text"), b"fine", {"ALIGN": "Left"}, 10, what="actor")
        assert ok.body.startswith(b"shown:")
    finally:
        await nc.close()


async def test_text_from_standard_input_larger_than_the_server_takes(hub, start_agent, built) -> None:
    """Standard input has no length limit, unlike an argument: a text over the server's max_payload is
    an error line, not a traceback."""
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)
    for argv in (["display", "-"], ["display", "--all", "-"]):
        code, out, err = await run_cli(*argv, "--nats-url", hub.url, "--creds", str(hub.operator_path), stdin=b"x" * (2 << 20))
        assert code == 1 and "Traceback" not in err, (out, err)
        assert f"the message is {2 << 20} bytes, more than the" in err, err
