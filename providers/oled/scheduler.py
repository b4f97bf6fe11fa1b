"""Latest frame wins: one sender thread owns the bus, callers learn what became of their frame.

While a frame is on the wire, newer frames replace the one waiting behind it
(that caller hears "superseded" at once), so a burst of updates never queues.
Bus faults are retried with backoff; if the panel stays silent the scheduler
marks itself unhealthy, tells the caller, keeps the newest frame and keeps
trying to bring the panel back (re-initialised, frame re-sent in full).

Listeners (a frame shown, health changed) are called with no lock held, in
the order things happened: what they are told is queued under the lock and
delivered after it is released, so a listener may call back into the
provider, or wait for a thread that does, without stalling the frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from PIL import Image

from pi_edge.agent.display.provider import FrameReport, FrameStatus
from pi_edge.providers.oled.errors import ClosedError, DisplayUnavailableError, OledError

log = logging.getLogger(__name__)

#: Pauses between attempts at one frame before the panel is declared gone.
RETRY_DELAYS = (0.005, 0.02, 0.08)
#: Reconnection attempts back off from the first to the second value (seconds).
RECOVER_BACKOFF = (0.1, 5.0)


class FrameSink(Protocol):
    """Where frames go: a panel on a bus, or memory for the emulator."""

    def write(self, frame: Image.Image) -> int:
        """Send ``frame``; returns bytes on the bus; raises ``OledError`` on a fault."""
        ...

    def recover(self) -> None:
        """Re-open and re-initialise after a fault; raises ``OledError`` if still gone."""
        ...


HealthListener = Callable[[bool, str], None]
#: What listeners have yet to hear: a health change (healthy, reason), or None for a frame shown.
_News = tuple[bool, str] | None


class FrameTicket:
    """One caller's frame: ``wait()`` says whether and when it reached the panel."""

    def __init__(self) -> None:
        self.submitted = time.perf_counter()
        self._done = threading.Event()
        self._report: FrameReport | None = None
        self._error: OledError | None = None

    def resolve(self, status: FrameStatus, bus_bytes: int = 0) -> None:
        latency_ms = (time.perf_counter() - self.submitted) * 1000
        self._report = FrameReport(status=status, bus_bytes=bus_bytes, latency_ms=latency_ms)
        self._done.set()

    def fail(self, error: OledError) -> None:
        self._error = error
        self._done.set()

    def wait(self, timeout: float | None = None) -> FrameReport:
        if not self._done.wait(timeout):
            raise DisplayUnavailableError(f"the display did not take the frame within {timeout:g} s")
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report


class FrameScheduler:
    def __init__(self, sink: FrameSink, name: str, healthy: bool = True, reason: str = "",
                 on_health: HealthListener | None = None, on_sent: Callable[[], None] | None = None,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 recover_backoff: tuple[float, float] = RECOVER_BACKOFF) -> None:
        self.sink = sink
        self.name = name
        self.healthy = healthy
        self.reason = reason
        self.on_health = on_health
        self.on_sent = on_sent
        self.retry_delays = retry_delays
        self.recover_backoff = recover_backoff
        self.frames_sent = 0
        self.frames_superseded = 0
        #: The newest frame accepted; what the panel must show once it can.
        self.desired: Image.Image | None = None
        self._pending: tuple[Image.Image, list[FrameTicket]] | None = None
        self._cond = threading.Condition()  # guards the fields above and the two below
        self._news: deque[_News] = deque()
        self._telling = False  # a thread is delivering the news
        self._bus = threading.Lock()  # held for every transfer: frames and commands never interleave
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"oled-frames-{name}", daemon=True)
        self._thread.start()

    # -- callers ------------------------------------------------------------

    def submit(self, frame: Image.Image) -> FrameTicket:
        """Hand over ``frame``; it replaces any unsent one and never waits behind a busy bus.

        When the bus is idle the caller sends the frame itself (no thread hand-off:
        that is most of the cost of a small update); otherwise the frame waits for
        the sender thread, and the ticket says what became of it.
        """
        ticket = FrameTicket()
        with self._cond:
            if self._closed:
                raise ClosedError(f"the {self.name} display provider is closed")
            self.desired = frame
            if not self.healthy:
                ticket.fail(DisplayUnavailableError(
                    f"{self.reason}; the frame is kept and shown when the display answers again"))
                return ticket
            # Claiming the bus under the lock keeps frames in order: anything
            # submitted after this waits for the bus, so it lands after this frame.
            inline = self._pending is None and self._bus.acquire(blocking=False)
            if not inline:
                if self._pending is not None:
                    for older in self._pending[1]:
                        older.resolve("superseded")
                    self.frames_superseded += len(self._pending[1])
                self._pending = (frame, [ticket])
                self._cond.notify_all()
                return ticket
        try:
            failed = self._send(frame, [ticket])
        finally:
            self._bus.release()
        self._after_send([ticket], failed)
        return ticket

    def run_command(self, action: Callable[[], None]) -> None:
        """Run a bus command (contrast, power...) between frames; a fault marks the panel unhealthy."""
        with self._cond:
            if self._closed:
                raise ClosedError(f"the {self.name} display provider is closed")
            if not self.healthy:
                raise DisplayUnavailableError(f"{self.reason}; the setting is kept and applied when it returns")
        try:
            with self._bus:
                action()
        except OledError as exc:
            with self._cond:
                self._set_health(False, str(exc))
                self._cond.notify_all()
            self._tell_listeners()
            raise

    def wait_healthy(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.healthy or self._closed, timeout) and self.healthy

    def close(self, timeout: float = 5.0) -> None:
        """Finish the frame on the wire, drop the rest, stop the thread."""
        with self._cond:
            self._closed = True
            if self._pending is not None:
                for ticket in self._pending[1]:
                    ticket.fail(ClosedError(f"the {self.name} display provider closed before this frame was sent"))
                self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- the sender thread ---------------------------------------------------------

    def _run(self) -> None:
        backoff = self.recover_backoff[0]
        while True:
            with self._cond:
                while not self._closed and self.healthy and self._pending is None:
                    self._cond.wait()
                job, self._pending = self._pending, None  # None once closed: close() took it
                if not self._closed and not self.healthy:
                    self._cond.wait(backoff)  # woken early by close() or a new frame
                if self._closed:
                    return
            if job is not None:
                with self._bus:
                    failed = self._send(*job)
                self._after_send(job[1], failed)
            elif self._recover():
                backoff = self.recover_backoff[0]
            else:
                backoff = min(backoff * 2, self.recover_backoff[1])

    def _send(self, frame: Image.Image, tickets: list[FrameTicket]) -> OledError | None:
        """Send with retries; the caller holds the bus.

        Tickets hear "shown" or "superseded" here; a frame that failed returns the
        error its tickets are to fail with, after the listeners have heard (``_after_send``).
        """
        error: OledError | None = None
        for delay in (0.0, *self.retry_delays):
            if delay:
                with self._cond:
                    self._cond.wait(delay)
                    if self._closed:
                        error = ClosedError(f"the {self.name} display provider closed before this frame was sent")
                        break
                    if self._pending is not None:  # a newer frame arrived: this one is obsolete
                        self.frames_superseded += len(tickets)
                        for ticket in tickets:
                            ticket.resolve("superseded")
                        return None
            try:
                sent = self.sink.write(frame)
            except OledError as exc:
                error = exc
                log.warning("oled %s: frame not acknowledged: %s", self.name, exc)
                continue
            with self._cond:
                self.frames_sent += 1
                if self.on_sent is not None:
                    self._news.append(None)
            for ticket in tickets:
                ticket.resolve("shown", sent)
            return None
        assert error is not None
        if not isinstance(error, ClosedError):
            with self._cond:
                self._set_health(False, str(error))
            error = DisplayUnavailableError(f"{error}; the frame is kept and shown when the display answers again")
        return error

    def _after_send(self, tickets: list[FrameTicket], failed: OledError | None) -> None:
        """With the bus released: the listeners hear what happened, then the callers of a failed frame."""
        self._tell_listeners()
        if failed is not None:
            for ticket in tickets:
                ticket.fail(failed)

    def _recover(self) -> bool:
        with self._cond:
            desired = self.desired
        try:
            with self._bus:
                self.sink.recover()
                if desired is not None:
                    self.sink.write(desired)
        except OledError as exc:
            log.debug("oled %s: still unavailable: %s", self.name, exc)
            with self._cond:
                self.reason = str(exc)
            return False
        with self._cond:
            if self.on_sent is not None:
                self._news.append(None)
            self._set_health(True, "display answers again")
            if self.desired is not desired and self._pending is None and self.desired is not None:
                self._pending = (self.desired, [])  # a frame arrived while recovering
        self._tell_listeners()
        return True

    def _set_health(self, healthy: bool, reason: str) -> None:
        """Called with the lock held; a change is news for the health listener (``_tell_listeners``)."""
        if healthy == self.healthy:
            self.reason = reason if not healthy else ""
            return
        self.healthy = healthy
        self.reason = "" if healthy else reason
        self._cond.notify_all()
        log.log(logging.INFO if healthy else logging.WARNING, "oled %s: %s: %s", self.name,
                "healthy" if healthy else "unhealthy", reason)
        if self.on_health is not None:
            self._news.append((healthy, reason))

    def _tell_listeners(self) -> None:
        """Deliver the news queued so far, in order, with no lock held; one thread delivers at a time.

        Called after every change is made and its lock released.  News that comes
        while another thread is delivering is delivered by that thread.
        """
        if not self._news:  # unlocked peek: whoever queues news calls this after, and sees its own
            return
        with self._cond:
            if self._telling:
                return
            self._telling = True
        try:
            while True:
                with self._cond:
                    if not self._news:
                        self._telling = False  # in the same hold as the check: no news is left behind
                        return
                    news = self._news.popleft()
                self._tell(news)
        except BaseException:
            with self._cond:
                self._telling = False
            raise

    def _tell(self, news: _News) -> None:
        try:
            if news is None:
                if self.on_sent is not None:
                    self.on_sent()
            elif self.on_health is not None:
                self.on_health(*news)
        except Exception:  # a listener's bug must not stop the frames
            log.exception("oled %s: %s listener failed", self.name, "frame" if news is None else "health")
