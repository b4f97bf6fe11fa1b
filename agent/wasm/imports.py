"""The host side of the world's imports: ``display`` bound to a provider, ``logging`` to our log.

Host functions never raise into wasmtime: a provider failure becomes the
``err`` of the call's ``result``, so the actor decides what to do with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from wasmtime import component as wc

from pi_edge.agent.display.provider import ALIGNMENTS, DisplayProvider, FrameReport, TextOptions
from pi_edge.agent.errors import ProviderError
from pi_edge.agent.wasm.log_limit import LogLimit
from pi_edge.agent.wasm.wit import WorldContract
from pi_edge.agent.wasm.workarounds.import_call import add_host_func

MAX_LOG_CHARS = 2000
T = TypeVar("T")

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def record(**fields: Any) -> wc.Record:
    """A WIT record; field names keep their kebab-case WIT spelling (``font_size`` is ``font-size``)."""
    rec = wc.Record()
    for name, value in fields.items():
        setattr(rec, name.replace("_", "-"), value)
    return rec


def record_field(rec: wc.Record, name: str) -> Any:
    """A field of a WIT record from the guest, by its WIT name (wasmtime-py's records are untyped)."""
    return getattr(rec, name)


def _framerecord(report: FrameReport) -> wc.Record:
    latency_us = min(int(report.latency_ms * 1000), 2**32 - 1)
    return record(status=report.status, bus_bytes=min(report.bus_bytes, 2**32 - 1), latency_us=latency_us)


class DisplayImports:
    """``display`` for one actor; results follow wasmtime-py's untagged ``result`` lowering."""

    def __init__(self, actor: str, provider: DisplayProvider) -> None:
        self.actor = actor
        self.provider = provider
        self.logger = logging.getLogger("pi_edge.display")

    def _guard(self, op: str, call: Callable[[], T]) -> T | str:
        try:
            return call()
        except ProviderError as exc:
            self.logger.warning("actor=%s op=%s display error: %s", self.actor, op, exc)
            return str(exc)
        except Exception as exc:  # a provider bug must not trap the guest or kill the host
            self.logger.exception("actor=%s op=%s provider failed unexpectedly", self.actor, op)
            return f"display provider failed on {op}: {type(exc).__name__}: {exc}"

    def info(self, _store: object) -> wc.Record:
        i = self.provider.info()
        return record(width=i.width, height=i.height, driver=i.driver)

    def clear(self, _store: object) -> wc.Record | str:
        return self._guard("clear", lambda: _framerecord(self.provider.clear()))

    def show_text(self, _store: object, text: str, options: wc.Record) -> wc.Record | str:
        def run() -> wc.Record:
            align = record_field(options, "align")
            if align not in ALIGNMENTS:
                raise ProviderError(f"unknown alignment {align!r}; use one of {', '.join(ALIGNMENTS)}")
            opts = TextOptions(align=align, wrap=bool(record_field(options, "wrap")),
                               font_size=record_field(options, "font-size"))
            layout = self.provider.show_text(text, opts)
            if layout.frame is None:
                raise ProviderError("the display provider did not report what became of the frame")
            return record(lines=layout.lines, font_size=layout.font_size, truncated=layout.truncated,
                           frame=_framerecord(layout.frame), missing=layout.missing)

        return self._guard("show-text", run)

    def show_bitmap(self, _store: object, width: int, height: int, bits: bytes) -> wc.Record | str:
        return self._guard("show-bitmap", lambda: _framerecord(self.provider.show_bitmap(width, height, bytes(bits))))

    def set_contrast(self, _store: object, level: int) -> str | None:
        return self._guard("set-contrast", lambda: self.provider.set_contrast(level))

    def set_power(self, _store: object, on: bool) -> str | None:
        return self._guard("set-power", lambda: self.provider.set_power(on))

    def set_invert(self, _store: object, on: bool) -> str | None:
        return self._guard("set-invert", lambda: self.provider.set_invert(on))


class LoggingImports:
    """``logging`` for one actor: lines land in ``pi_edge.actor`` with the actor's name, at most at its rate."""

    def __init__(self, actor: str, limit: LogLimit | None = None) -> None:
        self.actor = actor
        self.logger = logging.getLogger("pi_edge.actor")
        self.limit = limit

    def report_dropped(self) -> None:
        """After a call: one line for the lines the rate limit dropped, if any."""
        if self.limit is not None and (dropped := self.limit.take_dropped()):
            self.logger.warning("actor=%s %d log line(s) dropped: over its %g lines/s", self.actor, dropped,
                                self.limit.rate)

    def log(self, _store: object, level: str, context: str, message: str) -> None:
        if self.limit is not None and not self.limit.allow():
            return
        if len(message) > MAX_LOG_CHARS:
            message = message[:MAX_LOG_CHARS] + f"... ({len(message) - MAX_LOG_CHARS} more chars)"
        self.logger.log(_LEVELS.get(level, logging.INFO), "actor=%s context=%s %s", self.actor, context, message)


def _method_for(implementation: object, function: str) -> Callable[..., Any]:
    method: object = getattr(implementation, function.replace("-", "_"), None)
    if not callable(method):
        raise NotImplementedError(f"host has no implementation of WIT function {function!r}")
    return method


def define_imports(linker: wc.Linker, contract: WorldContract, actor: str, provider: DisplayProvider,
                   granted: frozenset[str] | None = None,
                   wrap: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
                   log_limit: LogLimit | None = None) -> LoggingImports:
    """Bind every function the WIT declares for the world's imports, and nothing else.

    ``granted`` (from the actor's signed claims) limits which interfaces are
    bound at all; None binds every one (an unsigned actor on a development host).
    ``wrap`` goes around each host function (the instance's deadline keeps host time out of the guest's).
    Returns the logging imports, which report dropped lines after each call.
    """
    logging_imports = LoggingImports(actor, log_limit)
    implementations: dict[str, object] = {"display": DisplayImports(actor, provider), "logging": logging_imports}
    with linker.root() as root:
        for interface in contract.imports:
            if granted is not None and interface not in granted:
                continue
            impl = implementations[interface]
            with root.add_instance(contract.qualified(interface)) as inst:
                for function in contract.functions[interface]:
                    method = _method_for(impl, function)
                    add_host_func(inst, function, method if wrap is None else wrap(method), f"{interface}.{function}")
    return logging_imports
