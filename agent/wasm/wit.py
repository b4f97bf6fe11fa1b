"""The WIT contract, read from ``actors/wit``: the one source of truth.

The host does not repeat interface or function names by hand: it reads them
here, so an edit to the WIT either shows up in the host or fails a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pi_edge.agent.errors import WitError
from pi_edge.agent.wasm.componentize import WORLD

__all__ = ["WORLD", "WorldContract", "contract", "wit_dir"]

_PACKAGE = re.compile(r"^\s*package\s+([a-z0-9-]+):([a-z0-9-]+)(?:@([0-9][0-9A-Za-z.+-]*))?\s*;", re.M)
_BLOCK = re.compile(r"^\s*(interface|world)\s+([a-z][a-z0-9-]*)\s*\{(.*?)^\}", re.M | re.S)
_FUNC = re.compile(r"^\s*([a-z][a-z0-9-]*)\s*:\s*func\s*\(", re.M)
_WORLD_ITEM = re.compile(r"^\s*(import|export)\s+([a-z][a-z0-9-]*)\s*;", re.M)


@dataclass(frozen=True)
class WorldContract:
    """Fully qualified names a component of the world imports and exports."""

    package: str  # e.g. "pi-edge:actor"
    version: str | None
    functions: dict[str, tuple[str, ...]]  # interface -> function names
    imports: tuple[str, ...]  # interface names
    exports: tuple[str, ...]

    def qualified(self, interface: str) -> str:
        """``pi-edge:actor/display@0.1.0`` for ``display``: the name wasmtime uses."""
        suffix = f"@{self.version}" if self.version else ""
        return f"{self.package}/{interface}{suffix}"


def wit_dir() -> Path:
    """The directory holding the WIT package, shipped inside the ``actors`` package."""
    return Path(str(resources.files("pi_edge.actors") / "wit"))


def parse_contract(text: str, world: str = WORLD) -> WorldContract:
    """Read the package id, interfaces' functions and the world from WIT source."""
    pkg = _PACKAGE.search(text)
    if pkg is None:
        raise WitError("WIT has no 'package namespace:name@version;' line")
    functions: dict[str, tuple[str, ...]] = {}
    worlds: dict[str, str] = {}
    for kind, name, body in _BLOCK.findall(text):
        if kind == "interface":
            functions[name] = tuple(_FUNC.findall(body))
        else:
            worlds[name] = body
    if world not in worlds:
        raise WitError(f"WIT has no world {world!r} (worlds found: {', '.join(sorted(worlds)) or 'none'})")
    items = _WORLD_ITEM.findall(worlds[world])
    imports = tuple(n for k, n in items if k == "import")
    exports = tuple(n for k, n in items if k == "export")
    for name in imports + exports:
        if name not in functions:
            raise WitError(f"world {world!r} names interface {name!r}, which the WIT does not define")
    return WorldContract(
        package=f"{pkg.group(1)}:{pkg.group(2)}",
        version=pkg.group(3),
        functions=functions,
        imports=imports,
        exports=exports,
    )


@lru_cache(maxsize=1)
def contract() -> WorldContract:
    """The contract of the installed WIT files."""
    directory = wit_dir()
    files = sorted(directory.glob("*.wit"))
    if not files:
        raise WitError(f"no .wit files in {directory}; the installation is incomplete")
    return parse_contract("\n".join(f.read_text(encoding="utf-8") for f in files))
