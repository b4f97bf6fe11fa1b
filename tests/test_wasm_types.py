"""Component types read from C once (agent.wasm_types) and host functions that keep theirs (agent.import_call)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wasmtime import _ffi as ffi
from wasmtime.component import _types

from pi_edge.agent.errors import ActorCallError, ProviderError
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.agent.wasm.workarounds import type_cache as wasm_types
from pi_edge.providers.oled import OledProvider

SUBJECT = "pe.default.actor.oled-text"


def _shape(ty: Any) -> Any:
    """A type written out as nested tuples, read through whichever lookups are installed."""
    if isinstance(ty, _types.RecordType):
        return "record", tuple((name, _shape(t)) for name, t in ty.fields)
    if isinstance(ty, _types.ListType):
        return "list", _shape(ty.element), ty._is_bytes()
    if isinstance(ty, _types.TupleType):
        return "tuple", tuple(_shape(t) for t in ty.elements)
    if isinstance(ty, _types.VariantType):
        return "variant", tuple((name, t and _shape(t)) for name, t in ty.cases), ty._tagged()
    if isinstance(ty, (_types.EnumType, _types.FlagsType)):
        return type(ty).__name__, tuple(ty.names)
    if isinstance(ty, _types.OptionType):
        return "option", _shape(ty.payload), ty._tagged()
    if isinstance(ty, _types.ResultType):
        return "result", ty.ok and _shape(ty.ok), ty.err and _shape(ty.err), ty._tagged()
    return type(ty).__name__


def _world_types(runtime: Runtime, wasm: Path) -> Iterator[Any]:
    """Every type the actor's imported and exported interfaces name, and their functions' parameters and results."""
    component = runtime.load_file("oled-text", wasm).component
    items = {**component.type.imports(runtime.engine), **component.type.exports(runtime.engine)}
    for item in items.values():
        item = getattr(item, "ty", item)
        if not isinstance(item, _types.ComponentInstanceType):
            continue
        for func in item.exports(runtime.engine).values():
            func = getattr(func, "ty", func)
            if isinstance(func, _types.ValType):  # a type the interface names, e.g. record message
                yield func
            elif isinstance(func, _types.FuncType):
                yield from (ty for _name, ty in func.params)
                if func.result is not None:
                    yield func.result


def test_remembered_types_answer_what_c_answers(runtime: Runtime, built: dict[str, Path]) -> None:
    types = list(_world_types(runtime, built["oled-text"]))
    remembered_first = [_shape(ty) for ty in types]
    remembered_again = [_shape(ty) for ty in types]  # now from what the type objects remember
    wasm_types.uninstall()
    try:
        from_c = [_shape(ty) for ty in types]
    finally:
        wasm_types.install()
    assert sum(isinstance(ty, _types.RecordType) for ty in types) >= 3  # several records: a mix-up would show
    assert remembered_first == remembered_again == from_c


def test_a_record_asks_c_for_its_fields_once(runtime: Runtime, built: dict[str, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    record = next(ty for ty in _world_types(runtime, built["oled-text"]) if isinstance(ty, _types.RecordType))
    asked = _count_calls(monkeypatch, "wasmtime_component_record_type_field_nth")
    for _ in range(5):
        fields = record.fields
    assert len(fields) >= 2
    assert len(asked) == len(fields)  # once per field, not once per field per read


def test_host_functions_resolve_their_types_on_the_first_call_only(
        make_instance: Callable[..., ComponentInstance], monkeypatch: pytest.MonkeyPatch) -> None:
    instance = make_instance("oled-text")
    asked = _count_calls(monkeypatch, "wasmtime_component_func_type_param_nth")
    replies = [instance.call(Message(SUBJECT, f"Message {i}".encode())) for i in range(20)]
    assert all(reply.startswith(b"shown: ") for reply in replies)
    # show-text (2 parameters) and log (3), each read once, whatever the number of messages
    assert len(asked) == 5


class _SharedCaseSet(set):  # type: ignore[type-arg]
    """Stands in for wasmtime-py's module-wide case set: any use of it fails the test."""

    def clear(self) -> None:
        raise AssertionError("lowering used wasmtime-py's shared case set")

    def add(self, item: object) -> None:
        raise AssertionError("lowering used wasmtime-py's shared case set")


def test_results_are_lowered_without_a_set_shared_between_threads(
        make_instance: Callable[..., ComponentInstance], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_types, "case_test_cache", _SharedCaseSet())
    instance = make_instance("oled-text")
    assert instance.call(Message(SUBJECT, b"Hello")).startswith(b"shown: ")  # show-text's ok case

    def panel_gone(self: OledProvider, text: str, options: object) -> None:
        raise ProviderError("panel gone from the bus")

    monkeypatch.setattr(OledProvider, "show_text", panel_gone)
    with pytest.raises(ActorCallError, match="panel gone from the bus"):  # its err case
        instance.call(Message(SUBJECT, b"Hello"))


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original = getattr(ffi, name)

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(ffi, name, counting)
    return calls
