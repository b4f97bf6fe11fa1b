"""Calling an actor's export without leaking memory on every call.

wasmtime-py 50's ``component.Func.__call__`` lifts a ``result`` return value
by deleting its payload in place but never frees the heap box the payload
lives in, which the caller owns: one small allocation lost per call (about
50 bytes of native heap a message, for as long as the agent runs).
``ExportCall`` makes the same C call, lets wasmtime-py convert the values,
then frees that box.  It also looks the function's type up once, not per call.

This leans on wasmtime-py internals (``_ffi``, ``enter_wasm``); the version is
pinned below 51 and tests/test_runtime.py checks native memory stays flat.
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc
from wasmtime.component._enter import enter_wasm


class ExportCall:
    """One export of one instance, callable like ``func(store, *args)``."""

    def __init__(self, func: wc.Func, store: wasmtime.Store) -> None:
        self._func = func
        self._type = func.type(store)  # keeps the C type objects below alive
        self._params = [ty for _name, ty in self._type.params]
        self._result = self._type.result

    def __call__(self, store: wasmtime.Store, *args: Any) -> Any:
        if len(args) != len(self._params):
            raise TypeError(f"expected {len(self._params)} arguments, got {len(args)}")
        params = (ffi.wasmtime_component_val_t * max(1, len(args)))()
        lowered = 0
        try:
            for ty, value in zip(self._params, args, strict=False):
                ty.convert_to_c(store, value, ctypes.pointer(params[lowered]))
                lowered += 1
            result = ffi.wasmtime_component_val_t()
            result_type = self._result
            has_result = result_type is not None
            enter_wasm(lambda: ffi.wasmtime_component_func_call(
                ctypes.byref(self._func._func), store._context(), params, lowered,
                ctypes.byref(result) if has_result else None, 1 if has_result else 0))
            if result_type is None:
                return None
            box = _payload_box(result)
            try:
                return result_type.convert_from_c(result)
            finally:
                if box:
                    ffi.wasmtime_component_val_free(box)  # its contents were already taken
        finally:
            for i in range(lowered):
                ffi.wasmtime_component_val_delete(ctypes.byref(params[i]))


def _payload_box(value: Any) -> Any:
    """The heap box of a top-level ``result``/``option`` payload, or None."""
    if value.kind == ffi.WASMTIME_COMPONENT_RESULT.value:
        return value.of.result.val or None
    if value.kind == ffi.WASMTIME_COMPONENT_OPTION.value:
        return value.of.option or None
    return None
