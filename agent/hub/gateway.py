"""HTTP gateway on the hub: ``curl -d 'Hello' http://laptop:8080/`` reaches the display actor.

Each request becomes one message to an actor through one long-lived lattice
client connected to the hub; the lattice's failures become status codes with a
one-line plain-text body a person can act on (the HTTP/1.1 side, framing and
refusals of malformed requests, is ``http``):

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
503   no actor serves the subject, the hub link is down, the actor is busy
      (``Retry-After``), or the gateway has all the connections it takes
504   the actor did not answer in time
505   not HTTP/1.x
====  =============================================================

Every request logs one line on ``pi_edge.gateway``:
``METHOD PATH STATUS 12.3ms PEER[: reason]``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import nats.errors

from pi_edge.actors import DEFAULT_ACTOR
from pi_edge.agent.display.text_headers import QUERY_PARAMETERS, headers_from_query
from pi_edge.agent.errors import (
    ActorReplyError,
    ConfigError,
    LatticeUnreachableError,
    NoResponderError,
    RequestTimeoutError,
    RetryLaterError,
)
from pi_edge.agent.hub.http import MAX_CONNECTIONS, HttpServer, ReadBody, Request, Response, one_line
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import LatticeClient
from pi_edge.agent.trust.credentials import Credentials
from pi_edge.agent.wasm.limits import Limits

log = logging.getLogger("pi_edge.gateway")

ROUND_TRIP_HEADER = "Pi-Edge-Round-Trip-Ms"

_AUTHORITY = re.compile(r"[A-Za-z0-9.\-:\[\]]+")  # a Host header fit to repeat in the usage text

ROOT_METHODS = ("GET", "HEAD", "POST", "DELETE")
HEALTH_METHODS = ("GET", "HEAD")
ACTOR_METHODS = ("POST", "DELETE")


class HttpGateway:
    """An HTTP/1.1 server whose requests become requests to actors in one lattice.

    ``nc_url`` is the hub's client URL; ``listen`` the address to serve HTTP on;
    ``port`` 0 picks a free port (``start`` returns the bound one); ``timeout``
    bounds each actor round trip.
    """

    def __init__(self, nc_url: str, lattice: str = subjects.DEFAULT_LATTICE, listen: str = "127.0.0.1",
                 port: int = 8080, timeout: float = 5.0, *, actor: str = DEFAULT_ACTOR,
                 max_body: int | None = None, idle_timeout: float = 30.0, read_timeout: float = 10.0,
                 max_connections: int = MAX_CONNECTIONS, credentials: Credentials | None = None) -> None:
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
        self.actor = actor
        # reconnect=True: the gateway outlives hub hiccups; /healthz says 503 meanwhile.
        self._client = LatticeClient(nc_url, lattice, timeout=timeout, name="pi-edge-gateway", reconnect=True,
                                     connect_timeout=3.0, credentials=credentials)
        self._http = HttpServer(self._respond, listen, port, access_log=log, idle_timeout=idle_timeout,
                                read_timeout=read_timeout, max_connections=max_connections,
                                max_body=Limits().max_message_bytes if max_body is None else max_body)

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        """Where to point curl: a wildcard listen address is shown as loopback."""
        return self._http.url

    @property
    def connected(self) -> bool:
        return self._client.connected

    async def start(self) -> int:
        """Connect to the hub, then listen; returns the bound port.  Raises with a sentence on failure."""
        await self._client.open()
        try:
            await self._http.start()
        except BaseException:
            await self.stop()
            raise
        log.info("gateway: serving %s for lattice %r via %s", self.url, self.lattice, self.nc_url)
        return self.port

    async def stop(self) -> None:
        """Stop listening, end open connections (idle keep-alives too), close the lattice client; safe twice."""
        await self._http.stop()
        try:
            await self._client.close()
        except Exception as exc:
            log.debug("gateway: closing the NATS connection failed: %s", exc)

    # -- routes --------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[tuple[str, ...], str | None] | Response:
        """(allowed methods, actor name or None) for a path; a 404 or 400 otherwise."""
        if path == "/":
            return ROOT_METHODS, self.actor
        if path == "/healthz":
            return HEALTH_METHODS, None
        if path.startswith("/actors/"):
            name = path[len("/actors/"):]
            try:
                return ACTOR_METHODS, subjects.check_token("actor", name)
            except ValueError as exc:
                return Response(400, str(exc))
        return Response(404, f"no such path {path[:100]!r}; try GET / for usage")

    async def _respond(self, req: Request, read_body: ReadBody) -> Response:
        route = self._route(req.path)
        if isinstance(route, Response):
            return route
        allowed, actor = route
        if req.method not in allowed:
            return Response(405, f"{req.method} is not allowed on {req.path}; use {', '.join(allowed)}",
                            [("Allow", ", ".join(allowed))])
        body = await read_body()
        if isinstance(body, Response):
            return body

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
        if not self.connected:
            return Response(503, f"the gateway is not connected to the lattice at {self.nc_url}; is the hub running?")
        try:
            reply = await self._client.send(actor, body, headers, host=host)
        except NoResponderError as exc:
            return Response(503, one_line(str(exc)))
        except RequestTimeoutError as exc:
            return Response(504, one_line(str(exc)))
        except RetryLaterError as exc:  # not the actor's fault: the same request may work in a moment
            return Response(503, one_line(str(exc)), [("Retry-After", "1")])
        except ActorReplyError as exc:
            return Response(502, one_line(str(exc)))
        except (nats.errors.Error, LatticeUnreachableError) as exc:
            return Response(503, f"lattice connection failed: {one_line(str(exc)) or type(exc).__name__}")
        return Response(200, reply.body.decode("utf-8", "replace"),
                        [(ROUND_TRIP_HEADER, f"{reply.seconds * 1000:.1f}")])

    def _usage(self, req: Request) -> str:
        authority = req.get("host")  # the HTTP Host header: how the client reached us
        base = f"http://{authority[0]}" if authority and _AUTHORITY.fullmatch(authority[0]) else self.url.rstrip("/")
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
        lines += ["", f"Bodies up to {self._http.max_body} bytes. Errors: 503 no actor or no lattice, "
                      "504 timeout, 502 the actor's own error."]
        return "\n".join(lines) + "\n"
