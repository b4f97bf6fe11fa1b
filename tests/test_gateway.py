"""The HTTP gateway (``pi-edge hub --http``) over real sockets, a real hub and the real actor.

Ordinary requests go through ``http.client`` (an HTTP implementation that is not
ours); the protocol corners (100-continue, pipelining, malformed heads, a body
that is never sent) are written byte by byte on asyncio streams.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from pi_edge.agent.errors import ConfigError
from pi_edge.agent.hub.gateway import HttpGateway
from pi_edge.agent.hub.hub import Hub
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.replies import DEADLINE_HEADER, error_headers
from tests.conftest import stand_in_host
from tests.processes import CliProcess, alive, children, run_cli
from tests.test_e2e import joined, same_pixels

LIMIT = 64 * 1024


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str


def _call(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode())
    finally:
        conn.close()


async def call(gw: HttpGateway, method: str, path: str, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> Reply:
    """One request on its own connection, by the standard library's client (in a thread)."""
    return await asyncio.to_thread(_call, gw.port, method, path, body, headers or {})


async def healthy(gw: HttpGateway) -> None:
    r = await call(gw, "GET", "/healthz")
    assert (r.status, r.text) == (200, "ok\n"), r


async def open_raw(gw: HttpGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", gw.port)


async def read_response(reader: asyncio.StreamReader) -> Reply:
    async def read() -> Reply:
        status_line = (await reader.readuntil(b"\r\n")).decode()
        assert status_line.startswith("HTTP/1.1 "), status_line
        headers: dict[str, str] = {}
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(int(status_line.split()[1]), headers, body.decode())

    return await asyncio.wait_for(read(), 15)


async def at_eof(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 15) == b""


async def raw(gw: HttpGateway, data: bytes) -> tuple[Reply, bool]:
    """Write ``data`` on a fresh connection: the first response, and whether the gateway then closed."""
    reader, writer = await open_raw(gw)
    try:
        writer.write(data)
        await writer.drain()
        reply = await read_response(reader)
        return reply, await at_eof(reader)
    finally:
        writer.close()


GatewayFactory = Callable[..., Awaitable[HttpGateway]]


@pytest.fixture
async def start_gateway(hub: NatsServer) -> AsyncIterator[GatewayFactory]:
    """Factory: a gateway on a free loopback port, connected to the hub; always stopped."""
    started: list[HttpGateway] = []

    async def start(**options: object) -> HttpGateway:
        gw = HttpGateway(hub.url, listen="127.0.0.1", port=0, credentials=hub.gateway_creds, **options)  # type: ignore[arg-type]
        started.append(gw)
        await gw.start()
        return gw

    yield start
    for gw in started:
        await gw.stop()


@pytest.fixture
async def gateway(start_gateway: GatewayFactory) -> HttpGateway:
    return await start_gateway()


def options(msg: Msg) -> dict[str, str]:
    """The headers a request was sent with, besides the deadline every request carries (checked here too)."""
    headers = dict(msg.headers or {})
    assert float(headers.pop(DEADLINE_HEADER)) > 0
    return headers


@pytest.fixture
async def echo(hub: Hub, tmp_path) -> AsyncIterator[list[Msg]]:
    """Stand-in actors on host pi-x: ``echo`` answers, ``failing`` answers with a two-line error, ``silent`` never."""
    async with stand_in_host(hub, "pi-x", tmp_path / "pi-x") as nc:
        async for seen in echo_actors(hub, nc):
            yield seen


async def echo_actors(hub: Hub, nc: Client) -> AsyncIterator[list[Msg]]:
    seen: list[Msg] = []

    async def on_echo(msg: Msg) -> None:
        seen.append(msg)
        op = (msg.headers or {}).get("op")
        await msg.respond(b"echo:" + msg.data + (f" op={op}".encode() if op else b""))

    async def on_failing(msg: Msg) -> None:
        await nc.publish(msg.reply, b"first line\nsecond line", headers=error_headers("first line"))

    async def on_silent(msg: Msg) -> None:
        pass

    async def on_busy(msg: Msg) -> None:
        text = "actor 'busy' is busy: 64 messages are already waiting; try again"
        await nc.publish(msg.reply, text.encode(), headers=error_headers(text, retry_after=1))

    async def on_echo_on_pi_x(msg: Msg) -> None:
        await msg.respond(b"pi-x:" + msg.data)

    await nc.subscribe(subjects.actor("default", "echo"), cb=on_echo)
    await nc.subscribe(subjects.actor_on("default", "pi-x", "echo"), cb=on_echo_on_pi_x)
    await nc.subscribe(subjects.actor("default", "failing"), cb=on_failing)
    await nc.subscribe(subjects.actor("default", "silent"), cb=on_silent)
    await nc.subscribe(subjects.actor("default", "busy"), cb=on_busy)
    await subscriptions_live(nc)
    laptop = await connect(hub.url, name="test-laptop", credentials=hub.operator)
    try:
        async def routed() -> None:  # interest crosses the leaf link on its own schedule
            for subject in (subjects.actor("default", "silent"), subjects.actor_on("default", "pi-x", "echo")):
                while True:
                    try:
                        await laptop.request(subject, b"ready", timeout=0.2)
                    except nats.errors.NoRespondersError:
                        continue
                    except nats.errors.TimeoutError:
                        pass  # delivered: silent never answers
                    break

        await asyncio.wait_for(routed(), 20)
    finally:
        await laptop.close()
    seen.clear()
    yield seen


# -- the real actor behind the gateway ----------------------------------------------------------


async def test_post_shows_text_and_delete_clears_the_panel(hub, start_agent, built, gateway) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)

    r = await call(gateway, "POST", "/", b"Hello over HTTP")
    assert r.status == 200, r
    assert r.text.startswith("shown: 15 chars") and r.text.endswith("\n")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert float(r.headers["pi-edge-round-trip-ms"]) > 0
    panel = agent.bus.image()
    assert panel.convert("1").getbbox() is not None, "the panel is blank"
    assert same_pixels(panel, agent.provider.snapshot_image())

    r = await call(gateway, "DELETE", "/")
    assert r.status == 200 and r.text.startswith("cleared"), r
    assert agent.bus.image().convert("1").getbbox() is None, "pixels left on after DELETE"

    r = await call(gateway, "POST", "/actors/oled-text", "Grüße".encode())
    assert r.status == 200 and r.text.startswith("shown: 5 chars"), r
    assert agent.bus.image().convert("1").getbbox() is not None
    assert same_pixels(agent.bus.image(), agent.provider.snapshot_image())
    r = await call(gateway, "DELETE", "/actors/oled-text")
    assert r.status == 200 and r.text.startswith("cleared"), r
    assert agent.bus.image().convert("1").getbbox() is None


async def test_actor_errors_are_502_with_the_actors_message(hub, start_agent, built, gateway) -> None:
    agent = await start_agent({"oled-text": built["oled-text"]}, hub=hub)
    await joined(agent, hub)

    r = await call(gateway, "POST", "/", b"\xff\xfe")
    assert r.status == 502 and "not UTF-8" in r.text and r.text.count("\n") == 1, r
    r = await call(gateway, "POST", "/", b"fine")
    assert r.status == 200 and r.text.startswith("shown:"), r

    agent.bus.disconnect()
    r = await call(gateway, "POST", "/", b"While away")
    assert r.status == 502 and "0x3C" in r.text, r
    agent.bus.reconnect()
    assert await asyncio.to_thread(agent.provider.wait_healthy, 10)
    r = await call(gateway, "POST", "/", b"Back")
    assert r.status == 200 and r.text.startswith("shown:"), r
    assert same_pixels(agent.bus.image(), agent.provider.snapshot_image())


# -- lattice failures ---------------------------------------------------------------------------


async def test_no_actor_is_503_and_the_gateway_keeps_serving(gateway) -> None:
    for method, path, name in (("POST", "/", "oled-text"), ("DELETE", "/", "oled-text"),
                               ("POST", "/actors/nobody", "nobody")):
        r = await call(gateway, method, path, b"hi" if method == "POST" else None)
        assert r.status == 503, r
        assert r.text == f"no actor {name!r} is running in the lattice (nobody serves pe.default.actor.{name})\n"
        await healthy(gateway)


async def test_timeout_is_504_and_multi_line_errors_become_one_line(start_gateway, echo) -> None:
    gw = await start_gateway(timeout=0.5)
    r = await call(gw, "POST", "/actors/silent", b"anyone?")
    assert (r.status, r.text) == (504, "actor 'silent' did not answer within 0.5 s\n"), r
    r = await call(gw, "POST", "/actors/failing", b"x")
    assert (r.status, r.text) == (502, "actor 'failing' answered with an error: first line second line\n"), r
    await healthy(gw)


async def test_delete_sends_op_clear_with_an_empty_body(gateway, echo) -> None:
    r = await call(gateway, "DELETE", "/actors/echo")
    assert (r.status, r.text) == (200, "echo: op=clear\n"), r
    assert echo[-1].data == b"" and options(echo[-1]) == {"op": "clear"}
    r = await call(gateway, "POST", "/actors/echo", b"plain")
    assert (r.status, r.text) == (200, "echo:plain\n"), r
    assert options(echo[-1]) == {}


async def test_lost_hub_is_503_on_healthz_and_requests(hub, gateway) -> None:
    await healthy(gateway)
    await hub.stop()
    deadline = asyncio.get_running_loop().time() + 10
    while (r := await call(gateway, "GET", "/healthz")).status == 200:
        assert asyncio.get_running_loop().time() < deadline, "healthz still 200 with the hub gone"
        await asyncio.sleep(0.05)  # poll interval while the client notices the hub is gone
    assert r.status == 503 and r.text.startswith("not connected to the lattice at nats://"), r
    r = await call(gateway, "POST", "/", b"hi")
    assert r.status == 503 and "not connected to the lattice" in r.text and "hub running" in r.text, r
    assert (await call(gateway, "GET", "/")).status == 200


# -- HTTP-level refusals ------------------------------------------------------------------------


async def test_body_over_the_limit_is_413_without_waiting_for_it(gateway, echo) -> None:
    r = await call(gateway, "POST", "/", b"x" * (LIMIT + 1))
    assert r.status == 413 and r.headers["connection"] == "close", r
    assert r.text == f"body of {LIMIT + 1} bytes is over the {LIMIT}-byte limit\n"
    await healthy(gateway)

    # Only the head is sent: the answer must come without the body.
    head = f"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {LIMIT + 1}\r\n\r\n".encode()
    r, closed = await raw(gateway, head)
    assert r.status == 413 and closed, r
    # With 100-continue the client waits for us; we refuse instead of inviting the body.
    r, closed = await raw(gateway, head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
    assert r.status == 413 and closed, r
    r, closed = await raw(gateway, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n")
    assert r.status == 413 and closed, r
    await healthy(gateway)

    r = await call(gateway, "POST", "/actors/echo", b"y" * LIMIT)  # exactly the limit passes
    assert r.status == 200 and r.text == "echo:" + "y" * LIMIT + "\n"


async def test_wrong_method_path_or_actor_name(gateway) -> None:
    cases = [
        ("PUT", "/", 405, "GET, HEAD, POST, DELETE"),
        ("PATCH", "/", 405, "GET, HEAD, POST, DELETE"),
        ("GET", "/actors/oled-text", 405, "POST, DELETE"),
        ("POST", "/healthz", 405, "GET, HEAD"),
        ("GET", "/nope", 404, None),
        ("POST", "/actors", 404, None),
        ("POST", "/actors/bad.name", 400, None),
        ("POST", "/actors/a%2Eb", 400, None),
        ("POST", "/actors/a/b", 400, None),
        ("DELETE", "/actors/", 400, None),
    ]
    for method, path, status, allow in cases:
        r = await call(gateway, method, path, b"x" if method in ("POST", "PUT", "PATCH") else None)
        assert r.status == status, (method, path, r)
        assert r.headers.get("allow") == allow, (method, path, r)
        assert r.text.endswith("\n") and r.text.count("\n") == 1, r
        await healthy(gateway)
    r = await call(gateway, "POST", "/actors/bad.name", b"x")
    assert r.text == "actor name 'bad.name' is not allowed: use letters, digits, '-' and '_' only\n"


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"GET / FTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET nowhere HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 411),
    (b"POST / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\nContent-Length: 2\r\n\r\nhi", 417),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Many: 1\r\n" * 150 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t", 400),  # the client stops half-way
]


@pytest.mark.parametrize(("data", "status"), MALFORMED, ids=[f"{s}-{i}" for i, (_, s) in enumerate(MALFORMED)])
async def test_malformed_http_is_refused_and_the_connection_closed(gateway, data: bytes, status: int) -> None:
    reader, writer = await open_raw(gateway)
    try:
        writer.write(data)
        if data.endswith(b"Host: t"):
            writer.write_eof()
        await writer.drain()
        r = await read_response(reader)
        assert r.status == status, r
        assert r.headers["connection"] == "close"
        assert r.text.endswith("\n") and r.text.count("\n") == 1, r
        assert await at_eof(reader)
    finally:
        writer.close()
    await healthy(gateway)


# -- the connection -----------------------------------------------------------------------------


async def test_expect_100_continue_is_answered_before_the_body(gateway, echo) -> None:
    reader, writer = await open_raw(gateway)
    try:
        writer.write(b"POST /actors/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"Hello")
        r = await read_response(reader)
        assert (r.status, r.text) == (200, "echo:Hello\n"), r
        assert "connection" not in r.headers  # still open for the next request
    finally:
        writer.close()


async def test_keep_alive_pipelining_and_connection_close(gateway, echo) -> None:
    reader, writer = await open_raw(gateway)
    try:
        writer.write(b"POST /actors/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
                     b"\r\n"  # a stray blank line between requests is tolerated
                     b"POST /actors/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo"
                     b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        assert (await read_response(reader)).text == "echo:one\n"
        assert (await read_response(reader)).text == "echo:two\n"
        head_status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        assert head_status.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: " in head_status
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = await read_response(reader)
        assert (r.status, r.text, r.headers["connection"]) == (200, "ok\n", "close")
        assert await at_eof(reader)
    finally:
        writer.close()

    r, closed = await raw(gateway, b"GET /healthz HTTP/1.0\r\n\r\n")  # 1.0: closes unless asked not to
    assert r.status == 200 and r.headers["connection"] == "close" and closed
    reader, writer = await open_raw(gateway)
    try:
        writer.write(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
        for _ in range(2):
            r = await read_response(reader)
            assert r.status == 200 and r.headers["connection"] == "keep-alive"
    finally:
        writer.close()


async def test_usage_health_and_one_log_line_per_request(gateway, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pi_edge.gateway")
    r = await call(gateway, "GET", "/")
    assert r.status == 200 and "curl -d 'Hello' http://127.0.0.1:" in r.text and "/actors/NAME" in r.text
    await healthy(gateway)
    await call(gateway, "POST", "/actors/nobody", b"hi")
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "pi_edge.gateway"]
    assert any(re.fullmatch(r"GET / 200 \d+\.\dms 127\.0\.0\.1:\d+", line) for line in lines), lines
    assert any(re.fullmatch(r"GET /healthz 200 \d+\.\dms 127\.0\.0\.1:\d+", line) for line in lines), lines
    assert any(re.fullmatch(r"POST /actors/nobody 503 \d+\.\dms 127\.0\.0\.1:\d+: no actor 'nobody' .*", line)
               for line in lines), lines


async def test_stop_ends_idle_connections_and_the_listener(gateway) -> None:
    reader, writer = await open_raw(gateway)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (await read_response(reader)).status == 200
        await asyncio.wait_for(gateway.stop(), 10)  # an idle keep-alive connection must not hold it up
        assert await at_eof(reader)
    finally:
        writer.close()
    with pytest.raises(OSError):
        await open_raw(gateway)
    await gateway.stop()  # twice is fine


async def test_busy_port_is_a_config_error(hub, gateway, start_gateway) -> None:
    gw = HttpGateway(gateway.nc_url, port=gateway.port, credentials=hub.gateway_creds)
    try:
        with pytest.raises(ConfigError, match=rf"cannot serve HTTP on 127\.0\.0\.1:{gateway.port}: "):
            await gw.start()
    finally:
        await gw.stop()
    with pytest.raises(ConfigError, match="outside 0..65535"):
        HttpGateway(gateway.nc_url, port=70000)
    await healthy(gateway)


# -- the command --------------------------------------------------------------------------------


async def test_hub_command_serves_http_and_stops_on_sigterm() -> None:
    hub = await CliProcess.start("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port", "0", "--http", "0")
    try:
        m = await hub.wait_line(r"HTTP gateway: (http://127\.0\.0\.1:(\d+)/)")
        port = int(m[2])
        r = await asyncio.to_thread(_call, port, "GET", "/healthz", None, {})
        assert (r.status, r.text) == (200, "ok\n"), r
        await hub.wait_line(r"pi_edge\.gateway: GET /healthz 200 ", stream="stderr")
        servers = children(hub.proc.pid)
        assert await hub.stop(signal.SIGTERM) == 0, hub.transcript()
        await hub.wait_line(r"^pi-edge hub: stopped$")
        assert not [pid for pid in servers if alive(pid)], "the hub left its nats-server running"
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
    finally:
        await hub.kill()


async def test_hub_command_with_a_busy_http_port_is_one_line_and_no_leftovers() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = await run_cli("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port", "0",
                                       "--http", str(port))
    assert code == 2, (out, err)
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert errors == [f"pi-edge: error: cannot serve HTTP on 127.0.0.1:{port}: Address already in use; "
                      "pick another --http port or --http-listen"], err
    nats_port = re.search(r"clients nats://127\.0\.0\.1:(\d+)", err)
    assert nats_port, err
    with pytest.raises(OSError):  # the hub's nats-server was stopped, not orphaned
        await asyncio.open_connection("127.0.0.1", int(nats_port[1]))


async def test_query_parameters_become_the_actors_text_headers(gateway, echo) -> None:
    r = await call(gateway, "POST", "/actors/echo?align=Right&size=16&wrap=no", b"set")
    assert (r.status, r.text) == (200, "echo:set\n"), r
    assert options(echo[-1]) == {"align": "right", "font-size": "16", "wrap": "no"}
    for query, refusal in [("colour=red", "unknown parameter 'colour'; the parameters are align, size, wrap and host"),
                           ("host=a.b", "host name 'a.b' is not allowed"),
                           ("size=big", "size 'big' is not a font size in pixels"),
                           ("align=middle", "align 'middle' is not one of left, center, right"),
                           ("wrap=maybe", "wrap 'maybe' is not yes or no"),
                           ("size=8&size=9", "parameter 'size' is given 2 times")]:
        sent = len(echo)
        r = await call(gateway, "POST", f"/actors/echo?{query}", b"x")
        assert r.status == 400 and r.text.startswith(refusal), (query, r)
        assert len(echo) == sent, f"{query}: a refused request must not reach the actor"


async def test_host_parameter_reaches_that_host_only(gateway, echo) -> None:
    r = await call(gateway, "POST", "/actors/echo?host=pi-x", b"hi")
    assert (r.status, r.text) == (200, "pi-x:hi\n"), r
    r = await call(gateway, "POST", "/actors/echo", b"hi")
    assert (r.status, r.text) == (200, "echo:hi\n"), r
    r = await call(gateway, "DELETE", "/actors/echo?host=nowhere")
    assert r.status == 503 and "no actor 'echo' on host 'nowhere' is running" in r.text, r


async def test_a_busy_actor_is_503_with_retry_after_not_502(gateway, echo) -> None:
    """"Try again" is not the actor's own error: a client should come back in a moment."""
    r = await call(gateway, "POST", "/actors/busy", b"x")
    assert (r.status, r.headers.get("retry-after")) == (503, "1"), r
    assert "is busy" in r.text


async def test_connections_past_the_cap_are_answered_503_and_said_once(start_gateway, echo,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """1,100 idle connections at a 1,024-fd limit: the gateway stopped answering and logged 49k tracebacks."""
    caplog.set_level(logging.WARNING, logger="pi_edge.gateway")
    gw = await start_gateway(max_connections=4)
    idle = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(4)]
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            answer = await asyncio.wait_for(reader.read(), 10)  # answered and closed at once
            writer.close()
            assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in answer, answer
        refusals = [r.getMessage() for r in caplog.records if "turning new ones away" in r.getMessage()]
        assert len(refusals) == 1, refusals
    finally:
        for reader, writer in idle:  # half-closed: the gateway's own close (EOF here) says it let go
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
    r = await call(gw, "POST", "/actors/echo", b"after")  # served again once connections close
    assert (r.status, r.text) == (200, "echo:after\n"), r
    assert any("3 were turned away with 503 meanwhile" in r.getMessage() for r in caplog.records)


def test_accept_errors_are_said_once_in_a_while_not_once_each(caplog: pytest.LogCaptureFixture) -> None:
    from pi_edge.agent.hub.hub import AcceptErrors

    handler, loop = AcceptErrors(), asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="pi_edge.hub"):
            for _ in range(1000):
                handler.handle(loop, {"message": "socket.accept() out of system resource",
                                      "exception": OSError(24, "Too many open files")})
        lines = [r.getMessage() for r in caplog.records if "cannot accept connections" in r.getMessage()]
        assert len(lines) == 1 and "Too many open files" in lines[0], lines
    finally:
        loop.close()
