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

from dataclasses import dataclass

from .packing import Pages


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


def changed_runs(old: bytes, new: bytes, gap: int) -> list[tuple[int, int]]:
    """Inclusive column ranges where ``new`` differs from ``old``, joining gaps up to ``gap`` bytes."""
    if old == new:
        return []
    runs: list[tuple[int, int]] = []
    start = end = -1
    for col, (a, b) in enumerate(zip(old, new)):
        if a == b:
            continue
        if start < 0:
            start = end = col
        elif col - end - 1 <= gap:
            end = col
        else:
            runs.append((start, end))
            start = end = col
    runs.append((start, end))
    return runs


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

    # best[i]: cheapest cost for pages < i, with the windows that achieve it.
    best: list[tuple[int, list[Window]]] = [(0, [])]
    for end in range(1, pages + 1):
        page = end - 1
        own = sum(overhead + b - a + 1 for a, b in runs[page])
        cost, plan = best[page]
        choice = (cost + own, plan + [Window(page, page, a, b) for a, b in runs[page]])
        lo, hi = width, -1
        for start in range(page, -1, -1):  # one rectangle over pages start..page
            if runs[start]:
                lo, hi = min(lo, runs[start][0][0]), max(hi, runs[start][-1][1])
            if start == page or hi < 0:
                continue
            rect = Window(start, page, lo, hi)
            cost = best[start][0] + overhead + rect.size
            if cost < choice[0]:
                choice = (cost, best[start][1] + [rect])
        best.append(choice)
    return best[pages][1]
