"""A warning that repeats is said once, then counted: the journal of a Pi left alone for months must not fill
with the same line every second.

``Repeats.log`` writes a message the first time it is seen (under its key);
while the same key keeps coming it only counts, and at most once per
``every`` seconds writes one line with the count so far ("... (said 57 more
times in 60 s)").  No timer runs: the count goes out with the next repeat
after the period, and ``reset`` (the cause went away) says the last count.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass


@dataclass
class _Seen:
    message: str
    count: int  # repeats since the last line written
    since: float  # when that line was written


class Repeats:
    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self.logger = logger
        self.every = every
        self._clock = time.monotonic
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()  # nats-server's log reader and the event loop both log through one

    def log(self, level: int, key: str, message: str) -> None:
        """``message`` now if ``key`` is new (or quiet for ``every`` s), else counted."""
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = _Seen(message, 0, now)
                line = message
            elif now - seen.since >= self.every:
                line = f"{message} (said {seen.count + 1} times in the last {now - seen.since:.0f} s)"
                self._seen[key] = _Seen(message, 0, now)
            else:
                seen.count += 1
                seen.message = message
                return
        self.logger.log(level, "%s", line)

    def reset(self, key: str, level: int = logging.INFO) -> None:
        """The cause of ``key`` went away: say how often it was repeated since its last line, if at all."""
        with self._lock:
            seen = self._seen.pop(key, None)
        if seen is not None and seen.count:
            self.logger.log(level, "%s (repeated %d more times since, now over)", seen.message, seen.count)
