"""The hub's view of its Pis: whose leaf link is up, who is unreachable since when, and who must go.

nats-server announces every connect and disconnect in its system account, with
the key the connection proved and the name it claims (``$SYS.ACCOUNT.*.CONNECT``
/ ``DISCONNECT``).  From them the watcher

- publishes ``host-unreachable`` (with since when and why: ``Stale Connection``
  is a cut wire, noticed within about 6 s thanks to the 2 s pings) and
  ``host-back`` on the host's event subject, in the lattice(s) the host was seen in;
- answers ``pe.<lattice>.hub.hosts``: every enrolled host, up or unreachable
  since when, so ``pi-edge hosts`` lists the ones that do not answer and
  ``pi-edge display --host`` can say at once why a host does not;
- kicks a leaf whose key is not (or no longer) enrolled, and one that calls
  itself by another host's name (its key's permissions keep it to its own
  subjects anyway, but two leaves with one name knock each other off the hub).

Leaves that joined before the watcher listened are kicked once at its start: they
rejoin a second later, and their connect event says who they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.events import HEARTBEAT, HOST_BACK, HOST_STARTED, HOST_UNREACHABLE, envelope
from pi_edge.agent.trust.credentials import Credentials

log = logging.getLogger("pi_edge.hub")

#: The hub's ``hosts`` answer.
HOSTS_OP = "hosts"

UP = "up"
UNREACHABLE = "unreachable"
NEVER_SEEN = "never seen"


@dataclass
class HostLink:
    """One enrolled host's leaf link as the hub sees it."""

    name: str
    state: str = NEVER_SEEN
    since: float | None = None  # when it came up, or was lost (wall clock)
    reason: str = ""  # why it was lost, in nats-server's words
    lattices: set[str] = field(default_factory=set)  # where its events were seen

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "since": self.since, "reason": self.reason}


class HubWatch:
    """Follows leaf links through the system account; publishes and answers through the hub's own user."""

    def __init__(self, url: str, system: Credentials, hub: Credentials,
                 enrolled: Callable[[], dict[str, str]]) -> None:
        self.url = url
        self.system = system
        self.hub = hub
        self.enrolled = enrolled  # name -> public key, as the hub lets them in now
        self.links: dict[str, HostLink] = {}
        self._leaves: dict[int, tuple[str, str]] = {}  # connection id -> (key, claimed name)
        self._sys: Client | None = None
        self._nc: Client | None = None
        self._server_id = ""
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._sys = await connect(self.url, name="pi-edge-hub-watch", reconnect=True, credentials=self.system)
        self._nc = await connect(self.url, name="pi-edge-hub", reconnect=True, credentials=self.hub)
        self._server_id = str(self._sys._server_info.get("server_id", ""))
        for subject in subjects.sys_client_events():
            await self._sys.subscribe(subject, cb=self._on_client_event)
        await self._nc.subscribe(subjects.any_hub_service(), cb=self._on_request)
        await self._nc.subscribe(subjects.any_host_event(HOST_STARTED), cb=self._on_host_event)
        await self._nc.subscribe(subjects.any_host_event(HEARTBEAT), cb=self._on_host_event)
        await self._sys.flush()
        await self._nc.flush()
        await self._reconcile()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for nc in (self._nc, self._sys):
            if nc is not None:
                try:
                    await nc.close()
                except Exception as exc:
                    log.debug("hub: closing the watcher's connection failed: %s", exc)
        self._nc = self._sys = None

    # -- what the server says ----------------------------------------------------------------------

    async def _reconcile(self) -> None:
        """Kick leaves whose connect event came before we listened: they rejoin at once, announced."""
        assert self._sys is not None
        try:
            reply = await self._sys.request(subjects.sys_server_request(self._server_id, "LEAFZ"), b"{}", timeout=2)
            leafs = json.loads(reply.data)["data"].get("leafs") or []
        except (nats.errors.Error, TimeoutError, ValueError, KeyError) as exc:
            log.warning("hub: cannot list the leaf links already up (%s); they are named when they next join", exc)
            return
        for leaf in leafs:
            if int(leaf.get("id", 0)) not in self._leaves:
                await self._kick(int(leaf["id"]), f"leaf {leaf.get('name')!r} joined before the hub listened; "
                                 "asking it to join again so that its key is known")

    async def _on_client_event(self, msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
            client = event["client"]
        except (ValueError, KeyError, TypeError):
            return
        if client.get("kind") != "Leafnode":
            return
        cid, key, claimed = int(client.get("id", 0)), str(client.get("user", "")), str(client.get("name", ""))
        if msg.subject.endswith(".CONNECT"):
            await self._joined(cid, key, claimed)
        else:
            await self._left(cid, key, str(event.get("reason") or "closed"))

    async def _joined(self, cid: int, key: str, claimed: str) -> None:
        names = {k: n for n, k in self.enrolled().items()}
        name = names.get(key)
        if name is None:
            if self.enrolled_only:  # let in before a revoke took effect
                await self._kick(cid, f"a leaf with key {key[:8]}…, which is not enrolled, joined")
            return
        if claimed != name:
            log.error("hub: a leaf using host %r's key calls itself %r: kicked; if %r did not do this, its key is "
                      "stolen: 'pi-edge hub revoke %s' and enrol it again", name, claimed, name, name)
            await self._kick(cid, "")
            return
        self._leaves[cid] = (key, name)
        link = self.links.setdefault(name, HostLink(name))
        was = link.state
        link.state, link.since, link.reason = UP, time.time(), ""
        if was == UNREACHABLE:
            log.info("hub: host %s is back", name)
            await self._publish(link, HOST_BACK)
        else:
            log.info("hub: host %s joined", name)

    async def _left(self, cid: int, key: str, reason: str) -> None:
        known = self._leaves.pop(cid, None)
        if known is None:
            return
        _, name = known
        if any(n == name for _, n in self._leaves.values()):
            return  # another link of this host is up (a reconnect that overtook the close)
        link = self.links.setdefault(name, HostLink(name))
        link.state, link.since, link.reason = UNREACHABLE, time.time(), reason
        cut = " (it stopped answering pings: the network between them is down)" if "Stale" in reason else ""
        # A Pi that closed its own link (its agent stopped) is news, not trouble.
        level = logging.INFO if reason == "Client Closed" else logging.WARNING
        log.log(level, "hub: host %s is unreachable: its leaf link closed: %s%s", name, reason, cut)
        await self._publish(link, HOST_UNREACHABLE)

    #: Whether leaves with keys the hub does not know are kicked (not with --no-auth).
    enrolled_only = True

    async def kick_key(self, key: str, why: str) -> int:
        """Kick every live leaf that proved ``key`` (a revoked Pi): how many."""
        cids = [cid for cid, (k, _) in self._leaves.items() if k == key]
        for cid in cids:
            await self._kick(cid, why)
        return len(cids)

    async def _kick(self, cid: int, why: str) -> None:
        if self._sys is None:
            return
        if why:
            log.info("hub: %s: disconnecting leaf link %d", why, cid)
        try:
            await self._sys.request(subjects.sys_server_request(self._server_id, "KICK"),
                                    json.dumps({"cid": cid}).encode(), timeout=2)
        except (nats.errors.Error, TimeoutError) as exc:
            log.error("hub: could not disconnect leaf link %d: %s", cid, exc)

    # -- what the lattice asks and is told -----------------------------------------------------------

    async def _on_host_event(self, msg: Msg) -> None:
        parts = msg.subject.split(".")  # pe.<lattice>.evt.<host>.<kind>
        if len(parts) == 5 and parts[3] in self.enrolled():
            self.links.setdefault(parts[3], HostLink(parts[3])).lattices.add(parts[1])

    def hosts(self) -> list[dict[str, Any]]:
        """Every enrolled host's link, by name."""
        return [self.links.get(name, HostLink(name)).describe() for name in sorted(self.enrolled())]

    async def _on_request(self, msg: Msg) -> None:
        if not msg.reply or msg.subject.rsplit(".", 1)[-1] != HOSTS_OP:
            return
        try:
            await msg.respond(json.dumps({"hosts": self.hosts()}).encode())
        except nats.errors.Error as exc:
            log.debug("hub: could not answer %s: %s", msg.subject, exc)

    async def _publish(self, link: HostLink, kind: str) -> None:
        if self._nc is None:
            return
        data = {"since": link.since, "reason": link.reason, "by": "hub"}
        for lattice in sorted(link.lattices or {subjects.DEFAULT_LATTICE}):
            try:
                await self._nc.publish(subjects.event(lattice, link.name, kind),
                                       envelope(kind, link.name, "", data))
            except nats.errors.Error as exc:
                log.debug("hub: could not publish %s of %s: %s", kind, link.name, exc)
