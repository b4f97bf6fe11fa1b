"""The epoch clock behind actor deadlines, ticking only while actor code may be running.

Epoch interruption needs something to advance the engine's epoch.  A thread
that ticks forever costs an idle agent a wake-up every tick: 1.5 % of a core
on the development VM, more on a Pi Zero, for nothing, since deadlines only
matter while Wasm runs.  So every entry into an actor is wrapped in
``running()``; the clock ticks while any is in progress and for ``idle_s``
after the last one ends, then parks until the next.  A deadline counts ticks
from the epoch at which it was set, and a parked clock does not move the
epoch, so parking never shortens or stretches a deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import wasmtime


class EpochClock:
    def __init__(self, engine: wasmtime.Engine, tick_s: float, idle_s: float = 1.0) -> None:
        self.engine = engine
        self.tick_s = tick_s
        self.idle_s = idle_s
        self.ticks = 0
        self.parked = threading.Event()  # set while parked (tests wait on it)
        self._running = 0  # entries into Wasm in progress
        self._idle_ticks = 0  # ticks since the last entry ended with none left running
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._tick, name="pi-edge-epoch", daemon=True)
        self._thread.start()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Around anything that runs guest code: instantiation and calls."""
        with self._cond:
            self._running += 1
            self._idle_ticks = 0
            if self.parked.is_set():
                self.parked.clear()
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1)

    def _closing(self) -> bool:
        """Read under the condition's lock: ``close()`` sets it from another thread."""
        return self._closed

    def _tick(self) -> None:
        idle_limit = max(1, round(self.idle_s / self.tick_s))
        with self._cond:
            while not self._closing():
                if self._running == 0 and self._idle_ticks >= idle_limit:
                    self.parked.set()
                    while self.parked.is_set() and not self._closing():
                        self._cond.wait()
                    continue
                self._cond.wait(self.tick_s)  # a tick; close() cuts it short
                if self._closing():
                    return
                self.engine.increment_epoch()
                self.ticks += 1
                if self._running == 0:
                    self._idle_ticks += 1
