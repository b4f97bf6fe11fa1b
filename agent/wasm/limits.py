"""Sandbox limits for one actor instance, with defaults that suit a Pi."""

from __future__ import annotations

from dataclasses import dataclass

from pi_edge.agent.errors import ConfigError

#: The smallest limits an actor can work under; the configuration refuses smaller values by these too.
MIN_DEADLINE_MS = 10
MIN_MEMORY_MB = 16
MIN_MESSAGE_KB = 1


@dataclass(frozen=True)
class Limits:
    """How long one message may run, how much memory an instance may grow to, how big a message may be."""

    deadline_ms: int = 2000
    memory_bytes: int = 256 * 1024 * 1024
    max_message_bytes: int = 64 * 1024
    #: Log lines an actor may write per second (all its instances together), with bursts of a few
    #: seconds' worth; past that, lines are dropped and counted, and one line says how many.
    log_lines_per_s: int = 100
    #: The largest component a host fetches and compiles (checked from the store's metadata first).
    max_component_bytes: int = 64 * 2**20
    #: Messages an instance handles before a fresh one replaces it, between two messages.  Guest
    #: runtimes leak a little per call (componentize-py 0.25.1 keeps the bytes an export returns:
    #: ~100 bytes a message), which would otherwise grow until the memory cap traps; a new
    #: instance costs under a millisecond.  Actors keep no state across messages anyway.
    renew_after: int = 10_000

    def __post_init__(self) -> None:
        for field, value, low in (
            ("deadline_ms", self.deadline_ms, MIN_DEADLINE_MS),
            ("memory_bytes", self.memory_bytes, MIN_MEMORY_MB * 2**20),
            ("max_message_bytes", self.max_message_bytes, 1),
            ("renew_after", self.renew_after, 1),
            ("log_lines_per_s", self.log_lines_per_s, 1),
            ("max_component_bytes", self.max_component_bytes, 1),
        ):
            if value < low:
                raise ConfigError(f"limit {field}={value} is too small; it must be at least {low}")
