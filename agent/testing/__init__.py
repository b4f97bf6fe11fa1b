"""Test your own actor in-process: built, loaded on a simulated display, and called with a message.

No lattice, no agent, no hardware: the same sandbox the agent runs actors in
(wasmtime, the world's imports, the deadline and memory cap), with the display
import bound to a simulated SSD1306 (or any provider you pass)::

    from pi_edge.testing import load_actor

    def test_it_says_hello():
        with load_actor("path/to/my_actor") as actor:   # a folder (built, cached) or a .wasm
            assert actor.send("Hello") == b"shown: Hello"
            assert actor.screen().lit() > 0               # something is on the glass
            print(actor.screen().halfblocks())            # ... and what

A folder is built as ``pi-edge build`` would (cached by its sources' digest,
so after a build this costs nothing); compiled code is cached too.  An actor's
``err`` raises ``ActorCallError`` with its text, an exception it did not catch
``ActorRaisedError`` naming the exception and its lines, a deadline
``ActorTrapError``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pi_edge.agent.display.plugins import load_plugin
from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.display.screen import Screen
from pi_edge.agent.errors import ActorCallError, ActorRaisedError, ActorTrapError, PiEdgeError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.wasm.build import actor_name, build_actor
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime

__all__ = ["ActorCallError", "ActorRaisedError", "ActorTrapError", "ActorUnderTest", "Limits", "LogLine",
           "PiEdgeError", "load_actor"]

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class LogLine:
    """One line the actor wrote through its ``logging`` import."""

    level: str  # as the agent's log has it: DEBUG, INFO, WARNING, ERROR, CRITICAL
    context: str
    message: str


class _Lines(logging.Handler):
    """The actor's lines, as the agent would log them (``pi_edge.actor``, its name first)."""

    def __init__(self, actor: str) -> None:
        super().__init__(logging.DEBUG)
        self.actor = actor
        self.lines: list[LogLine] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 3 and args[0] == self.actor:
            self.lines.append(LogLine(record.levelname, str(args[1]), str(args[2])))


class ActorUnderTest:
    """One instance of an actor, and the display it draws on; close it (or use ``with``) when done."""

    def __init__(self, name: str, runtime: Runtime, instance: ComponentInstance, provider: DisplayProvider,
                 owns_provider: bool) -> None:
        self.name = name
        self.runtime = runtime
        self.instance = instance
        self.provider = provider
        self._owns_provider = owns_provider
        self._lines = _Lines(name)
        self._logger = logging.getLogger("pi_edge.actor")
        self._logger.addHandler(self._lines)
        self._level = self._logger.level
        if not self._logger.isEnabledFor(logging.DEBUG):
            self._logger.setLevel(logging.DEBUG)

    def send(self, body: bytes | str = b"", headers: Headers | None = None, subject: str | None = None) -> bytes:
        """The actor's reply to one message (text is sent as UTF-8); its errors raise, see the module."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        return self.instance.call(Message(subject or subjects.actor(subjects.DEFAULT_LATTICE, self.name), data,
                                          pairs))

    def screen(self) -> Screen:
        """What the display shows now: ``.lit()`` counts lit pixels, ``.halfblocks()`` draws it as text,
        ``.write_png(path)`` saves it."""
        return self.provider.snapshot()

    @property
    def logs(self) -> list[LogLine]:
        """Every line the actor logged so far."""
        return list(self._lines.lines)

    def close(self) -> None:
        self._logger.removeHandler(self._lines)
        self._logger.setLevel(self._level)
        if self._owns_provider:
            self.provider.close()
        self.runtime.close()

    def __enter__(self) -> ActorUnderTest:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def load_actor(source: str | os.PathLike[str], *, name: str | None = None, provider: DisplayProvider | None = None,
               width: int = 128, height: int = 64, limits: Limits | None = None,
               cache_dir: str | os.PathLike[str] | None = None) -> ActorUnderTest:
    """An actor from its folder (built, or reused from the build cache) or a built ``.wasm``.

    ``provider``: the display its ``display`` import draws on (default: a simulated ``width`` x ``height``
    SSD1306 on pi-edge's fake I2C bus, closed with the actor).  ``limits``: its deadline, memory cap and
    message size, as on a host (default: the agent's defaults).  ``cache_dir``: where builds and compiled
    code are kept (default: pi-edge's cache, ``~/.cache/pi-edge``).
    """
    path = Path(source)
    cache = Path(cache_dir) if cache_dir is not None else None
    wasm = build_actor(path, cache).path if path.is_dir() else path
    actor = subjects.check_token("actor", name or (actor_name(path) if path.is_dir() else path.stem))
    runtime = Runtime(cache_dir=cache)
    owns = provider is None
    display = provider if provider is not None else load_plugin().simulated(width, height)
    try:
        instance = ComponentInstance(runtime, runtime.load_file(actor, wasm), display, limits or Limits())
    except BaseException:
        if owns:
            display.close()
        runtime.close()
        raise
    return ActorUnderTest(actor, runtime, instance, display, owns)
