"""Which parts of panel memory to rewrite: the cheapest set of windows for a change.

A window is a rectangle of pages x columns written with one addressing
command and one data burst.  Every window costs a fixed overhead (its address
commands and transaction framing) plus one byte per column per page, so:
nearby changes in a page share a window when the gap is cheaper to resend
than to skip, and on controllers with a page *and* column window (SSD1306
horizontal addressing) consecutive pages merge into one rectangle when that
costs fewer bytes than writing them one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pi_edge.providers.oled.packing import Pages


@dataclass(frozen=True)
class Window:
    """Pages ``first_page..last_page`` and columns ``first_col..last_col``, inclusive."""

    first_page: int
    last_page: int
    first_col: int
    last_col: int

    @property
    def columns(self) -> int:
        return self.last_col - self.first_col + 1

    @property
    def size(self) -> int:
        """Data bytes this window writes."""
        return self.columns * (self.last_page - self.first_page + 1)


@lru_cache(maxsize=16)
def _runs_pattern(gap: int) -> re.Pattern[bytes]:
    """Non-zero bytes joined across zero gaps of at most ``gap``: one regex, run in C."""
    return re.compile(rb"[^\x00](?:\x00{0,%d}[^\x00])*" % gap)


def changed_runs(old: bytes, new: bytes, gap: int) -> list[tuple[int, int]]:
    """Inclusive column ranges where ``new`` differs from ``old``, joining gaps up to ``gap`` bytes."""
    if old == new:
        return []
    diff = (int.from_bytes(old, "big") ^ int.from_bytes(new, "big")).to_bytes(len(new), "big")
    first, end = len(diff) - len(diff.lstrip(b"\0")), len(diff.rstrip(b"\0"))
    if diff.count(0, first, end) <= gap:  # no gap inside can be worth a window of its own
        return [(first, end - 1)]
    return [(m.start(), m.end() - 1) for m in _runs_pattern(gap).finditer(diff)]


def plan_windows(old: Pages | None, new: Pages, overhead: int, rectangles: bool) -> list[Window]:
    """The windows that turn ``old`` into ``new`` for the fewest bytes on the bus.

    ``old=None`` means the panel's memory is unknown (just initialised, or a
    transfer failed half-way): everything is written.  ``overhead`` is the
    cost of one window in bytes; ``rectangles`` says whether the controller
    can address several pages in one window.
    """
    pages, width = len(new), len(new[0]) if new else 0
    if old is None:
        if rectangles:
            return [Window(0, pages - 1, 0, width - 1)] if pages else []
        return [Window(p, p, 0, width - 1) for p in range(pages)]

    runs = [changed_runs(old[p], new[p], overhead) for p in range(pages)]
    if not rectangles:
        return [Window(p, p, a, b) for p in range(pages) for a, b in runs[p]]

    # Shortest path over page boundaries: best[i] is the cheapest cover of pages < i;
    # step[i] says how it was reached: (start page, columns) for a rectangle, or None
    # for page i-1 covered by its own runs.
    best = [0] * (pages + 1)
    step: list[tuple[int, int, int] | None] = [None] * (pages + 1)
    own = [sum(overhead + b - a + 1 for a, b in r) for r in runs]
    lows = [r[0][0] if r else width for r in runs]
    highs = [r[-1][1] if r else -1 for r in runs]
    changed = [p for p in range(pages) if runs[p]]
    for end in range(1, pages + 1):
        page = end - 1
        best[end] = best[page] + own[page]
        if not runs[page]:
            continue  # a rectangle ending on an unchanged page costs more than one ending before it
        lo, hi = lows[page], highs[page]
        # One rectangle over pages start..page; starting on an unchanged page never pays.
        for start in reversed(changed[:changed.index(page)]):
            lo, hi = min(lo, lows[start]), max(hi, highs[start])
            cost = best[start] + overhead + (hi - lo + 1) * (end - start)
            if cost < best[end]:
                best[end], step[end] = cost, (start, lo, hi)
    plan: list[Window] = []
    end = pages
    while end > 0:
        how = step[end]
        if how is None:
            plan[:0] = [Window(end - 1, end - 1, a, b) for a, b in runs[end - 1]]
            end -= 1
        else:
            start, lo, hi = how
            plan.insert(0, Window(start, end - 1, lo, hi))
            end = start
    return plan
