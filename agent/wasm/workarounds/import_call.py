"""Host functions the guest calls, with their WIT types resolved once.

wasmtime-py 50's ``LinkerInstance.add_func`` wraps each call of a host function
in a fresh ``FuncType`` and rebuilds every parameter and result type from C
before converting a single value.  ``add_host_func`` registers the same kind of
callback, but the types are looked up on the first call and kept (with
``wasm_types`` they then also keep their fields and cases).

Keeping them is sound because a function is registered on one linker, and
pi-edge gives every actor instance a linker of its own that only ever
instantiates that actor's component: the import's type cannot change between
calls.  Arguments and results convert exactly as wasmtime-py converts them.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import _linker, _types
from wasmtime.component._enter import catch_exceptions


class _HostFunc:
    __slots__ = ("func", "name", "params", "result")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name
        self.params: list[_types.ValType] | None = None
        self.result: _types.ValType | None = None

    def __call__(self, *args: Any) -> Any:
        """As wasmtime-py's own entries in its function table are: the function."""
        return self.func(*args)

    def resolve(self, ty_raw: Any, store: Any) -> list[_types.ValType]:
        fty = _types.FuncType._from_ptr(ty_raw, owner=store)  # borrowed: wasmtime owns ty_raw
        self.result = fty.result
        self.params = [ty for _name, ty in fty.params]
        return self.params


def _call_host(idx: int, context: Any, ty_raw: Any, args: Any, nargs: int, results: Any, nresults: int) -> Any:
    def run(store: Any) -> None:
        host = _linker.FUNCTIONS.get(idx or 0)
        if not isinstance(host, _HostFunc):
            raise WasmtimeError(f"function {idx} was not registered by add_host_func")
        try:
            params = host.params if host.params is not None else host.resolve(ty_raw, store)
            if len(params) != nargs:
                raise TypeError(f"called with {nargs} arguments, its type has {len(params)}")
            result = host.func(store, *[ty.convert_from_c(args[i]) for i, ty in enumerate(params)])
            if host.result is None:
                if result is not None:
                    raise TypeError("it has no result but returned a value")
            else:
                host.result.convert_to_c(store, result, results)
        except WasmtimeError:
            raise
        except Exception as exc:
            # A trap that names the import.  Left to wasmtime-py, a Python exception is parked in one
            # module-wide slot and re-raised by whichever call on any thread ends next: another lane could
            # get it, and the instance that failed would be left unusable.
            raise WasmtimeError(f"host function {host.name} failed: {type(exc).__name__}: {exc}") from None

    return catch_exceptions(context, run)


#: The C callback every host function registered here goes through (kept alive as long as the module).
_call = ffi.wasmtime_component_func_callback_t(_call_host)


def add_host_func(instance: Any, name: str, func: Callable[..., Any], label: str = "") -> None:
    """Like ``LinkerInstance.add_func``; ``func(store, *args)`` gets and returns wasmtime-py values.

    ``label`` names the function in the trap a failure becomes (default: ``name``).
    """
    instance._assert_not_locked()
    name_bytes = name.encode("utf-8")
    idx = _linker.FUNCTIONS.allocate(_HostFunc(func, label or name))  # freed by wasmtime-py's finaliser with the linker
    err = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(name_bytes), len(name_bytes), _call, idx, _linker.func_finalize)
    if err:
        raise WasmtimeError._from_ptr(err)
