"""The reply convention every host and every client keeps.

A reply carries the actor's result as raw bytes; a failure carries the header
``Pi-Edge-Error`` with a one-line reason and the full text as the body.  An
actor's reply also names the host that answered (``Pi-Edge-Host``), so the
answers to a broadcast can be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping

ERROR_HEADER = "Pi-Edge-Error"
HOST_HEADER = "Pi-Edge-Host"  # on every actor reply: the host that answered


def error_headers(reason: str) -> dict[str, str]:
    """Headers for a failure reply; header values must be one line."""
    one_line = " ".join(reason.split())[:500]
    return {ERROR_HEADER: one_line or "error"}


def failure(headers: Mapping[str, str] | None, body: bytes) -> str | None:
    """What went wrong, if this reply says something did: the full text, else the header's line."""
    if not headers or ERROR_HEADER not in headers:
        return None
    return body.decode("utf-8", "replace") or headers[ERROR_HEADER]
