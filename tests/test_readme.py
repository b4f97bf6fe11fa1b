"""The README keeps up with the code: its top two commands, how pi-edge is run after them, a WIT reference
naming every function of the contract, and every command, control operation and event kind."""

from __future__ import annotations

import argparse
import ast
import re

from pi_edge.agent.cli.main import build_parser
from pi_edge.agent.lattice.events import KINDS
from pi_edge.agent.wasm.wit import contract
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def test_the_top_two_commands_and_how_pi_edge_is_run_after_them() -> None:
    assert README.startswith('# pi-edge\n\n```sh\npython3 dev.py demo "Hello"   # hub + agent + Wasm actor + emulated '
                             'OLED: the message is shown\npython3 dev.py test           # the whole test suite\n```\n')
    assert "`pi-edge` is `.venv/bin/pi-edge`" in README[:1200]


def test_the_wit_reference_covers_every_function() -> None:
    reference = section("WIT reference")
    world = contract()
    for interface in world.imports + world.exports:
        assert f"**`{interface}`**" in reference, interface
        for function in world.functions[interface]:
            assert f"{function}(" in reference, f"{interface}.{function}"
    for limit in ("--deadline-ms", "--memory-mb", "--max-message-kb", "log_lines_per_s", "max_component_mb"):
        assert limit in reference, limit


def test_writing_an_actor_goes_from_nothing_to_deployed_in_both_languages() -> None:
    guide = section("Write your own actor")
    for step in ("pi-edge new hello", "--lang js", "pi-edge build . -o hello.wasm", "pytest", "pi-edge trust add",
                 "pi-edge sign hello.wasm", "pi-edge deploy hello.wasm --name hello", "**Python.**",
                 "**JavaScript.**", "pi_edge.testing"):
        assert step in guide, step


def test_every_command_operation_and_event_kind_is_named() -> None:
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for command in commands.choices:
        assert re.search(rf"pi-edge {re.escape(command)}\b", README), command
    subjects = section("NATS subjects")
    for kind in KINDS:
        assert f"`{kind}`" in subjects, kind
    control = ast.parse((ROOT / "agent" / "host" / "control.py").read_text())
    [operations] = [node for node in ast.walk(control) if isinstance(node, ast.Dict)
                    and any(isinstance(k, ast.Constant) and k.value == "inventory" for k in node.keys)]
    for op in [k.value for k in operations.keys if isinstance(k, ast.Constant)]:
        assert f"`{op}`" in subjects, op
    assert "--actor NAME=builtin" in README
