"""What long work (a build, a compile, an upload, a fetch, a deploy) says while it runs.

The work calls ``step`` as it enters each step and ``status`` with what it is at
inside it (a percentage, a host's phase); how that is shown is the caller's
business: the CLI draws a spinner on a terminal and prints plain lines
otherwise (``pi_edge.agent.cli.progress``), the agent logs, tests listen.
``NO_PROGRESS`` says nothing.  Calls may come from any thread.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def step(self, text: str) -> None:
        """A new step begins (the one before it is done): "componentize-py (about 10 s)"."""
        ...

    def status(self, text: str, fraction: float | None = None) -> None:
        """Where the current step is: "pi-01 fetching", 0.4; ``fraction`` 0..1 when it is known."""
        ...

    def note(self, text: str) -> None:
        """A line to keep, between the steps: "pi-01: compiled in 4.1 s"."""
        ...


class _Silent:
    def step(self, text: str) -> None:
        pass

    def status(self, text: str, fraction: float | None = None) -> None:
        pass

    def note(self, text: str) -> None:
        pass


NO_PROGRESS: Progress = _Silent()
