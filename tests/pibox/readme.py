"""The README's own steps, read from it, so what the box runs is what a person is told to type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True)
class Step:
    command: str  # as the README writes it, without its comment
    comment: str


def block(heading: str, nth: int = 0) -> list[Step]:
    """The commands of the ``nth`` sh block under ``heading`` (a README heading's text)."""
    text = README.read_text(encoding="utf-8")
    at = re.search(rf"^#+ {re.escape(heading)}\s*$", text, re.M)
    if at is None:
        raise LookupError(f"README.md has no heading {heading!r}")
    blocks = re.findall(r"```sh\n(.*?)```", text[at.end():], re.S)
    steps = []
    for line in blocks[nth].splitlines():
        command, _, comment = line.partition(" #")
        if command.strip() and not command.lstrip().startswith("#"):
            steps.append(Step(command.strip(), comment.strip()))
    return steps
