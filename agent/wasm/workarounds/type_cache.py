"""Component types are read from C once, not on every value that crosses the boundary.

wasmtime-py 50 answers ``RecordType.fields``, ``ResultType.ok`` and the like by
asking the C API again each time, building fresh Python type objects (each with
a C handle to free) for every field of every value converted: about thirty per
oled-text message.  A type never changes once made, so ``install`` makes those
properties remember their first answer on the type object.  That only pays off
where the type object itself is kept: ``ExportCall`` keeps its function's types
and ``import_call`` keeps each host function's.

Lowering a ``result``, ``option`` or ``variant`` picks the case a Python value
belongs to.  wasmtime-py works that out in one module-wide set that it clears
and refills for every case tried, so two actor instances lowering on their own
lane threads can see each other's classes and pick the wrong case (the call
then fails); ``install`` also puts a lowering in place that keeps each type's
case classes on the type itself.

Like ``wasm_bytes`` this leans on wasmtime-py internals; the version is pinned
below 51 and tests/test_wasm_types.py checks the answers stay those of C.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

# (class, attribute): each is a read-only property, or a method without arguments.
_SHAPES: tuple[tuple[type, str], ...] = (
    (_types.ListType, "element"),
    (_types.ListType, "_is_bytes"),
    (_types.RecordType, "fields"),
    (_types.TupleType, "elements"),
    (_types.VariantType, "cases"),
    (_types.EnumType, "names"),
    (_types.FlagsType, "names"),
    (_types.OptionType, "payload"),
    (_types.ResultType, "ok"),
    (_types.ResultType, "err"),
    (_types.ResultType, "_cases"),
    (_types.OptionType, "_cases"),
    (_types.VariantType, "_cases"),
    (_types.VariantLikeType, "_tagged"),
)

_MARK = "_pi_edge_remembered"


def _remembering(getter: Callable[[Any], Any], key: str) -> Callable[[Any], Any]:
    def remembered(self: Any) -> Any:
        cache = self.__dict__
        try:
            return cache[key]
        except KeyError:
            value = cache[key] = getter(self)
            return value

    setattr(remembered, _MARK, getter)
    remembered.__doc__ = getter.__doc__
    return remembered


def _work_out_case_classes(ty: Any) -> list[tuple[str, Any, tuple[type, ...]]]:
    """Each case of a variant-like type with the Python classes its payload accepts."""
    cases = []
    for name, payload in ty._cases():
        accepted: set[type] = set()
        if payload is not None:
            payload.add_classes(accepted)
        cases.append((name, payload, tuple(accepted)))
    return cases


_case_classes = _remembering(_work_out_case_classes, "_pi_edge_case_classes")


def _lower(self: Any, store: Any, val: Any) -> tuple[str, Any]:
    """The case ``val`` belongs to, and its payload as a boxed C value (None for a case without one)."""
    tagged = self._tagged()
    if tagged and not isinstance(val, _types.Variant):
        raise TypeError("expected Variant type")
    for name, payload_type, accepted in _case_classes(self):
        if tagged:
            matches = name == val.tag
        elif payload_type is None:
            matches = val is None
        else:
            matches = isinstance(val, accepted)
        if not matches:
            continue
        if payload_type is None:
            return name, None
        raw = ffi.wasmtime_component_val_t()
        payload_type.convert_to_c(store, val.payload if tagged else val, ctypes.pointer(raw))
        return name, ffi.wasmtime_component_val_new(ctypes.byref(raw))
    raise ValueError("value not valid for this variant")


_original_lower = _types.VariantLikeType._lower


Getter = Callable[[Any], Any]


def _shapes() -> Iterator[tuple[str, Getter, Callable[[Getter], None]]]:
    """Each looked-up attribute: its name, its current getter, and how to put another getter in its place."""
    for cls, name in _SHAPES:
        current = cls.__dict__[name]
        is_property = isinstance(current, property)
        getter: Getter = current.fget if is_property else current

        def put(new: Getter, cls: type = cls, name: str = name, is_property: bool = is_property) -> None:
            setattr(cls, name, property(new) if is_property else new)

        yield name, getter, put


def install() -> None:
    """Idempotent; the runtime calls it before the first component is loaded."""
    _types.VariantLikeType._lower = _lower  # type: ignore[method-assign]
    for name, getter, put in _shapes():
        if not hasattr(getter, _MARK):  # not installed yet
            put(_remembering(getter, f"_pi_edge_{name}"))


def uninstall() -> None:
    """Back to wasmtime-py's own lookups (tests compare the two)."""
    _types.VariantLikeType._lower = _original_lower  # type: ignore[method-assign]
    for _name, getter, put in _shapes():
        if hasattr(getter, _MARK):
            put(getattr(getter, _MARK))
