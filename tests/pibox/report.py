"""What a box run found: each check passed, failed or skipped (with why), and the numbers it measured."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.pibox.run import say


@dataclass
class Report:
    title: str
    results: list[tuple[str, str, str]] = field(default_factory=list)  # (PASS|FAIL|SKIP, check, detail)
    numbers: list[tuple[str, str]] = field(default_factory=list)

    @contextmanager
    def check(self, name: str) -> Iterator[Callable[[str], None]]:
        """``with report.check("READY") as detail: ...``: an exception fails it."""
        details: list[str] = []
        say(f"check: {name}")
        try:
            yield details.append
        except Exception as exc:
            self._add("FAIL", name, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            traceback.print_exc()
        else:
            self._add("PASS", name, "; ".join(details))

    def skip(self, name: str, why: str) -> None:
        self._add("SKIP", name, why)

    def number(self, what: str, value: str) -> None:
        say(f"measured: {what}: {value}")
        self.numbers.append((what, value))

    def _add(self, verdict: str, name: str, detail: str) -> None:
        say(f"{verdict} {name}{': ' + detail if detail else ''}")
        self.results.append((verdict, name, detail))

    @property
    def failed(self) -> bool:
        return any(verdict == "FAIL" for verdict, _, _ in self.results)

    def text(self) -> str:
        lines = [f"== {self.title}"]
        lines += [f"{verdict:4} {name}{': ' + detail if detail else ''}" for verdict, name, detail in self.results]
        counts = {v: sum(1 for r in self.results if r[0] == v) for v in ("PASS", "FAIL", "SKIP")}
        lines.append(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
        if self.numbers:
            lines.append("-- measured")
            lines += [f"{what}: {value}" for what, value in self.numbers]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.text())
        say(f"report: {path}")
