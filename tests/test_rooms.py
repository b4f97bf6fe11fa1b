"""The rules the rooms keep, read from the source: who may import what, where subjects are spelt, and who
owns the display's settings."""

from __future__ import annotations

import ast
import re

import pytest

from pi_edge.agent.display.plugins import load_plugin
from pi_edge.agent.host.config import AGENT_KEYS, KEYS
from pi_edge.agent.host.config_skeleton import SKELETON
from pi_edge.providers.oled.config import DisplayConfig
from tests.conftest import ROOT


def imports_of(folder: str) -> dict[str, set[str]]:
    """Each module's imported top-level names, from its syntax tree (imports inside functions too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path.relative_to(ROOT).as_posix()] = names
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [("agent", ("luma", "smbus2", "PIL.ImageFont")),
                                                   ("providers", ("wasmtime", "nats"))])
def test_the_agent_and_the_provider_meet_only_at_the_display_interface(folder: str, forbidden: tuple[str, ...]) -> None:
    wrong = {module: sorted(n for n in names if n.split(".")[0] in forbidden or n in forbidden)
             for module, names in imports_of(folder).items()}
    assert {m: n for m, n in wrong.items() if n} == {}


def test_the_provider_uses_only_the_agents_display_interface_and_errors() -> None:
    allowed = ("pi_edge.agent.display.", "pi_edge.agent.errors", "pi_edge.agent.files")
    used = {module: sorted(n for n in names if n.startswith("pi_edge.agent") and not n.startswith(allowed))
            for module, names in imports_of("providers").items()}
    assert {m: n for m, n in used.items() if n} == {}


def test_subjects_are_spelt_in_one_place() -> None:
    spelt = [f"{path.relative_to(ROOT)}:{n}" for path in (ROOT / "agent").rglob("*.py")
             if path.name != "subjects.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"""["']pe\.""", line)]
    assert spelt == []


def test_the_display_plugin_owns_its_settings_and_their_defaults() -> None:
    plugin = load_plugin("oled")
    assert KEYS[len(AGENT_KEYS):] == plugin.settings()
    assert all(key.section != plugin.section for key in AGENT_KEYS)
    defaults = {s.name: s.default for s in plugin.settings()}
    d = DisplayConfig
    assert defaults == {"display": None, "width": d.width, "height": d.height, "rotate": d.rotate,
                        "i2c_port": d.i2c_port, "i2c_address": d.i2c_address, "fonts": d.fonts}
    # ... and the config file's skeleton shows them.
    assert f"# width = {d.width}\n" in SKELETON and f'# i2c_address = "0x{d.i2c_address:02X}"' in SKELETON
    source = (ROOT / "agent" / "host" / "config.py").read_text()
    assert '"display"' not in source and "i2c" not in source
