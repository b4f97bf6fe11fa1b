"""The agent's recent log lines, kept on the Pi for ``pi-edge logs`` on the laptop.

A bounded buffer (the newest ``MAX_LINES`` lines, each cut at ``MAX_CHARS``)
collects what the agent logs, from any thread, with the actor each line is
about.  ``pi-edge logs HOST`` reads it with the ``logs`` control operation
(the answer is the reply); ``-f`` also takes a lease of ``FOLLOW_S`` seconds
that it renews while it follows, and only while a lease runs does the host
publish new lines, as its own ``log`` events, in batches and at most
``LINES_PER_S`` a second (with bursts): past that, lines are counted and the
count goes out instead.  A host nobody follows publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import deque
from typing import Any

from pi_edge.agent.lattice.events import LOG, EventPublisher
from pi_edge.agent.tasks import TaskScope
from pi_edge.agent.wasm.log_limit import LogLimit

MAX_LINES = 2000
MAX_CHARS = 1000
#: The most lines one answer carries (the newest), and their most bytes: a reply must fit a NATS message.
MAX_ANSWER_LINES = 1000
MAX_ANSWER_BYTES = 512 * 1024
#: A follower's lease, renewed while it follows; one that went away stops the publishing within this.
FOLLOW_S = 30.0
LINES_PER_S = 50
BATCH_S = 0.2
#: Loggers whose lines are not published live: publishing may itself log there.
_QUIET = ("pi_edge.events", "pi_edge.logs")
_ACTOR = re.compile(r"\bactor=([A-Za-z0-9_-]+)")

log = logging.getLogger("pi_edge.logs")

Line = dict[str, Any]


class LogBuffer(logging.Handler):
    """A ``logging.Handler`` on the ``pi_edge`` logger while the agent runs; ``serve`` publishes for followers."""

    def __init__(self, max_lines: int = MAX_LINES, lines_per_s: int = LINES_PER_S) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[Line] = deque(maxlen=max_lines)
        self.seq = 0
        self._new: list[Line] = []  # for followers, since the last batch
        self._lines_lock = threading.Lock()
        self._limit = LogLimit(lines_per_s)
        self._dropped = 0
        self._follow_until = 0.0
        self._events: EventPublisher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._scope = TaskScope("logs: followers")

    # -- collecting (any thread) -----------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format in someone's log call: keep what there is
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        actor = record.args[0] if record.name == "pi_edge.actor" and isinstance(record.args, tuple) and \
            record.args else (m[1] if (m := _ACTOR.search(text)) else None)
        with self._lines_lock:
            self.seq += 1
            line = {"seq": self.seq, "at": round(record.created, 3), "level": record.levelname,
                    "logger": record.name, "actor": str(actor) if actor is not None else None,
                    "text": text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "..."}
            self.lines.append(line)
            if record.name in _QUIET or time.monotonic() >= self._follow_until:
                return
            if self._limit.allow():
                self._new.append(line)
            else:
                self._dropped += 1
        if self._loop is not None and self._wake is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop closed while a thread was still logging
                pass

    # -- answering ---------------------------------------------------------------------------------

    def recent(self, since: float | None = None, actor: str | None = None, limit: int = MAX_ANSWER_LINES,
               ) -> tuple[list[Line], int]:
        """The newest lines (at most ``limit``, and at most ``MAX_ANSWER_BYTES``) at or after ``since``, of
        ``actor`` if given, oldest first; and the newest sequence number so far."""
        with self._lines_lock:
            lines, seq = list(self.lines), self.seq
        chosen: list[Line] = []
        size = 0
        for line in reversed(lines):
            if (since is not None and line["at"] < since) or (actor is not None and line["actor"] != actor):
                continue
            size += len(line["text"]) + 80
            if len(chosen) >= limit or size > MAX_ANSWER_BYTES:
                break
            chosen.append(line)
        return chosen[::-1], seq

    def follow(self, seconds: float) -> float:
        """A follower's lease for ``seconds`` (at most ``FOLLOW_S``) from now; the seconds granted."""
        granted = max(0.0, min(seconds, FOLLOW_S))
        with self._lines_lock:
            self._follow_until = max(self._follow_until, time.monotonic() + granted)
        return granted

    # -- publishing, on the host's loop ------------------------------------------------------------

    def serve(self, events: EventPublisher) -> None:
        """Publish new lines as ``log`` events while a lease runs (call on the host's loop)."""
        self._events, self._loop, self._wake = events, asyncio.get_running_loop(), asyncio.Event()
        self._scope.spawn(self._publish(), "publish")

    async def stop(self) -> None:
        """No more publishing (the agent is stopping); the lines stay readable."""
        self._loop = None
        await self._scope.close()

    async def _publish(self) -> None:
        assert self._wake is not None and self._events is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(BATCH_S)  # gathers a batch: one event for a burst of lines, not one each
            with self._lines_lock:
                batch, self._new = self._new, []
                dropped, self._dropped = self._dropped, 0
            if batch or dropped:
                await self._events.publish(LOG, {"lines": batch, "dropped": dropped, "lines_per_s": LINES_PER_S})
