"""What commands print: one line at a time, flushed as it goes, and one line per host for an
operation on several hosts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

from pi_edge.agent.errors import PiEdgeError
from pi_edge.agent.lattice.client import HostResult


def until_interrupted(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a command that follows the lattice until Ctrl-C, which ends it as asked (exit 0)."""
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def out(text: str, stream: TextIO | None = None) -> None:
    """A line of command output: stdout unless ``stream`` says otherwise (notes beside machine-read output)."""
    stream = stream or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def report(answers: list[HostResult], describe: Callable[[dict[str, Any]], str]) -> int:
    """One line per host; PiEdgeError (non-zero exit) if any failed."""
    failed = 0
    for name, result in answers:
        if isinstance(result, PiEdgeError):
            failed += 1
            out(f"  {name}: error: {result}")
        else:
            out(f"  {name}: {describe(result)}")
    if failed:
        raise PiEdgeError(f"{failed} of {len(answers)} host(s) failed (see above)")
    return 0
