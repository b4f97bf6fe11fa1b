"""The WIT is the one source of truth: the host binds exactly what it declares."""

import pytest
import wasmtime
from wasmtime import component as wc

from pi_edge.agent.errors import WitError
from pi_edge.agent.wasm.imports import DisplayImports, LoggingImports, _method_for, define_imports
from pi_edge.agent.wasm.wit import contract, parse_contract


def test_contract_reads_the_shipped_wit() -> None:
    c = contract()
    assert c.package == "pi-edge:actor"
    assert c.imports == ("display", "logging")
    assert c.exports == ("handler",)
    assert set(c.functions["display"]) == {"info", "clear", "show-text", "show-bitmap", "set-contrast", "set-power",
                                             "set-invert"}
    assert c.qualified("display") == f"pi-edge:actor/display@{c.version}"


@pytest.mark.parametrize(("interface", "impl"), [("display", DisplayImports("a", None)),  # type: ignore[arg-type]
                                            ("logging", LoggingImports("a"))])
def test_host_implements_every_imported_function(interface: str, impl: object) -> None:
    for function in contract().functions[interface]:
        assert callable(_method_for(impl, function)), function


def test_define_imports_binds_into_a_real_linker() -> None:
    linker = wc.Linker(wasmtime.Engine())
    define_imports(linker, contract(), "probe", provider=None)  # type: ignore[arg-type]


def test_world_naming_an_undefined_interface_is_refused() -> None:
    text = "package a:b@1.0.0;\ninterface x {\n  f: func();\n}\nworld display-actor {\n  import y;\n}\n"
    with pytest.raises(WitError, match="'y'"):
        parse_contract(text)


def test_missing_world_lists_the_worlds_found() -> None:
    with pytest.raises(WitError, match="worlds found: other"):
        parse_contract("package a:b;\nworld other {\n}\n")
