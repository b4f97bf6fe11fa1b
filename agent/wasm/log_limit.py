"""How much an actor may write to the agent's log: a rate, with bursts, and a count of what was dropped.

An actor's log lines land in the journal of a Pi that may run for months
unwatched; one actor logging in a loop wrote 138 MiB in 2 seconds.  Past its
rate an actor's lines are dropped, counted, and reported in one line.
"""

from __future__ import annotations

import threading
import time

#: How many seconds' worth of lines a quiet actor may write at once.
BURST_S = 5.0
#: At most one "lines dropped" report per this many seconds: a busy actor over its rate for hours
#: gets a line every so often, not one per message.
REPORT_EVERY_S = 10.0


class LogLimit:
    """A token bucket shared by every instance of one actor (they run on threads of their own)."""

    def __init__(self, lines_per_s: int) -> None:
        self.rate = float(lines_per_s)
        self.capacity = self.rate * BURST_S
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._dropped = 0
        self._reported = float("-inf")
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """True if a line may be written now; else it is counted as dropped."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self._dropped += 1
            return False

    def take_dropped(self) -> int:
        """Lines dropped since the last report, if one is due (else 0: they are reported later)."""
        with self._lock:
            now = time.monotonic()
            if not self._dropped or now - self._reported < REPORT_EVERY_S:
                return 0
            dropped, self._dropped, self._reported = self._dropped, 0, now
            return dropped
