"""The request and reply conventions every host and every client keeps.

A request carries its deadline (``Pi-Edge-Deadline``: Unix time in seconds,
when the sender stops waiting).  A host drops one that arrives, or waits its
turn, past it: after a partition the lattice delivers what it held back, and
a request its sender gave up on must not run then, out of order, and undo a
newer one.  Hosts need their clocks set (NTP; Raspberry Pi OS does it): a
clock far ahead would drop requests, one behind only keeps them longer.

A reply carries the actor's result as raw bytes; a failure carries the header
``Pi-Edge-Error`` with a one-line reason and the full text as the body.  An
actor's reply also names the host that answered (``Pi-Edge-Host``), so the
answers to a broadcast can be told apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

ERROR_HEADER = "Pi-Edge-Error"
HOST_HEADER = "Pi-Edge-Host"  # on every actor reply: the host that answered
RETRY_HEADER = "Pi-Edge-Retry-After"  # on a failure that is "not now": seconds after which to try again
DEADLINE_HEADER = "Pi-Edge-Deadline"


def with_deadline(headers: Mapping[str, str] | None, timeout: float) -> dict[str, str]:
    """``headers`` and the deadline of a request whose sender waits ``timeout`` seconds from now."""
    return {**(headers or {}), DEADLINE_HEADER: f"{time.time() + timeout:.3f}"}


def deadline_of(headers: Mapping[str, str] | None) -> float | None:
    """A request's deadline (Unix time), if it carries a well-formed one."""
    raw = (headers or {}).get(DEADLINE_HEADER)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def expired(headers: Mapping[str, str] | None, now: float | None = None) -> bool:
    """Whether a request's sender has stopped waiting (one without a deadline, or a malformed one, has not)."""
    deadline = deadline_of(headers)
    return deadline is not None and (time.time() if now is None else now) > deadline


class _Running(threading.local):
    deadline: float | None = None


#: The deadline of the request the current thread (an actor instance's lane) is running, if any: what the
#: actor's calls across the lattice on its behalf may take at most.
running = _Running()


def error_headers(reason: str, retry_after: int | None = None) -> dict[str, str]:
    """Headers for a failure reply; header values must be one line.  ``retry_after``: it is "not now"."""
    one_line = " ".join(reason.split())[:500]
    headers = {ERROR_HEADER: one_line or "error"}
    if retry_after is not None:
        headers[RETRY_HEADER] = str(retry_after)
    return headers


def failure(headers: Mapping[str, str] | None, body: bytes) -> str | None:
    """What went wrong, if this reply says something did: the full text, else the header's line."""
    if not headers or ERROR_HEADER not in headers:
        return None
    return body.decode("utf-8", "replace") or headers[ERROR_HEADER]
