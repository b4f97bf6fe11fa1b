"""Component types are read from C once, not on every value that crosses the boundary.

wasmtime-py 50 answers ``RecordType.fields``, ``ResultType.ok`` and the like by
asking the C API again each time, building fresh Python type objects (each with
a C handle to free) for every field of every value converted: about thirty per
oled-text message.  A type never changes once made, so ``install`` makes those
properties remember their first answer on the type object.  That only pays off
where the type object itself is kept: ``ExportCall`` keeps its function's types
and ``import_call`` keeps each host function's.

Like ``wasm_bytes`` this leans on wasmtime-py internals; the version is pinned
below 51 and tests/test_wasm_types.py checks the answers stay those of C.
"""

from __future__ import annotations

from typing import Any, Callable

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


def install() -> None:
    """Idempotent; the runtime calls it before the first component is loaded."""
    for cls, name in _SHAPES:
        current = cls.__dict__[name]
        is_property = isinstance(current, property)
        getter = current.fget if is_property else current
        if hasattr(getter, _MARK):
            continue  # installed already
        remembered = _remembering(getter, f"_pi_edge_{name}")
        setattr(cls, name, property(remembered) if is_property else remembered)


def uninstall() -> None:
    """Back to wasmtime-py's own lookups (tests compare the two)."""
    for cls, name in _SHAPES:
        current = cls.__dict__[name]
        is_property = isinstance(current, property)
        getter = current.fget if is_property else current
        original = getattr(getter, _MARK, None)
        if original is not None:
            setattr(cls, name, property(original) if is_property else original)
