"""``list<u8>`` values cross the sandbox boundary in one copy instead of byte by byte.

wasmtime-py 50 converts a byte list one element at a time in Python, about a
microsecond a byte each way: a 64 KiB message costs tens of milliseconds before
the actor even starts.  In the C API a list is an array of tagged values, so
the bytes can be laid into (and read out of) that array with slicing at C
speed.  ``install`` puts these conversions in place of wasmtime-py's for byte
lists only; every other list keeps wasmtime-py's own.

Like ``export_call`` this leans on wasmtime-py internals; the version is pinned
below 51 and tests/test_runtime.py sends random bytes through an actor and back.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

_STRIDE = ctypes.sizeof(ffi.wasmtime_component_val_t)
_VALUE = ffi.wasmtime_component_val_t.of.offset  # a u8 sits at the start of the value union
_U8 = ffi.WASMTIME_COMPONENT_U8.value

_original_to_c = _types.ListType.convert_to_c
_original_from_c = _types.ListType.convert_from_c


def _to_c(self: _types.ListType, store: Any, val: Any, ptr: Any) -> None:
    if not isinstance(val, bytes) or not self._is_bytes():
        return _original_to_c(self, store, val, ptr)
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, len(val))
    if val:
        image = bytearray(len(val) * _STRIDE)
        image[0::_STRIDE] = bytes((_U8,)) * len(val)
        image[_VALUE::_STRIDE] = val
        ctypes.memmove(raw.data, (ctypes.c_char * len(image)).from_buffer(image), len(image))
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
    ptr.contents.of.list = raw
    return None


def _from_c(self: _types.ListType, c: Any) -> Any:
    if not self._is_bytes():
        return _original_from_c(self, c)
    assert c.kind == ffi.WASMTIME_COMPONENT_LIST.value
    try:
        size = c.of.list.size
        if not size:
            return b""
        return ctypes.string_at(c.of.list.data, size * _STRIDE)[_VALUE::_STRIDE]
    finally:
        ffi.wasmtime_component_vallist_delete(ctypes.byref(c.of.list))


def install() -> None:
    """Idempotent; the runtime calls it before the first component is loaded."""
    _types.ListType.convert_to_c = _to_c  # type: ignore[method-assign]
    _types.ListType.convert_from_c = _from_c  # type: ignore[method-assign]
