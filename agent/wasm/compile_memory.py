"""Whether compiling a component here fits in memory, decided before trying.

Cranelift's peak follows the size of the component's code sections, not the
file: about 60 MiB per MiB of code (measured on four inputs, componentize-py
and others), 60 MiB more when it compiles on several threads, and one more copy
of the artifact (about 5.4 times the code) while it is serialised.  What is
free is the smallest of the machine's ``MemAvailable`` and the room left under
every memory limit of this process's cgroup (v2 ``memory.max``, or v1
``memory.limit_in_bytes``: a systemd ``MemoryMax=`` is one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Python and wasmtime in the compiling child before it compiles anything (measured: 37 MiB).
CHILD_BASE_MIB = 40
PER_CODE_MIB = 60
PARALLEL_MIB = 60
ARTIFACT_PER_CODE = 5.4
_CODE_SECTION, _CORE_MODULE, _COMPONENT = 10, 1, 4
_CORE_PREAMBLE, _COMPONENT_PREAMBLE = b"\0asm\x01\x00\x00\x00", b"\0asm\x0d\x00\x01\x00"
#: cgroup v1 says "no limit" with a number this large or larger.
_V1_UNLIMITED = 2**62


@dataclass(frozen=True)
class Room:
    """Memory this process may still use, in MiB, and what limits it (for the message)."""

    mib: int
    limited_by: str


@dataclass(frozen=True)
class CompilePlan:
    code_mib: float
    need_mib: int  # the predicted peak of the compiling child
    room: Room
    parallel: bool

    @property
    def fits(self) -> bool:
        return self.need_mib <= self.room.mib

    def refusal(self, name: str) -> str:
        return (f"compiling actor {name!r} here needs about {self.need_mib} MiB ({self.code_mib:.1f} MiB of code) "
                f"and only {self.room.mib} MiB are free ({self.room.limited_by}); so it is not tried")


def plan(wasm: bytes, room: Room) -> CompilePlan:
    """Parallel compilation if even that fits, else one thread if that fits, else a plan that does not fit."""
    code = code_bytes(wasm) / 2**20
    single = math.ceil(CHILD_BASE_MIB + (PER_CODE_MIB + ARTIFACT_PER_CODE) * code)
    if single + PARALLEL_MIB <= room.mib:
        return CompilePlan(code, single + PARALLEL_MIB, room, parallel=True)
    return CompilePlan(code, single, room, parallel=False)


def code_bytes(wasm: bytes) -> int:
    """The size of every code section in a core module or component (nested modules and components too)."""
    if wasm.startswith((_CORE_PREAMBLE, _COMPONENT_PREAMBLE)):
        return _walk(wasm, 8, len(wasm), wasm.startswith(_COMPONENT_PREAMBLE))
    return 0


def _walk(data: bytes, pos: int, end: int, component: bool) -> int:
    total = 0
    while pos < end:
        section = data[pos]
        size, body = _leb(data, pos + 1)
        stop = min(body + size, end)
        if component and section == _CORE_MODULE:
            total += _walk(data, body + 8, stop, component=False)
        elif component and section == _COMPONENT:
            total += _walk(data, body + 8, stop, component=True)
        elif not component and section == _CODE_SECTION:
            total += stop - body
        pos = stop
    return total


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos
    return 0, len(data)


def compile_room(cap_mib: int = 0) -> Callable[[], Room]:
    """What a compile may use: what is free, and no more than ``cap_mib`` if that is set (not 0)."""
    def room() -> Room:
        free = free_memory()
        return Room(cap_mib, "compile_memory_mb") if 0 < cap_mib < free.mib else free
    return room


def free_memory(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> Room:
    """The room under ``MemAvailable`` and under every cgroup memory limit above this process."""
    rooms = [Room(_mem_available(proc), "MemAvailable")] if _mem_available(proc) >= 0 else []
    rooms += _cgroup_rooms(proc, cgroup_root)
    return min(rooms, key=lambda r: r.mib) if rooms else Room(2**31, "no limit known")


def _mem_available(proc: Path) -> int:
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return -1


def _cgroup_rooms(proc: Path, root: Path) -> list[Room]:
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return []
    rooms: list[Room] = []
    for line in lines:
        hierarchy, controllers, path = ([*line.split(":", 2), "", ""])[:3]
        if hierarchy == "0" and controllers == "":
            rooms += _limits(root, path, "memory.max", "memory.current", "MemoryMax")
        elif "memory" in controllers.split(","):
            rooms += _limits(root / "memory", path, "memory.limit_in_bytes", "memory.usage_in_bytes", "memory limit")
    return rooms


def _limits(base: Path, path: str, limit_file: str, usage_file: str, what: str) -> list[Room]:
    """Room under the limit of the cgroup at ``path`` and of each cgroup above it."""
    rooms, here = [], Path(path.strip() or "/")
    for cgroup in [here, *here.parents]:
        folder = base / str(cgroup).lstrip("/")
        try:
            limit, usage = (folder / limit_file).read_text().strip(), int((folder / usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= _V1_UNLIMITED:
            continue
        rooms.append(Room(max(0, (int(limit) - usage) // 2**20), f"{what} {int(limit) // 2**20} MiB of cgroup "
                                                                 f"{cgroup}, {usage // 2**20} MiB used"))
    return rooms
