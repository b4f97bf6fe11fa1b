"""Strings and names cross the sandbox boundary with one C call each.

wasmtime-py 50 hands every string to C (string values, but also every record
field name, enum value and variant case, a dozen per oled-text message) by
allocating an empty C vector, building a ctypes array from the encoded bytes
and copying that over: three trips through ctypes.  ``wasm_byte_vec_new``
copies straight from a ``bytes`` object when its data argument is declared a
``char *``, so ``install`` puts a one-call version in place, and reads strings
back with one ``string_at``.  About 15 us per oled-text call on this VM.

Like ``wasm_bytes`` this leans on wasmtime-py internals (the functions its
component types look up on ``wasmtime._ffi`` at each call); the version is
pinned below 51 and tests/test_wasm_strings.py holds the results equal to
wasmtime-py's own.
"""

from __future__ import annotations

import ctypes

from wasmtime import _ffi as ffi

# A function pointer of our own (indexing the library makes a new one), so wasmtime-py's keeps its argtypes.
_byte_vec_new = ffi.dll["wasm_byte_vec_new"]
_byte_vec_new.restype = None
_byte_vec_new.argtypes = [ctypes.POINTER(ffi.wasm_byte_vec_t), ctypes.c_size_t, ctypes.c_char_p]

_original_str_to_capi = ffi.str_to_capi
_original_to_str = ffi.to_str


def str_to_capi(s: str) -> ffi.wasm_byte_vec_t:
    """A C byte vector holding ``s`` as UTF-8; whoever receives it in C owns and frees it."""
    if not isinstance(s, str):
        raise TypeError("expected a string")
    data = s.encode("utf-8")
    vec = ffi.wasm_byte_vec_t()
    _byte_vec_new(ctypes.byref(vec), len(data), data)
    return vec


def to_str(vec: ffi.wasm_byte_vec_t) -> str:
    if not vec.size:
        return ""
    return ctypes.string_at(vec.data, vec.size).decode("utf-8")


def install() -> None:
    """Idempotent; the runtime calls it before the first component is loaded."""
    ffi.str_to_capi = str_to_capi
    ffi.to_str = to_str


def uninstall() -> None:
    """Back to wasmtime-py's own (tests compare the two)."""
    ffi.str_to_capi = _original_str_to_capi
    ffi.to_str = _original_to_str
