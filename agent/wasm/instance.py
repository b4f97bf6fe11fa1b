"""One actor instance inside wasmtime: a store, a component instance, and its ``handle`` export.

A component instance is used by one thread at a time (its lane's, see
``pi_edge.agent.host.lane``).  After a trap it is thrown away and a fresh one
made from the same compiled component, so one bad message never poisons the next.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field

import wasmtime
from wasmtime import component as wc

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ActorCallError, ActorLoadError, ActorRaisedError, ActorTrapError, CapabilityError
from pi_edge.agent.wasm.deadline import GuestDeadline
from pi_edge.agent.wasm.imports import define_imports, record
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.log_limit import LogLimit
from pi_edge.agent.wasm.runtime import LoadedComponent, Runtime, first_line
from pi_edge.agent.wasm.workarounds.export_call import ExportCall

log = logging.getLogger("pi_edge.instance")

#: How pi-edge's guard around an actor's handler (``actors/guard``, ``actors/js/entry.js``) marks an
#: exception the actor did not catch: the first line names it, each further line is one of its frames.
UNCAUGHT = "pi-edge-uncaught: "


@dataclass(frozen=True)
class Message:
    """What the ``handler`` export receives."""

    subject: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class ComponentInstance:
    """The sandbox side of one actor instance: what the host's ``Instance`` calls on its lane."""

    def __init__(self, runtime: Runtime, loaded: LoadedComponent, provider: DisplayProvider, limits: Limits,
                 granted: frozenset[str] | None = None, log_limit: LogLimit | None = None) -> None:
        self.runtime = runtime
        self.loaded = loaded
        self.name = loaded.name
        self.limits = limits
        if granted is not None and loaded.imports - granted:
            missing = ", ".join(sorted(loaded.imports - granted))
            raise CapabilityError(
                f"actor {self.name!r} imports {missing} but its claims do not grant it "
                f"(granted: {', '.join(sorted(granted)) or 'nothing'}); nothing was bound, not started"
            )
        self.linker = wc.Linker(runtime.engine)
        self.deadline = GuestDeadline(runtime.clock)
        self.logging = define_imports(self.linker, runtime.world, self.name, provider, granted,
                                      wrap=self.deadline.excluding,
                                      log_limit=log_limit or LogLimit(limits.log_lines_per_s))
        self.restarts = 0  # after a trap
        self.renewals = 0  # after ``limits.renew_after`` messages
        self._instantiate()

    def _instantiate(self) -> None:
        store = wasmtime.Store(self.runtime.engine)
        store.set_limits(memory_size=self.limits.memory_bytes)
        store.set_epoch_deadline(self.runtime.ticks_for(self.limits.deadline_ms))
        try:
            with self.runtime.clock.running():  # instantiation runs the guest's start-up code
                instance = self.linker.instantiate(store, self.loaded.component)
        except wasmtime.WasmtimeError as exc:
            raise ActorLoadError(f"actor {self.name!r}: cannot instantiate: {first_line(exc)}") from None
        handler = self.runtime.world.qualified("handler")
        index = instance.get_export_index(store, handler)
        func_index = instance.get_export_index(store, "handle", index) if index else None
        func = instance.get_func(store, func_index) if func_index else None
        if func is None:
            raise ActorLoadError(f"actor {self.name!r}: export {handler}#handle not found after instantiation")
        self.store, self.instance, self.handle_func = store, instance, ExportCall(func, store)
        self._calls = 0  # messages this instance has handled

    def call(self, message: Message) -> bytes:
        """Run ``handle``; the actor's ``err`` becomes ActorCallError, a trap ActorTrapError."""
        arg = record(subject=message.subject, headers=list(message.headers), body=bytes(message.body))
        self.deadline.arm(self.store, self.runtime.ticks_for(self.limits.deadline_ms))
        reason: str | None = None
        try:
            with self.runtime.clock.running():
                result = self.handle_func(self.store, arg)
        except Exception as exc:  # a trap (WasmtimeError), or anything else that broke the call
            reason = _trap_reason(exc, self.limits)
            _forget(exc)
        self.logging.report_dropped()
        if reason is not None:
            # Replaced outside the except block, so the error raised has no context holding the old store.
            log.warning("actor=%s trapped: %s; starting a fresh instance", self.name, reason)
            self._replace()
            raise ActorTrapError(f"actor {self.name!r} trapped: {reason}")
        if isinstance(result, str) and result.startswith(UNCAUGHT):
            # A bug, as a trap is: a fresh instance (its memory may be full), and supervision counts it.
            text = uncaught(result, self.limits)
            log.warning("actor=%s %s; starting a fresh instance", self.name, text)
            self._replace()
            raise ActorRaisedError(f"actor {self.name!r} {text}")
        self._calls += 1
        if self._calls >= self.limits.renew_after:
            self._renew()
        if isinstance(result, str):
            raise ActorCallError(result)
        return bytes(result)

    def _replace(self) -> None:
        self.restarts += 1
        self._instantiate()

    def _renew(self) -> None:
        """Start over with fresh memory: what the guest leaked so far is dropped with the old store.

        The message just handled has its answer already; if a fresh instance cannot
        be made, the old one carries on and the next message tries again.
        """
        try:
            self._instantiate()
        except ActorLoadError as exc:
            log.warning("actor=%s could not be renewed, keeping the running instance: %s", self.name, exc)
            return
        self.renewals += 1
        log.debug("actor=%s renewed after %d messages", self.name, self.limits.renew_after)


def _forget(exc: BaseException) -> None:
    """Let go of a failed call at once: its traceback's frames hold the store (the call's closures do),
    and frame and traceback form a cycle only the cycle collector would ever free.  A trap at the memory
    cap leaves that store holding its whole linear memory: 256 MiB a trap, kept until a full collection."""
    tb = exc.__traceback__
    if tb is not None:
        traceback.clear_frames(tb)
    exc.__traceback__ = None
    exc.__context__ = None


def _trap_reason(exc: BaseException, limits: Limits) -> str:
    """What a person can do about a trap; wasmtime's first line ("error while executing at wasm backtrace:")
    says nothing, the cause is on its last line."""
    if not isinstance(exc, wasmtime.WasmtimeError):  # not from the guest: a bug on the host side of the call
        return f"the host failed during the call ({type(exc).__name__}: {first_line(exc)})"
    text = str(exc)
    if "interrupt" in text:
        return f"it ran past its {limits.deadline_ms} ms deadline"
    cause = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), first_line(exc))
    if "libpython" in text:
        # CPython in the guest hit an exception nobody caught and stopped where it tried to print it
        # (that needs files the sandbox does not have).  'pi-edge build' wraps the handler so that this
        # does not happen: this component was built without it, or ran out of memory inside it.
        return ("its Python code raised an exception it did not catch, and this component cannot say which: "
                "rebuild it with 'pi-edge build', whose components name the exception and the actor's lines "
                f"(or it ran out of memory at its {limits.memory_bytes // 2**20} MiB cap: --memory-mb) ({cause})")
    return cause


def uncaught(marked: str, limits: Limits) -> str:
    """The guard's account of an uncaught exception as one line: ``raised KeyError: 'x' at app.py:9 in handle,
    called from ...`` (innermost frame first)."""
    first, *frames = marked.removeprefix(UNCAUGHT).splitlines()
    text = f"raised {first.strip()}"
    if frames:
        text += " at " + ", called from ".join(frame.strip() for frame in frames)
    if first.startswith("MemoryError"):
        text += f" (it reached its {limits.memory_bytes // 2**20} MiB memory cap: --memory-mb)"
    return text
