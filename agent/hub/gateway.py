"""HTTP/1.1 gateway on the hub: ``curl -d 'Hello' http://laptop:8080/`` reaches the display actor.

Plain asyncio and a small, strict HTTP/1.1 parser, so the hub needs no web
framework.  Each request becomes one NATS request through one long-lived client
connected to the hub; the lattice's failures become status codes with a
one-line plain-text body a person can act on:

====  =============================================================
200   the actor's reply (header ``Pi-Edge-Round-Trip-Ms``)
400   malformed HTTP (connection closed), or a bad actor name
404   unknown path
405   method not allowed (``Allow`` lists the ones that are)
408   the request did not arrive in time (connection closed)
411   ``Transfer-Encoding`` (chunked) bodies; send ``Content-Length``
413   body over the limit, answered without waiting for the body
417   an ``Expect`` other than ``100-continue``
431   request head too large;  414 request line too long
502   the actor answered with an error (its message is the body)
503   no actor serves the subject, or the hub link is down
504   the actor did not answer in time
505   not HTTP/1.x
====  =============================================================

Every request logs one line on ``pi_edge.gateway``:
``METHOD PATH STATUS 12.3ms PEER[: reason]``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

import nats.errors
from nats.aio.client import Client

from pi_edge.agent import __version__
from pi_edge.agent.display.text_headers import QUERY_PARAMETERS, headers_from_query
from pi_edge.agent.errors import (
    ActorReplyError,
    ConfigError,
    LatticeUnreachableError,
    NoResponderError,
    RequestTimeoutError,
)
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.wasm.limits import Limits

log = logging.getLogger("pi_edge.gateway")

DEFAULT_ACTOR = "oled-text"
ROUND_TRIP_HEADER = "Pi-Edge-Round-Trip-Ms"

MAX_LINE = 8 * 1024  # request line or one header line
MAX_HEAD = 32 * 1024  # all header lines together
MAX_HEADERS = 100
LINGER_SECONDS = 2.0  # how long a closing connection's unread body is drained ...
LINGER_BYTES = 1024 * 1024  # ... and how much of it, so the client sees our answer, not a reset

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs except HTAB
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_DIGITS = re.compile(r"[0-9]+")
_HOST = re.compile(r"[A-Za-z0-9.\-:\[\]]+")

ROOT_METHODS = ("GET", "HEAD", "POST", "DELETE")
HEALTH_METHODS = ("GET", "HEAD")
ACTOR_METHODS = ("POST", "DELETE")


class HttpError(Exception):
    """A request the gateway answers with ``status`` and a one-line reason."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


@dataclass
class Request:
    """A parsed request head; the body is read only once the request is known to be wanted."""

    method: str
    target: str
    minor: int  # HTTP/1.<minor>
    headers: list[tuple[str, str]]  # (lower-case name, value)
    path: str = ""
    length: int = 0
    keep_alive: bool = True
    expect_continue: bool = False
    body_read: bool = False

    def get(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


@dataclass
class Response:
    status: int
    text: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


def _one_line(text: str, limit: int = 1000) -> str:
    """Bodies of error answers are one line: the actor's text may hold newlines."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class HttpGateway:
    """An HTTP/1.1 server whose requests become NATS requests to actors in one lattice.

    ``nc_url`` is the hub's client URL; ``port`` 0 picks a free port (``start``
    returns the bound one); ``timeout`` bounds each actor round trip.
    """

    def __init__(self, nc_url: str, lattice: str = subjects.DEFAULT_LATTICE, host: str = "127.0.0.1",
                 port: int = 8080, timeout: float = 5.0, *, actor: str = DEFAULT_ACTOR,
                 max_body: int | None = None, idle_timeout: float = 30.0, read_timeout: float = 10.0) -> None:
        try:
            subjects.check_token("lattice", lattice)
            subjects.check_token("actor", actor)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"HTTP port {port} is outside 0..65535")
        if timeout <= 0:
            raise ConfigError(f"HTTP gateway timeout {timeout:g} s must be positive")
        self.nc_url = nc_url
        self.lattice = lattice
        self.host = host
        self.port = port
        self.timeout = timeout
        self.actor = actor
        self.max_body = Limits().max_message_bytes if max_body is None else max_body
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self._nc: Client | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Where to point curl: a wildcard listen address is shown as loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def start(self) -> int:
        """Connect to the hub, then listen; returns the bound port.  Raises with a sentence on failure."""
        # reconnect=True: the gateway outlives hub hiccups; /healthz says 503 meanwhile.
        self._nc = await connect(self.nc_url, name="pi-edge-gateway", timeout=3.0, reconnect=True)
        try:
            self._server = await asyncio.start_server(self._serve_connection, self.host or None, self.port,
                                                      limit=MAX_LINE)
        except OSError as exc:
            await self.stop()
            if isinstance(exc, socket.gaierror):  # a host name that does not resolve
                reason = f"{exc.strerror} (--http-host must be an address or a name of this machine)"
            else:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio's own strerror is wordy
            raise ConfigError(f"cannot serve HTTP on {self.host}:{self.port}: {reason}; "
                              "pick another --http port or --http-host") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("gateway: serving %s for lattice %r via %s", self.url, self.lattice, self.nc_url)
        return self.port

    async def stop(self) -> None:
        """Stop listening, end open connections (idle keep-alives too), close NATS; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await nc.close()
            except Exception as exc:
                log.debug("gateway: closing the NATS connection failed: %s", exc)

    # -- connections ---------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        try:
            while await self._exchange(reader, writer, peer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("gateway: %s went away: %s", peer, exc)
        except asyncio.CancelledError:
            pass  # stop(): the connection just closes
        except Exception:
            log.exception("gateway: connection from %s failed", peer)
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> bool:
        """Read one request and answer it; False when the connection is to end."""
        started = time.perf_counter()
        req: Request | None = None
        try:
            try:
                line = await asyncio.wait_for(self._request_line(reader), self.idle_timeout)
            except TimeoutError:
                return False  # an idle keep-alive connection
            if line is None:
                return False  # closed between requests
            started = time.perf_counter()
            try:
                req = await asyncio.wait_for(self._read_head(reader, line), self.read_timeout)
            except TimeoutError:
                raise HttpError(408, f"the request head did not arrive within {self.read_timeout:g} s") from None
            self._check_head(req)
            response = await self._respond(req, reader, writer)
        except HttpError as exc:
            response = Response(exc.status, exc.message, exc.headers, close=True)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("%s %s - %.1fms %s: client went away mid-request", req.method if req else "-",
                     req.target if req else "-", (time.perf_counter() - started) * 1000, peer)
            return False
        except Exception as exc:  # a bug: answer, log it, keep serving
            log.exception("gateway: request from %s failed", peer)
            response = Response(500, f"internal error in the gateway: {_one_line(str(exc)) or type(exc).__name__}",
                                close=True)

        # An answer given before the body was read leaves that body in the stream: close.
        close = response.close or req is None or not req.keep_alive or (req.length > 0 and not req.body_read)
        await self._write(writer, response, req, close)
        ms = (time.perf_counter() - started) * 1000
        reason = f": {response.text}" if response.status >= 400 else ""
        log.info("%s %s %d %.1fms %s%s", req.method if req else "-", req.target if req else "-",
                 response.status, ms, peer, reason)
        if close:
            await self._linger(reader, writer)
        return not close

    async def _request_line(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next request line, skipping the blank lines a client may send between requests."""
        for _ in range(8):
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                return exc.partial or None  # a partial line is answered with 400
            except asyncio.LimitOverrunError:
                raise HttpError(414, f"request line longer than {MAX_LINE} bytes") from None
            if line.strip(b"\r\n"):
                return line
        return b""

    async def _read_head(self, reader: asyncio.StreamReader, line: bytes) -> Request:
        """Parse the request line and headers strictly (RFC 9112), leaving the body unread."""
        if not line.endswith(b"\n"):
            raise HttpError(400, "malformed request: the request line ended early")
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1] or _BAD_TARGET.search(parts[1]):
            raise HttpError(400, "malformed request line; expected e.g. 'POST / HTTP/1.1'")
        version = _VERSION.fullmatch(parts[2])
        if version is None:
            raise HttpError(400, "malformed request line: the version is not HTTP/1.x")
        if version[1] != b"1":
            raise HttpError(505, f"{parts[2].decode('latin-1')} is not supported; speak HTTP/1.1")
        method, target = parts[0].decode("ascii"), parts[1].decode("latin-1")
        minor = min(int(version[2]), 1)

        headers: list[tuple[str, str]] = []
        size = len(line)
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                raise HttpError(431, f"a header line is longer than {MAX_LINE} bytes") from None
            except asyncio.IncompleteReadError:
                raise HttpError(400, "malformed request: the headers ended early (no blank line)") from None
            size += len(raw)
            if size > MAX_HEAD or len(headers) >= MAX_HEADERS:
                raise HttpError(431, f"request head over {MAX_HEAD} bytes or {MAX_HEADERS} headers")
            raw = raw.rstrip(b"\r\n")
            if not raw:
                break
            if raw[:1] in (b" ", b"\t"):
                raise HttpError(400, "malformed header: folded (continuation) lines are not accepted")
            name, colon, value = raw.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise HttpError(400, f"malformed header line {raw[:60].decode('latin-1')!r}")
            value = value.strip(b" \t")
            if _BAD_VALUE.search(value):
                raise HttpError(400, f"header {name.decode('ascii')!r} holds control characters")
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))

        return Request(method, target, minor, headers)

    def _check_head(self, req: Request) -> None:
        """Framing and the headers that change it; fills in path, length, keep-alive, expect."""
        req.path = self._path(req.target)
        minor = req.minor
        hosts = req.get("host")
        if (minor == 1 and len(hosts) != 1) or len(hosts) > 1:
            raise HttpError(400, "an HTTP/1.1 request needs exactly one Host header")
        if req.get("transfer-encoding"):
            raise HttpError(411, "Transfer-Encoding (chunked) request bodies are not supported; "
                                 "send the body with a Content-Length")
        lengths = sorted({v.strip() for value in req.get("content-length") for v in value.split(",")})
        if lengths:
            if len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0]):
                raise HttpError(400, f"bad Content-Length {', '.join(lengths)[:60]!r}")
            # Past 18 digits it is over any limit; int() of thousands of digits would raise.
            req.length = int(lengths[0]) if len(lengths[0]) <= 18 else 10**18
        tokens = {t.strip().lower() for value in req.get("connection") for t in value.split(",")}
        req.keep_alive = "close" not in tokens and (minor == 1 or "keep-alive" in tokens)
        expect = [v.strip().lower() for v in req.get("expect")]
        if expect and minor == 1:
            if expect != ["100-continue"]:
                raise HttpError(417, f"Expect {', '.join(expect)!r} is not supported (only 100-continue)")
            req.expect_continue = True

    @staticmethod
    def _path(target: str) -> str:
        """The decoded path of an origin-form (``/x?y``) or absolute-form (``http://h/x``) target."""
        if target.startswith("/"):
            path = target.split("?", 1)[0]
        elif target.lower().startswith(("http://", "https://")):
            path = urlsplit(target).path or "/"
        elif target == "*":
            return "*"
        else:
            raise HttpError(400, f"request target {target[:60]!r} is not a path like /actors/NAME")
        return unquote(path, errors="replace")

    async def _read_body(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request) -> bytes:
        if req.expect_continue and req.length > 0:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        try:
            body = await asyncio.wait_for(reader.readexactly(req.length), self.read_timeout)
        except TimeoutError:
            raise HttpError(408, f"the {req.length}-byte body did not arrive within {self.read_timeout:g} s") from None
        except asyncio.IncompleteReadError as exc:
            raise HttpError(400, f"the body ended after {len(exc.partial)} of {req.length} bytes") from None
        req.body_read = True
        return body

    async def _write(self, writer: asyncio.StreamWriter, response: Response, req: Request | None,
                     close: bool) -> None:
        status = HTTPStatus(response.status)
        body = (response.text if response.text.endswith("\n") else response.text + "\n").encode("utf-8")
        head = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Date: {formatdate(usegmt=True)}",
            f"Server: pi-edge/{__version__}",
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in response.headers),
        ]
        if close:
            head.append("Connection: close")
        elif req is not None and req.minor == 0:
            head.append("Connection: keep-alive")
        if req is not None and req.method == "HEAD":
            body = b""
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then discard what the client still sends (bounded) before closing.

        Closing a socket with unread data makes the kernel send a reset, which
        can destroy the answer (a 413, say) before the client reads it.
        """
        try:
            if writer.can_write_eof():
                writer.write_eof()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_BYTES and (left := deadline - loop.time()) > 0:
                chunk = await asyncio.wait_for(reader.read(64 * 1024), left)
                if not chunk:
                    break
                drained += len(chunk)
        except (TimeoutError, ConnectionError, OSError):
            pass

    # -- routes --------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[tuple[str, ...], str | None]:
        """(allowed methods, actor name or None) for a path; 404 or 400 otherwise."""
        if path == "/":
            return ROOT_METHODS, self.actor
        if path == "/healthz":
            return HEALTH_METHODS, None
        if path.startswith("/actors/"):
            name = path[len("/actors/"):]
            try:
                return ACTOR_METHODS, subjects.check_token("actor", name)
            except ValueError as exc:
                raise HttpError(400, str(exc)) from None
        raise HttpError(404, f"no such path {path[:100]!r}; try GET / for usage")

    async def _respond(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Response:
        try:
            allowed, actor = self._route(req.path)
        except HttpError as exc:
            return Response(exc.status, exc.message)
        if req.method not in allowed:
            return Response(405, f"{req.method} is not allowed on {req.path}; use {', '.join(allowed)}",
                            [("Allow", ", ".join(allowed))])
        if req.length > self.max_body:
            return Response(413, f"body of {req.length} bytes is over the {self.max_body}-byte limit", close=True)
        body = await self._read_body(reader, writer, req)

        if req.path == "/healthz":
            if self.connected:
                return Response(200, "ok")
            return Response(503, f"not connected to the lattice at {self.nc_url}")
        if req.method in ("GET", "HEAD"):
            return Response(200, self._usage(req))
        assert actor is not None
        try:
            given = self._parameters(req.target)
            host = subjects.check_token("host", given.pop("host")) if "host" in given else None
            options = headers_from_query(given) if req.method == "POST" else {}
        except ValueError as exc:
            return Response(400, str(exc))
        if req.method == "DELETE":
            return await self._forward(actor, host, b"", {"op": "clear"})
        return await self._forward(actor, host, body, options or None)

    @staticmethod
    def _parameters(target: str) -> dict[str, str]:
        """The query's text options and ``host`` (that host's instances only); ValueError for any other
        parameter, or one given twice."""
        given = {}
        for name, values in parse_qs(urlsplit(target).query, keep_blank_values=True).items():
            if name not in (*QUERY_PARAMETERS, "host"):
                raise ValueError(f"unknown parameter {name!r}; the parameters are {', '.join(QUERY_PARAMETERS)} "
                                 "and host")
            if len(values) != 1:
                raise ValueError(f"parameter {name!r} is given {len(values)} times")
            given[name] = values[0]
        return given

    async def _forward(self, actor: str, host: str | None, body: bytes, headers: dict[str, str] | None) -> Response:
        nc = self._nc
        if nc is None or not nc.is_connected:
            return Response(503, f"the gateway is not connected to the lattice at {self.nc_url}; is the hub running?")
        subject, what = subjects.actor_target(self.lattice, actor, host)
        try:
            reply = await request(nc, subject, body, headers, self.timeout, what=what)
        except NoResponderError as exc:
            return Response(503, _one_line(str(exc)))
        except RequestTimeoutError as exc:
            return Response(504, _one_line(str(exc)))
        except ActorReplyError as exc:
            return Response(502, _one_line(str(exc)))
        except (nats.errors.Error, LatticeUnreachableError) as exc:
            return Response(503, f"lattice connection failed: {_one_line(str(exc)) or type(exc).__name__}")
        return Response(200, reply.body.decode("utf-8", "replace"),
                        [(ROUND_TRIP_HEADER, f"{reply.seconds * 1000:.1f}")])

    def _usage(self, req: Request) -> str:
        hosts = req.get("host")
        base = f"http://{hosts[0]}" if hosts and _HOST.fullmatch(hosts[0]) else self.url.rstrip("/")
        examples = [
            (f"curl -d 'Hello' {base}/", f"show text on the display (actor {self.actor})"),
            (f"curl -d 'Hi' '{base}/?align=left&size=16&wrap=no'", "left-aligned, 16 px, no wrapping"),
            (f"curl -d 'Hi' '{base}/?host=pi-01'", "only on host pi-01 (DELETE too)"),
            (f"curl -X DELETE {base}/", "clear it"),
            (f"curl -d 'Hi' {base}/actors/NAME", "send to actor NAME (DELETE clears)"),
            (f"curl {base}/healthz", "'ok' while connected to the lattice"),
        ]
        width = max(len(cmd) for cmd, _ in examples) + 3
        lines = [f"pi-edge HTTP gateway to lattice {self.lattice!r} via {self.nc_url}", ""]
        lines += [f"  {cmd.ljust(width)}{what}" for cmd, what in examples]
        lines += ["", f"Bodies up to {self.max_body} bytes. Errors: 503 no actor or no lattice, "
                      "504 timeout, 502 the actor's own error."]
        return "\n".join(lines) + "\n"
