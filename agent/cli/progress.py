"""Long work as a person sees it on stderr: each step with its elapsed time.

On a terminal a spinner line is redrawn ten times a second with the step, its
status (a bar when the fraction is known) and the seconds so far, and each
finished step stays as a line with its time.  Otherwise (a pipe, a log, CI)
plain lines only: each step as it begins, a percentage at each quarter, and
the end, all stamped with the seconds since the start.  Stdout stays the
command's own output.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
BAR = 20
REDRAW_S = 0.1


class StepsOnStderr:
    """A ``pi_edge.agent.progress.Progress`` for a command; ``with`` closes it (the spinner thread stops)."""

    def __init__(self, title: str, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._step: str | None = None
        self._step_started = self.started
        self._status = ""
        self._fraction: float | None = None
        self._quarter = 0
        self._frame = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.tty:
            self._thread = threading.Thread(target=self._spin, name="progress", daemon=True)
            self._thread.start()

    # -- Progress ------------------------------------------------------------------------------

    def step(self, text: str) -> None:
        with self._lock:
            self._finish_step()
            self._step, self._step_started = text, time.monotonic()
            self._status, self._fraction, self._quarter = "", None, 0
            if not self.tty:
                self._line(f"{self._stamp()} {self.title}: {text}")

    def status(self, text: str, fraction: float | None = None) -> None:
        with self._lock:
            self._status, self._fraction = text, fraction
            if not self.tty and fraction is not None and int(fraction * 4) > self._quarter:
                self._quarter = int(fraction * 4)
                self._line(f"{self._stamp()} {self.title}: {text} {fraction:.0%}".rstrip())

    def note(self, text: str) -> None:
        with self._lock:
            self._line(f"{self._clear()}  {text}" if self.tty else f"{self._stamp()} {text}")

    def out(self, text: str) -> None:
        """A line of the command's own output (stdout), with the spinner's line cleared first."""
        with self._lock:
            if self.tty:
                self.stream.write(self._clear())
                self.stream.flush()
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    # -- the end ---------------------------------------------------------------------------------

    def close(self, ok: bool = True) -> None:
        """The last step is done (or failed); the spinner stops.  Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if ok:
                self._finish_step()
            elif self._step is not None and self.tty:
                self._line(f"{self._clear()}✗ {self._step}  {time.monotonic() - self._step_started:.1f} s")
            self._step = None

    def __enter__(self) -> StepsOnStderr:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(ok=exc is None)

    # -- drawing ---------------------------------------------------------------------------------

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self.started:5.1f} s]"

    def _clear(self) -> str:
        return "\r\x1b[K"

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _finish_step(self) -> None:
        if self._step is not None and self.tty:
            self._line(f"{self._clear()}✓ {self._step}  {time.monotonic() - self._step_started:.1f} s")

    def _spin(self) -> None:
        while not self._stop.wait(REDRAW_S):
            with self._lock:
                if self._step is None:
                    continue
                self._frame += 1
                status = f" {self._status}" if self._status else ""
                if self._fraction is not None:
                    filled = round(max(0.0, min(1.0, self._fraction)) * BAR)
                    status += f" [{'#' * filled}{'.' * (BAR - filled)}] {self._fraction:.0%}"
                spinner = SPINNER[self._frame % len(SPINNER)]
                self.stream.write(f"{self._clear()}{spinner} {self._step}{status}  "
                                  f"{time.monotonic() - self._step_started:.1f} s")
                self.stream.flush()
