"""A message's deadline counts the actor's own time, not the host's.

Epoch interruption traps the guest once the engine's epoch passes the
deadline set for the call.  The epoch keeps advancing while the guest waits
in a host function (a frame on a slow bus, a linked display across the
lattice), so without this a provider slower than the deadline made the
actor trap, where it should have got the provider's ``err`` and answered.
Host functions have bounds of their own (frame and request timeouts); the
time they take is given back to the guest when they return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from pi_edge.agent.wasm.epoch_clock import EpochClock

HostFunction = Callable[..., Any]  # (store, *args) -> result, as the linker calls it


class GuestDeadline:
    """The epoch at which the running call traps; moved on by the time spent in host functions."""

    def __init__(self, clock: EpochClock) -> None:
        self.clock = clock
        self._at = 0  # the clock's tick count at which the guest traps

    def arm(self, store: wasmtime.Store, ticks: int) -> None:
        """Before a call: the guest may run ``ticks`` epochs from now."""
        self._at = self.clock.ticks + ticks
        store.set_epoch_deadline(ticks)

    def excluding(self, function: HostFunction) -> HostFunction:
        """``function`` as a host function whose own time does not count against the guest's deadline."""
        def call(store: Any, *args: Any) -> Any:
            left = self._at - self.clock.ticks
            try:
                return function(store, *args)
            finally:
                left = max(left, 1)
                ffi.wasmtime_context_set_epoch_deadline(store._context(), left)
                self._at = self.clock.ticks + left

        return call
