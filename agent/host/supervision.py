"""How an actor that keeps trapping is treated: restarted at once the first time, then with
growing pauses, and marked failed after too many traps in a window.

A trap already gets a fresh instance (``ComponentInstance``); this decides whether
the next message may use it yet.  A failed actor answers every message at once
with the reason, so it never holds up the host or any other actor.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from pi_edge.agent.errors import ActorBusyError, ActorCallError


@dataclass(frozen=True)
class SupervisionPolicy:
    max_traps: int = 5  # in window_s, then the actor is marked failed
    window_s: float = 60.0
    first_backoff_s: float = 0.1  # pause after the second trap in a row; doubles each time
    max_backoff_s: float = 5.0


class Supervisor:
    def __init__(self, name: str, policy: SupervisionPolicy | None = None) -> None:
        self.name = name
        self.policy = policy or SupervisionPolicy()
        self.failed_reason: str | None = None
        self._traps: deque[float] = deque()
        self._in_a_row = 0
        self._paused_until = 0.0

    def admit(self) -> None:
        """Raise if a message may not run now: the actor failed, or is pausing after traps."""
        if self.failed_reason is not None:
            raise ActorCallError(self.failed_reason)
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            raise ActorBusyError(f"actor {self.name!r} is restarting after {self._in_a_row} traps in a row; "
                                 f"retry in {wait:.1f} s")

    def reset(self) -> None:
        """A fresh start: what made the actor fail may have been fixed (a link, a reload)."""
        self.failed_reason = None
        self._traps.clear()
        self._in_a_row = 0
        self._paused_until = 0.0

    def succeeded(self) -> None:
        self._in_a_row = 0

    def trapped(self) -> bool:
        """Record a trap; True when this one marks the actor failed."""
        now = time.monotonic()
        p = self.policy
        self._traps.append(now)
        while self._traps and self._traps[0] < now - p.window_s:
            self._traps.popleft()
        self._in_a_row += 1
        if len(self._traps) >= p.max_traps:
            self.failed_reason = (f"actor {self.name!r} is marked failed: it trapped {len(self._traps)} times "
                                  f"within {p.window_s:g} s; fix it and deploy it again")
            return True
        if self._in_a_row >= 2:
            self._paused_until = now + min(p.first_backoff_s * 2 ** (self._in_a_row - 2), p.max_backoff_s)
        return False
