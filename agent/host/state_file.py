"""The host's state files: written so that no crash or full disk leaves one half-written, read so that
damage never keeps the agent from starting.

A write goes to a temporary file, is flushed to the disk (fsync), and is
renamed over the old one; the generation it replaces stays beside it as
``NAME.prev`` (a hard link: no copy).  A file that cannot be read back
(empty, garbage, the wrong shape) is moved aside as
``NAME.damaged-<time>``, said at ERROR and kept in ``damage`` for an event,
and the previous generation, or nothing, is used instead: a Pi that cannot
read what it was told to run still joins the lattice and can be told again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from pi_edge.agent.errors import StateError
from pi_edge.agent.files import write_atomically

log = logging.getLogger("pi_edge.state")

T = TypeVar("T")


class StateFile(Generic[T]):
    """One JSON file of host state; ``parse`` turns its decoded JSON into ``T`` (ValueError, KeyError or
    TypeError for the wrong shape)."""

    def __init__(self, path: Path, what: str, remedy: str, parse: Callable[[object], T],
                 empty: Callable[[], T]) -> None:
        self.path = path
        self.previous = path.with_name(path.name + ".prev")
        self.what = what  # what a damaged file loses: "the actors deployed to this host"
        self.remedy = remedy  # how to get it back: "deploy them again"
        self.parse = parse
        self.empty = empty
        #: One sentence per file found damaged while reading, for the host to publish once it is on the lattice.
        self.damage: list[str] = []

    def read(self) -> T:
        """The newest generation that reads back; damaged ones are moved aside and reported."""
        for candidate in (self.path, self.previous):
            if not candidate.exists():
                continue
            try:
                return self.parse(json.loads(candidate.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._set_aside(candidate, exc)
        return self.empty()

    def _set_aside(self, candidate: Path, why: BaseException) -> None:
        aside = candidate.with_name(f"{candidate.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(candidate, aside)
            where = f"moved aside as {aside.name}"
        except OSError as exc:
            where = f"left in place ({exc.strerror or exc})"
        fallback = "the previous generation" if candidate == self.path and self.previous.exists() else "nothing"
        text = (f"{candidate} is damaged ({type(why).__name__}: {why}); {where}; using {fallback} instead, so "
                f"{self.what} may be lost: {self.remedy}")
        log.error("state: %s", text)
        self.damage.append(text)

    def write(self, value: object) -> None:
        """Save ``value`` (JSON-able); StateError, with nothing changed on disk, if it cannot be saved."""
        data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                self._keep_previous()
            write_atomically(self.path, data)
        except OSError as exc:
            raise StateError(f"cannot save {self.path}: {exc.strerror or exc}") from None

    def _keep_previous(self) -> None:
        if self.previous.exists() and os.path.samefile(self.path, self.previous):
            return  # kept already (a save that failed after this step); rename() would leave the link behind
        link = self.previous.with_name(f".{self.previous.name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        try:
            try:
                os.link(self.path, link)
            except OSError:  # a file system without hard links: a copy will do
                shutil.copyfile(self.path, link)
            os.replace(link, self.previous)
        except BaseException:
            with contextlib.suppress(OSError):
                link.unlink()
            raise
