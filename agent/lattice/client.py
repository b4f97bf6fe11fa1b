"""The laptop's side of the lattice: the one way every command and the HTTP gateway talk to it.

``LatticeClient`` opens the laptop's connection (nowhere else does a laptop
connect) and asks the lattice what the commands need: a message to an actor on
any host, on one host or on every host that runs it; a ping; a host picked by
name or labels; a control operation; a screen; events as they happen.

Every request leaves through ``request`` (one answer) or ``collect`` (every
answer within a time), so what every request must carry is added in those two.
Hosts are found by ping first, so a host that is offline is reported as such at
once instead of being waited on; a request to a host that vanished in between
still ends in one clear line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import nats.errors
import nats.js.api
import nkeys
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pi_edge.agent.display.screen import Screen
from pi_edge.agent.errors import (
    AccessRefusedError,
    ActorReplyError,
    HostUnreachableError,
    LatticeError,
    NoResponderError,
    PiEdgeError,
    RequestTimeoutError,
    RetryLaterError,
)
from pi_edge.agent.lattice import compiled, subjects
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.events import DEPLOY, LOG
from pi_edge.agent.lattice.link_store import read_links, write_link
from pi_edge.agent.lattice.replies import HOST_HEADER, RETRY_HEADER, failure, with_deadline
from pi_edge.agent.lattice.store import ComponentStore
from pi_edge.agent.trust.credentials import Credentials
from pi_edge.agent.wasm.targets import Target

log = logging.getLogger("pi_edge.lattice")

DEFAULT_URL = "nats://127.0.0.1:4222"
#: The status nats-server answers a request with when nothing subscribes to its subject.
NO_RESPONDERS = "503"

#: However short the caller's timeout, hosts get this long to answer a ping: a command that lists
#: or addresses hosts must not miss one because it was told to wait 1 ms for replies.
MIN_PING_WINDOW = 0.25

#: How long a host publishes its new log lines for one request to follow them (renewed while following).
FOLLOW_LEASE_S = 30.0

#: A host's description of itself, as it answers a ping (JSON).
HostInfo = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    body: bytes
    seconds: float


@dataclass(frozen=True)
class HostReply:
    """One host's answer to a broadcast: its body, or ``error`` with the reason."""
    host: str
    body: bytes
    error: str | None
    seconds: float


@dataclass(frozen=True)
class Broadcast:
    """What a message to every host running an actor came back with."""
    expected: set[str]  # the hosts whose ping said they run the actor
    answers: dict[str, HostReply]  # by host, including any that answered without being expected


#: One host's reply to a control operation, or the error it ended in.
HostResult = tuple[str, dict[str, Any] | PiEdgeError]


# -- requests: the only places one leaves ------------------------------------------------------


async def request(nc: Client, subject: str, body: bytes, headers: dict[str, str] | None, timeout: float,
                  what: str) -> Reply:
    """One request with the errors a person understands; ``what`` names the target."""
    started = time.perf_counter()
    try:
        msg = await nc.request(subject, body, timeout=timeout, headers=with_deadline(headers, timeout))
    except nats.errors.NoRespondersError:
        raise NoResponderError(f"no {what} is running in the lattice (nobody serves {subject})") from None
    except nats.errors.TimeoutError:
        raise RequestTimeoutError(f"{what} did not answer within {timeout:g} s") from None
    except nats.errors.MaxPayloadError:
        raise _too_large(nc, body) from None
    elapsed = time.perf_counter() - started
    if (detail := failure(msg.headers, msg.data)) is not None:
        busy = RETRY_HEADER in (msg.headers or {})
        raise (RetryLaterError if busy else ActorReplyError)(f"{what} answered with an error: {detail}")
    return Reply(msg.data, elapsed)


async def collect(nc: Client, subject: str, body: bytes, headers: dict[str, str] | None, window: float,
                  on_reply: Callable[[Msg, float], None], done: Callable[[], bool] = lambda: False) -> None:
    """Publish one request and hand every reply, with the seconds it took, to ``on_reply`` until
    ``done()`` or ``window`` seconds have passed."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        started = time.perf_counter()
        try:
            await nc.publish(subject, body, reply=inbox, headers=with_deadline(headers, window))
        except nats.errors.MaxPayloadError:
            raise _too_large(nc, body) from None
        deadline = time.monotonic() + window
        while not done() and (left := deadline - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            if _no_responders(msg):  # the server's word that nobody listens: not a reply
                break
            on_reply(msg, time.perf_counter() - started)
    finally:
        await sub.unsubscribe()


def _no_responders(msg: Msg) -> bool:
    """The status message nats-server sends to a request's inbox when no one subscribes to its subject."""
    return not msg.data and (msg.headers or {}).get(nats.js.api.Header.STATUS) == NO_RESPONDERS


def _too_large(nc: Client, body: bytes) -> LatticeError:
    """A message the server refuses by size: said with the sizes (text read from standard input has no limit)."""
    return LatticeError(f"the message is {len(body)} bytes, more than the {nc.max_payload} bytes the NATS server "
                        "takes in one message")


# -- what the requests mean --------------------------------------------------------------------


async def broadcast(nc: Client, subject: str, body: bytes, headers: dict[str, str] | None,
                    expect: set[str], timeout: float) -> dict[str, HostReply]:
    """Publish once on a broadcast subject; collect replies until every host in ``expect`` answered
    or ``timeout`` passes.  Hosts are told apart by the ``Pi-Edge-Host`` reply header."""
    answers: dict[str, HostReply] = {}

    def on_reply(msg: Msg, seconds: float) -> None:
        host = (msg.headers or {}).get(HOST_HEADER)
        if not host:
            log.warning("ignoring a broadcast reply without a %s header", HOST_HEADER)
            return
        answers.setdefault(host, HostReply(host, msg.data, failure(msg.headers, msg.data), seconds))

    await collect(nc, subject, body, headers, timeout, on_reply, done=lambda: expect <= answers.keys())
    return answers


def unreachable_since(host: HostInfo) -> str:
    """``host 'pi-01' is unreachable since 12:03:04 (43 s ago; Stale Connection)``, from the hub's answer."""
    since = host.get("since")
    when = "for a while"
    if isinstance(since, (int, float)):
        when = (f"since {time.strftime('%H:%M:%S', time.localtime(since))} "
                f"({max(0.0, time.time() - since):.0f} s ago")
        when += f"; {host['reason']})" if host.get("reason") else ")"
    return f"host {host.get('name')!r} is unreachable {when}"


def ping_window(timeout: float) -> float:
    """How long a command with ``timeout`` listens for ping answers: up to 1 s, at least MIN_PING_WINDOW."""
    return min(max(timeout, MIN_PING_WINDOW), 1.0)


async def ping(nc: Client, lattice: str, window: float = 0.5) -> list[HostInfo]:
    """Every host's self-description that arrives within ``window`` seconds."""
    replies: list[HostInfo] = []

    def on_reply(msg: Msg, _seconds: float) -> None:
        try:
            replies.append(json.loads(msg.data))
        except ValueError:
            log.warning("ignoring a ping reply that is not JSON: %r", msg.data[:80])

    await collect(nc, subjects.ctl_ping(lattice), b"", None, window, on_reply)
    return replies


async def wait_for_actor(nc: Client, lattice: str, actor: str, timeout: float) -> HostInfo:
    """Block until some host that runs ``actor`` answers a ping through this connection.

    Hosts subscribe their actors before answering pings, so a reply naming the
    actor means requests to it are routed here too (across a leaf link as well).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await request(nc, subjects.ctl_ping(lattice), b"", None, 0.5, what="host")
            description: HostInfo = json.loads(reply.body)
            if actor in description.get("actors", []):
                return description
        except (NoResponderError, RequestTimeoutError):
            pass
        if time.monotonic() >= deadline:
            raise LatticeError(f"no host running actor {actor!r} appeared in lattice {lattice!r} within {timeout:g} s")
        await asyncio.sleep(0.05)  # poll interval between checks, not a synchronisation


class EventFeed:
    """Events as they arrive, parsed; one that is not a JSON object comes as kind ``malformed``."""

    def __init__(self, sub: Subscription, subject: str, kinds: Collection[str]) -> None:
        self.subject = subject
        self._sub = sub
        self._kinds = kinds

    def __aiter__(self) -> EventFeed:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            msg = await self._sub.next_msg(timeout=None)
            try:
                event = json.loads(msg.data)
            except ValueError:
                event = None
            if not isinstance(event, dict):  # not JSON, or JSON but not an envelope
                event = {"kind": "malformed", "host": msg.subject, "data": {}}
            if not self._kinds or event.get("kind") in self._kinds:
                return event
            if event.get("kind") == "malformed":
                log.debug("ignoring a malformed event on %s", msg.subject)


class LogFeed:
    """A host's log lines: the recent ones first, then new ones as the host publishes them, each once.

    Each item is a line (``{"seq", "at", "level", "logger", "actor", "text"}``) or ``{"dropped": N}`` when the
    host held lines back over its rate.  The host publishes only while a lease runs: it is renewed here.
    """

    def __init__(self, client: LatticeClient, host: str, events: EventFeed, first: dict[str, Any],
                 actor: str | None) -> None:
        self.client, self.host, self.actor = client, host, actor
        self._events = events
        self._pending: list[dict[str, Any]] = list(first.get("lines", []))
        self._seen = int(first.get("seq", 0))
        self._lease = float(first.get("follow_s", 0))
        self._renewing = asyncio.ensure_future(self._renew()) if self._lease > 0 else None

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)  # the renewal's period, not a synchronisation
            try:
                await self.client.control(self.host, "logs", {"limit": 0, "follow": self._lease})
            except LatticeError as exc:  # the host may be restarting: its events resume when it is back
                log.debug("logs: renewing the lease on %s failed: %s", self.host, exc)

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)

    def __aiter__(self) -> LogFeed:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._pending:
            event = await anext(self._events)
            data = dict(event.get("data", {}))
            fresh = [line for line in data.get("lines", []) if isinstance(line, dict)
                     and int(line.get("seq", 0)) > self._seen
                     and (self.actor is None or line.get("actor") == self.actor)]
            self._pending.extend(fresh)
            if data.get("dropped"):
                self._pending.append({"dropped": int(data["dropped"]), "lines_per_s": data.get("lines_per_s")})
        item = self._pending.pop(0)
        self._seen = max(self._seen, int(item.get("seq", 0)))
        return item


# -- the client --------------------------------------------------------------------------------


class LatticeClient:
    """One connection to one lattice and everything the laptop asks of it; ``async with`` opens and closes it.

    ``timeout`` bounds each request (and, up to 3 s, connecting); ``reconnect``
    keeps a long-lived client (the gateway, ``watch``) going across hub restarts.
    """

    def __init__(self, url: str = DEFAULT_URL, lattice: str = subjects.DEFAULT_LATTICE, *, timeout: float = 5.0,
                 name: str = "pi-edge-cli", reconnect: bool = False, connect_timeout: float | None = None,
                 credentials: Credentials | None = None, anonymous_if_refused: bool = False) -> None:
        self.url = url
        self.credentials = credentials
        #: The credentials were a guess (the hub's operator.creds found on this machine): a server that does
        #: not know them (a Pi's own) is tried without any.
        self.anonymous_if_refused = anonymous_if_refused
        self.lattice = lattice
        self.timeout = timeout
        self.name = name
        self.reconnect = reconnect
        self.connect_timeout = min(timeout, 3.0) if connect_timeout is None else connect_timeout
        self._nc: Client | None = None

    async def open(self) -> LatticeClient:
        """Connect; LatticeUnreachableError says where and what to check."""
        try:
            self._nc = await connect(self.url, name=self.name, timeout=self.connect_timeout,
                                     reconnect=self.reconnect, credentials=self.credentials)
        except AccessRefusedError:
            if not (self.anonymous_if_refused and self.credentials is not None):
                raise
            self._nc = await connect(self.url, name=self.name, timeout=self.connect_timeout,
                                     reconnect=self.reconnect)
        return self

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        nc, self._nc = self._nc, None
        if nc is not None:
            await nc.close()

    async def __aenter__(self) -> LatticeClient:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def _conn(self) -> Client:
        if self._nc is None:
            raise LatticeError(f"not connected to the lattice at {self.url}")
        return self._nc

    # -- actors --------------------------------------------------------------------------------

    async def send(self, actor: str, body: bytes, headers: dict[str, str] | None = None, *,
                   host: str | None = None) -> Reply:
        """A message to ``actor`` on any one host that runs it, or on ``host`` only.

        When nothing serves it, the hub is asked whether it lost that host's (or
        every) link: HostUnreachableError then says since when, at once, instead
        of a bare "no responders" or a wait for the whole timeout.
        """
        subject, what = subjects.actor_target(self.lattice, actor, host)
        try:
            return await request(self._conn, subject, body, headers, self.timeout, what=what)
        except (NoResponderError, RequestTimeoutError) as exc:
            raise await self._unreachable(host, exc) from None

    async def _unreachable(self, host: str | None, failure: LatticeError) -> LatticeError:
        """``failure``, or what the hub knows of why: the host (or hosts) whose link it lost."""
        lost = [h for h in await self.hub_hosts() or [] if h.get("state") == "unreachable"
                and (host is None or h.get("name") == host)]
        if not lost:
            return failure
        said = "; ".join(unreachable_since(h) for h in lost)
        delivered = "nothing was delivered" if isinstance(failure, NoResponderError) else "no answer came"
        if host is not None:
            return HostUnreachableError(f"{said}: {delivered}")
        return HostUnreachableError(f"{failure}; the hub lost the link of {said}")

    async def hub_hosts(self) -> list[HostInfo] | None:
        """Every enrolled host as the hub sees its link (``state`` up or unreachable, ``since``, ``reason``);
        None if no hub answers (a Pi's own server, a hub of an older pi-edge)."""
        try:
            reply = await request(self._conn, subjects.hub_service(self.lattice, "hosts"), b"", None,
                                  min(self.timeout, 0.5), what="the hub")
            return [dict(h) for h in json.loads(reply.body)["hosts"]]
        except (LatticeError, ValueError, KeyError, TypeError):
            return None

    async def send_all(self, actor: str, body: bytes, headers: dict[str, str] | None = None) -> Broadcast:
        """Ping, then one message on the broadcast subject; every host that runs ``actor`` answers."""
        hosts = await self.ping()
        expect = {str(h.get("name")) for h in hosts if actor in dict(h.get("actors", {}))}
        if not expect:
            raise NoResponderError(f"no host runs actor {actor!r} in lattice {self.lattice!r} "
                                   f"({len(hosts)} host(s) answered the ping)")
        answers = await broadcast(self._conn, subjects.actor_all(self.lattice, actor), body, headers, expect,
                                  self.timeout)
        return Broadcast(expect, answers)

    async def wait_for_actor(self, actor: str, timeout: float) -> HostInfo:
        """The first host that answers a ping saying it runs ``actor``; LatticeError after ``timeout``."""
        return await wait_for_actor(self._conn, self.lattice, actor, timeout)

    # -- hosts ---------------------------------------------------------------------------------

    async def ping(self) -> list[HostInfo]:
        """Every host that answers within the ping window this client's timeout gives."""
        return await ping(self._conn, self.lattice, window=ping_window(self.timeout))

    async def pick_host(self, host: str | None) -> str:
        """``host``, or the lattice's only host; several hosts without one named is an error that names them."""
        if host:
            return subjects.check_token("host", host)
        names = sorted(str(h.get("name")) for h in await self.ping())
        if not names:
            raise NoResponderError(f"no host answered in lattice {self.lattice!r}")
        if len(names) > 1:
            raise PiEdgeError(f"{len(names)} hosts in lattice {self.lattice!r} ({', '.join(names)}); "
                              "pick one with --host")
        return names[0]

    async def select_hosts(self, host: str | None, labels: Mapping[str, str]) -> list[HostInfo]:
        """Hosts answering the ping that are ``host`` (if given) and have every label; none is an error
        that says why.  Sorted by name."""
        hosts = await self.ping()
        if not hosts:
            raise NoResponderError(f"no host answered in lattice {self.lattice!r}")
        names = ", ".join(sorted(str(h.get("name")) for h in hosts))
        if host:
            hosts = [h for h in hosts if h.get("name") == host]
            if not hosts:
                raise NoResponderError(f"host {host!r} is offline or unknown (answering: {names})")
        chosen = [h for h in hosts if all(dict(h.get("labels", {})).get(k) == v for k, v in labels.items())]
        if not chosen:
            wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
            if host:
                raise NoResponderError(f"host {host!r} does not have label(s) {wanted}")
            raise NoResponderError(f"no host has label(s) {wanted} (answering: {names})")
        return sorted(chosen, key=lambda h: str(h.get("name")))

    async def control(self, host: str, op: str, body: dict[str, Any], timeout: float | None = None,
                      ) -> dict[str, Any]:
        """One control operation on one host, JSON both ways."""
        reply = await request(self._conn, subjects.ctl(self.lattice, host, op), json.dumps(body).encode(), None,
                              timeout or self.timeout, what=f"host {host!r}")
        return dict(json.loads(reply.body))

    async def control_each(self, hosts: Sequence[str], op: str, body: dict[str, Any],
                           timeout: float | None = None) -> list[HostResult]:
        """``op`` on every host at once: each host's reply, or the PiEdgeError it ended in, in ``hosts``' order."""
        results = await asyncio.gather(*(self.control(h, op, body, timeout) for h in hosts), return_exceptions=True)
        answers: list[HostResult] = []
        for name, result in zip(hosts, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, PiEdgeError):
                raise result
            answers.append((name, result))
        return answers

    async def snapshot(self, host: str) -> Screen:
        """What ``host``'s display shows now (the provider's copy of panel memory)."""
        reply = await request(self._conn, subjects.ctl(self.lattice, host, "snapshot"), b"", None, self.timeout,
                              what=f"host {host!r}")
        return Screen.from_json(json.loads(reply.body)["screen"])

    @asynccontextmanager
    async def events(self, host: str | None = None, kinds: Collection[str] = ()) -> AsyncIterator[EventFeed]:
        """Events of ``host`` (default: every host) of these ``kinds`` (default: all), from the moment this
        returns: the server holds the subscription by then, so nothing after it is missed."""
        subject = subjects.events_of(self.lattice, host, next(iter(kinds)) if len(kinds) == 1 else None)
        nc = self._conn
        sub = await nc.subscribe(subject)
        try:
            await subscriptions_live(nc)
            yield EventFeed(sub, subject, kinds)
        finally:
            if not nc.is_closed:
                await sub.unsubscribe()

    async def logs(self, host: str, since: float | None = None, actor: str | None = None,
                   limit: int = 200) -> list[dict[str, Any]]:
        """``host``'s recent log lines (of ``actor``, since ``since``), oldest first."""
        answer = await self.control(host, "logs", {"since": since, "actor": actor, "limit": limit})
        return list(answer.get("lines", []))

    @asynccontextmanager
    async def follow_logs(self, host: str, since: float | None = None, actor: str | None = None,
                          limit: int = 200) -> AsyncIterator[LogFeed]:
        """``host``'s recent log lines, then its new ones as they come (see ``LogFeed``)."""
        async with self.events(host, (LOG,)) as events:  # following first: nothing in between is missed
            first = await self.control(host, "logs", {"since": since, "actor": actor, "limit": limit,
                                                      "follow": FOLLOW_LEASE_S})
            feed = LogFeed(self, host, events, first, actor)
            try:
                yield feed
            finally:
                await feed.close()

    # -- the hub's stores ----------------------------------------------------------------------

    async def upload(self, component: bytes, on_progress: Callable[[int, int], None] | None = None,
                     ) -> tuple[str, bool]:
        """Put a component in the hub's store: its digest, and whether bytes were sent (not there yet).
        ``on_progress(sent, size)`` follows the upload (from a worker thread)."""
        return await ComponentStore(self._conn).put(component, on_progress)

    async def deploy(self, hosts: Sequence[str], name: str, digest: str, scale: int, timeout: float,
                     on_phase: Callable[[str, dict[str, Any]], None]) -> list[HostResult]:
        """Start the uploaded component ``digest`` as actor ``name`` on each host; each host's phases
        (fetching with its percent, compiling, started...) reach ``on_phase(host, data)`` as they happen,
        then each host's reply or error."""
        async with self.events(kinds=(DEPLOY,)) as feed:
            async def follow() -> None:
                async for event in feed:
                    data = dict(event.get("data", {}))
                    if event.get("host") in hosts and data.get("actor") == name and data.get("digest") == digest:
                        on_phase(str(event["host"]), data)

            following = asyncio.ensure_future(follow())
            try:
                return await self.control_each(hosts, "deploy", {"name": name, "digest": digest, "scale": scale},
                                               timeout)
            finally:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)

    async def publish_compiled(self, name: str, component: bytes, key: nkeys.KeyPair, target: Target,
                               python: Sequence[str] | None = None) -> compiled.Published:
        """The component compiled for ``target`` (here, or by ``python``), signed by ``key``, in the hub's store."""
        return await compiled.compile_and_publish(self._conn, name, component, key, target, python)

    async def links(self) -> dict[str, str]:
        """Every link the hub keeps: actor -> provider."""
        return await read_links(self._conn)

    async def write_link(self, actor: str, provider: str | None) -> str | None:
        """Set (None: remove) ``actor``'s link on the hub; the provider it was linked to before, if any."""
        return await write_link(self._conn, actor, provider)
