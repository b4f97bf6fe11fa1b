"""A small, strict HTTP/1.1 server on plain asyncio, so the hub needs no web framework.

It parses each request head (RFC 9112), refuses what it does not speak, and
hands the head to a handler, which reads the body only if it wants it; it
frames the handler's plain-text answer, keeps connections alive, and drains
what a closing client still sends so that the answer is read, not reset.  What
the requests mean is the handler's business (``gateway``).

A refusal is not an exception here: it is the response to send (with the
connection closed after it), returned by whichever step found the problem.  A
malformed request is ordinary input for a server, not a failure of pi-edge, so
it never leaves this module.  Every connection's task lives in one task group,
ended by ``stop``.

Every request logs one line: ``METHOD PATH STATUS 12.3ms PEER[: reason]``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from pi_edge.agent import __version__
from pi_edge.agent.errors import ConfigError

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


def refusal(status: int, text: str) -> Response:
    """An answer to a request this server will not go on with: the connection closes after it."""
    return Response(status, text, close=True)


def one_line(text: str, limit: int = 1000) -> str:
    """Bodies of error answers are one line: a reason from elsewhere may hold newlines."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


#: Reads the request's body when the handler wants it: the bytes, or the refusal to answer with.
ReadBody = Callable[[], Awaitable[bytes | Response]]
#: What answers a request: its head, and how to read its body.
Handler = Callable[[Request, ReadBody], Awaitable[Response]]

#: Connections served at once; past it a new one gets a 503 and is closed.  Well under a process's usual
#: 1024 file descriptors, which the hub's nats connections and logs share.
MAX_CONNECTIONS = 256
_BUSY_TEXT = b"the gateway is serving all the connections it takes; try again shortly\n"
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(_BUSY_TEXT)).encode() + b"\r\n\r\n" + _BUSY_TEXT)


class HttpServer:
    """Serves ``handler`` on ``listen``:``port`` (0 picks a free port) until ``stop``.

    Bodies over ``max_body`` bytes are refused (413) without being read; a
    client idle for ``idle_timeout`` between requests is let go, and one that
    takes longer than ``read_timeout`` to send a head or a body is answered 408.
    """

    def __init__(self, handler: Handler, listen: str, port: int, *, max_body: int, access_log: logging.Logger,
                 idle_timeout: float = 30.0, read_timeout: float = 10.0,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.handler = handler
        self.listen = listen
        self.port = port
        self.max_body = max_body
        self.log = access_log
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self._server: asyncio.Server | None = None
        self._serving: asyncio.Task[None] | None = None  # holds the connections' task group
        self._connections: asyncio.TaskGroup | None = None
        self.max_connections = max_connections
        self._open = 0  # connections being served
        self._turned_away = 0  # since the last time it said so: one log line per burst, not one per connection

    @property
    def url(self) -> str:
        """Where to point curl: a wildcard listen address is shown as loopback."""
        address = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.listen, self.listen)
        if ":" in address:
            address = f"[{address}]"
        return f"http://{address}:{self.port}/"

    async def start(self) -> int:
        """Listen; returns the bound port.  ConfigError with a sentence if the address or port cannot be had."""
        group_open = asyncio.Event()
        self._serving = asyncio.create_task(self._hold_connections(group_open))
        await group_open.wait()
        try:
            self._server = await asyncio.start_server(self._accept, self.listen or None, self.port, limit=MAX_LINE)
        except OSError as exc:
            await self.stop()
            if isinstance(exc, socket.gaierror):  # a name that does not resolve
                reason = f"{exc.strerror} (--http-listen must be an address or a name of this machine)"
            else:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio's own strerror is wordy
            raise ConfigError(f"cannot serve HTTP on {self.listen}:{self.port}: {reason}; "
                              "pick another --http port or --http-listen") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and end open connections (idle keep-alives too); safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.cancel()  # the task group cancels every connection and waits for them
            await asyncio.gather(serving, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _hold_connections(self, group_open: asyncio.Event) -> None:
        """The scope of every connection's task: it ends, and they with it, when ``stop`` cancels it."""
        try:
            async with asyncio.TaskGroup() as group:
                self._connections = group
                group_open.set()
                await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._connections = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connections is None:  # stopping
            writer.close()
            return
        if self._open >= self.max_connections:
            # Answered at once and closed: every open connection holds a file descriptor, and a process out
            # of them cannot accept anything, not even the connections that would have been served.
            if not self._turned_away:
                self.log.warning("http: %d connections open, the most it takes; turning new ones away with 503 "
                                 "until some close", self._open)
            self._turned_away += 1
            writer.write(BUSY)
            writer.close()
            return
        self._open += 1
        self._connections.create_task(self._serve_connection(reader, writer))

    def _closed_one(self) -> None:
        self._open -= 1
        if self._turned_away and self._open < self.max_connections:
            self.log.warning("http: taking connections again; %d were turned away with 503 meanwhile",
                             self._turned_away)
            self._turned_away = 0

    # -- connections ---------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client's requests, one after another; whatever goes wrong ends this connection only."""
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        try:
            while await self._exchange(reader, writer, peer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.log.debug("http: %s went away: %s", peer, exc)
        except Exception:
            self.log.exception("http: connection from %s failed", peer)
        finally:
            self._closed_one()
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError):
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
            if isinstance(line, Response):
                response = line
            else:
                started = time.perf_counter()
                try:
                    head = await asyncio.wait_for(self._read_head(reader, line), self.read_timeout)
                except TimeoutError:
                    head = refusal(408, f"the request head did not arrive within {self.read_timeout:g} s")
                if isinstance(head, Response):
                    response = head
                else:
                    req = head
                    response = self._check_head(head) or await self.handler(head, lambda: self._read_body(
                        reader, writer, head))
        except (asyncio.IncompleteReadError, ConnectionError):
            self.log.info("%s %s - %.1fms %s: client went away mid-request", req.method if req else "-",
                          req.target if req else "-", (time.perf_counter() - started) * 1000, peer)
            return False
        except Exception as exc:  # a bug: answer, log it, keep serving
            self.log.exception("http: request from %s failed", peer)
            response = refusal(500, f"internal error in the gateway: {one_line(str(exc)) or type(exc).__name__}")

        # An answer given before the body was read leaves that body in the stream: close.
        close = response.close or req is None or not req.keep_alive or (req.length > 0 and not req.body_read)
        await self._write(writer, response, req, close)
        ms = (time.perf_counter() - started) * 1000
        reason = f": {response.text}" if response.status >= 400 else ""
        self.log.info("%s %s %d %.1fms %s%s", req.method if req else "-", req.target if req else "-",
                      response.status, ms, peer, reason)
        if close:
            await self._linger(reader, writer)
        return not close

    async def _request_line(self, reader: asyncio.StreamReader) -> bytes | Response | None:
        """The next request line, skipping the blank lines a client may send between requests."""
        for _ in range(8):
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                return exc.partial or None  # a partial line is answered with 400
            except asyncio.LimitOverrunError:
                return refusal(414, f"request line longer than {MAX_LINE} bytes")
            if line.strip(b"\r\n"):
                return line
        return b""

    async def _read_head(self, reader: asyncio.StreamReader, line: bytes) -> Request | Response:
        """Parse the request line and headers strictly (RFC 9112), leaving the body unread."""
        if not line.endswith(b"\n"):
            return refusal(400, "malformed request: the request line ended early")
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1] or _BAD_TARGET.search(parts[1]):
            return refusal(400, "malformed request line; expected e.g. 'POST / HTTP/1.1'")
        version = _VERSION.fullmatch(parts[2])
        if version is None:
            return refusal(400, "malformed request line: the version is not HTTP/1.x")
        if version[1] != b"1":
            return refusal(505, f"{parts[2].decode('latin-1')} is not supported; speak HTTP/1.1")
        method, target = parts[0].decode("ascii"), parts[1].decode("latin-1")
        minor = min(int(version[2]), 1)

        headers: list[tuple[str, str]] = []
        size = len(line)
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                return refusal(431, f"a header line is longer than {MAX_LINE} bytes")
            except asyncio.IncompleteReadError:
                return refusal(400, "malformed request: the headers ended early (no blank line)")
            size += len(raw)
            if size > MAX_HEAD or len(headers) >= MAX_HEADERS:
                return refusal(431, f"request head over {MAX_HEAD} bytes or {MAX_HEADERS} headers")
            raw = raw.rstrip(b"\r\n")
            if not raw:
                break
            if raw[:1] in (b" ", b"\t"):
                return refusal(400, "malformed header: folded (continuation) lines are not accepted")
            name, colon, value = raw.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                return refusal(400, f"malformed header line {raw[:60].decode('latin-1')!r}")
            value = value.strip(b" \t")
            if _BAD_VALUE.search(value):
                return refusal(400, f"header {name.decode('ascii')!r} holds control characters")
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))

        return Request(method, target, minor, headers)

    def _check_head(self, req: Request) -> Response | None:
        """Framing and the headers that change it; fills in path, length, keep-alive, expect.  None if fine."""
        path = self._path(req.target)
        if isinstance(path, Response):
            return path
        req.path = path
        minor = req.minor
        hosts = req.get("host")
        if (minor == 1 and len(hosts) != 1) or len(hosts) > 1:
            return refusal(400, "an HTTP/1.1 request needs exactly one Host header")
        if req.get("transfer-encoding"):
            return refusal(411, "Transfer-Encoding (chunked) request bodies are not supported; "
                                "send the body with a Content-Length")
        lengths = sorted({v.strip() for value in req.get("content-length") for v in value.split(",")})
        if lengths:
            if len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0]):
                return refusal(400, f"bad Content-Length {', '.join(lengths)[:60]!r}")
            # Past 18 digits it is over any limit; int() of thousands of digits would raise.
            req.length = int(lengths[0]) if len(lengths[0]) <= 18 else 10**18
        tokens = {t.strip().lower() for value in req.get("connection") for t in value.split(",")}
        req.keep_alive = "close" not in tokens and (minor == 1 or "keep-alive" in tokens)
        expect = [v.strip().lower() for v in req.get("expect")]
        if expect and minor == 1:
            if expect != ["100-continue"]:
                return refusal(417, f"Expect {', '.join(expect)!r} is not supported (only 100-continue)")
            req.expect_continue = True
        return None

    @staticmethod
    def _path(target: str) -> str | Response:
        """The decoded path of an origin-form (``/x?y``) or absolute-form (``http://h/x``) target."""
        if target.startswith("/"):
            path = target.split("?", 1)[0]
        elif target.lower().startswith(("http://", "https://")):
            path = urlsplit(target).path or "/"
        elif target == "*":
            return "*"
        else:
            return refusal(400, f"request target {target[:60]!r} is not a path like /actors/NAME")
        return unquote(path, errors="replace")

    async def _read_body(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         req: Request) -> bytes | Response:
        if req.length > self.max_body:
            return refusal(413, f"body of {req.length} bytes is over the {self.max_body}-byte limit")
        if req.expect_continue and req.length > 0:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        try:
            body = await asyncio.wait_for(reader.readexactly(req.length), self.read_timeout)
        except TimeoutError:
            return refusal(408, f"the {req.length}-byte body did not arrive within {self.read_timeout:g} s")
        except asyncio.IncompleteReadError as exc:
            return refusal(400, f"the body ended after {len(exc.partial)} of {req.length} bytes")
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
