"""Links: which provider instance an actor's ``display`` import is bound to.

Without a link an actor draws on its own host's display.  A link names a
provider instance anywhere in the lattice (``<host>-display``); calls then
travel as NATS requests.  The lattice's links live in a JetStream key-value
bucket on the hub, each host keeps its own copy so it can start offline
(``LinkTable``), fetches the lattice's once the hub answers (``HubLinks``),
and ``link put``/``link del`` tell every host at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import nats.errors

from pi_edge.agent.display.provider import (
    DisplayInfo,
    DisplayProvider,
    FrameListener,
    FrameReport,
    Health,
    HealthListener,
    TextLayout,
    TextOptions,
)
from pi_edge.agent.display.screen import Screen
from pi_edge.agent.errors import PiEdgeError, StateError
from pi_edge.agent.host.state_file import StateFile
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.link_store import read_links
from pi_edge.agent.tasks import TaskScope

if TYPE_CHECKING:
    from pi_edge.agent.host.host import Host

log = logging.getLogger("pi_edge.links")

FILE = "links.json"


class ProviderSlot:
    """What an actor's imports call: the local provider, or a linked one, swappable at any time.

    The actor's instances keep this object; relinking changes where the next
    call goes without restarting anything.
    """

    def __init__(self, target: DisplayProvider, name: str) -> None:
        self.target = target
        self.name = name

    def info(self) -> DisplayInfo:
        return self.target.info()

    def clear(self) -> FrameReport:
        return self.target.clear()

    def show_text(self, text: str, options: TextOptions) -> TextLayout:
        return self.target.show_text(text, options)

    def show_bitmap(self, width: int, height: int, bits: bytes) -> FrameReport:
        return self.target.show_bitmap(width, height, bits)

    def set_contrast(self, level: int) -> None:
        self.target.set_contrast(level)

    def set_power(self, on: bool) -> None:
        self.target.set_power(on)

    def set_invert(self, on: bool) -> None:
        self.target.set_invert(on)

    def snapshot(self) -> Screen:
        return self.target.snapshot()

    def health(self) -> Health:
        return self.target.health()

    def listen(self, on_health: HealthListener | None = None, on_frame: FrameListener | None = None) -> None:
        self.target.listen(on_health, on_frame)

    def close(self) -> None:
        """The slot holds nothing of its own: the host closes its provider."""


def _parse_links(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise TypeError("expected {\"actor\": \"provider\", ...}")
    links = {}
    for actor, provider in raw.items():
        if not (isinstance(provider, str) and subjects.is_token(actor) and subjects.is_token(provider)):
            raise ValueError(f"link {actor!r} -> {provider!r} is not two names")
        links[actor] = provider
    return links


class LinkTable:
    """Links as this host knows them, saved in its state directory (see ``state_file``)."""

    def __init__(self, state_dir: Path) -> None:
        self.file: StateFile[dict[str, str]] = StateFile(
            state_dir / FILE, "this host's copy of the lattice's links",
            "the hub sends them again when it answers ('pi-edge link put' sets one)", _parse_links, dict)
        self.path = self.file.path
        self.links: dict[str, str] = {}

    def load(self) -> dict[str, str]:
        self.links = self.file.read()
        return dict(self.links)

    def set(self, actor: str, provider: str | None) -> None:
        """Saved, then kept: StateError (and nothing changed) if it cannot be saved."""
        links = {k: v for k, v in self.links.items() if k != actor}
        if provider is not None:
            links[actor] = provider
        self.file.write(links)
        self.links = links


class HubLinks:
    """The lattice's links, fetched from the hub: at start if the hub answers soon, else once the leaf joins.

    ``leaf_connected`` is the leaf server's "linked to the hub" flag; None when the agent
    uses a server it did not start (then only the start's fetch is tried).
    """

    def __init__(self, host: Host, table: LinkTable, leaf_connected: threading.Event | None) -> None:
        self.host = host
        self.table = table
        self.leaf_connected = leaf_connected
        self._later = TaskScope(f"host {host.name}: links")
        self.waiting: asyncio.Task[None] | None = None  # fetches links once a late hub link comes up

    async def refresh(self) -> bool:
        """The lattice's links from the hub, if it answers soon; else the saved copy stands (False)."""
        if self.leaf_connected is not None and not self.leaf_connected.is_set():
            # Not waited for: the actors start with the saved links, and the lattice's follow once it joins
            # (waiting here would hold every restart up by the join, a few hundred ms).
            log.info("agent: using saved links until the hub link is up")
            return False
        try:
            links = await asyncio.wait_for(read_links(self.host.nc), 3)
        except (TimeoutError, PiEdgeError, nats.errors.Error) as exc:
            log.info("agent: using saved links (%s)", str(exc) or "the hub did not answer")
            return False
        for actor, provider in links.items():
            if self.host.links.get(actor) != provider:
                try:
                    self.table.set(actor, provider)
                except StateError as exc:  # the hub keeps the lattice's links: they apply, unsaved here
                    log.warning("agent: %s; link %s -> %s applies until the agent stops", exc, actor, provider)
                self.host.link(actor, provider)
        log.info("agent: %d display link(s) from the hub", len(links))
        return True

    def refresh_once_joined(self) -> None:
        """A host that started before its hub (or raced its own leaf link) still learns the lattice's links."""
        if self.leaf_connected is not None:
            self.waiting = self._later.spawn(self._refresh_once_joined(self.leaf_connected), "links-once-joined")

    async def _refresh_once_joined(self, joined: threading.Event) -> None:
        while True:
            if await asyncio.to_thread(joined.wait, 1.0) and await self.refresh():
                return
            if joined.is_set():
                await asyncio.sleep(1.0)  # linked, but the store did not answer: ask again in a second

    async def close(self) -> None:
        await self._later.close()
