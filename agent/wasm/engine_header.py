"""The engine an artifact says it was compiled for, read from its ``.wasmtime.engine`` ELF section.

wasmtime-py has no ``precompile_compatibility_hash``; the header is postcard:
a format byte (0), wasmtime's major version, the target triple, then the
shared and the ISA flags as (name, value) lists.  Read before an artifact is
trusted to deserialise, so a mislabelled one is refused with a reason.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from pi_edge.agent.errors import ArtifactError

SECTION = ".wasmtime.engine"


@dataclass(frozen=True)
class EngineHeader:
    version: str  # wasmtime's major version, e.g. "50"
    triple: str
    isa_flags_on: tuple[str, ...]  # the CPU features the code needs


def read_header_file(path: Path) -> EngineHeader:
    """``read_header`` of a file, mapped rather than read: an artifact is tens of MiB, its header a few hundred
    bytes."""
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return read_header(mapped)
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        raise ArtifactError(f"not a compiled artifact: {exc}") from None


def read_header(artifact: bytes | mmap.mmap) -> EngineHeader:
    """The header of a serialised component; ArtifactError if it is not one."""
    try:
        body = _section(artifact, SECTION)
        if body[:1] != b"\0":
            raise ArtifactError(f"unknown {SECTION} format {body[:1].hex()}")
        version, pos = _string(body, 1)
        triple, pos = _string(body, pos)
        _shared, pos = _flags(body, pos)
        isa, _ = _flags(body, pos)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"not a compiled artifact: its engine header cannot be read ({exc})") from None
    return EngineHeader(version, triple, tuple(sorted(name for name, value in isa.items() if value is True)))


def _section(data: bytes | mmap.mmap, wanted: str) -> bytes:
    if data[:5] != b"\x7fELF\x02":
        raise ArtifactError("not a compiled artifact: not a 64-bit ELF file")
    table = struct.unpack_from("<Q", data, 0x28)[0]
    entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)

    def header(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, table + i * entry_size)
        return name, offset, size

    names_at = header(names_index)[1]
    for i in range(count):
        name, offset, size = header(i)
        start = names_at + name
        stop = data.find(b"\0", start)
        if stop < 0:
            raise ArtifactError("not a compiled artifact: its section names run past the end")
        if data[start:stop].decode() == wanted:
            if offset + size > len(data):
                raise ArtifactError(f"not a compiled artifact: section {wanted} runs past the end")
            return data[offset:offset + size]
    raise ArtifactError(f"not a compiled artifact: it has no {wanted} section")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _string(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _varint(data, pos)
    if pos + length > len(data):
        raise ValueError("a string runs past the header")
    return data[pos:pos + length].decode(), pos + length


def _flags(data: bytes, pos: int) -> tuple[dict[str, object], int]:
    count, pos = _varint(data, pos)
    flags: dict[str, object] = {}
    for _ in range(count):
        name, pos = _string(data, pos)
        kind, pos = data[pos], pos + 1
        value: object
        if kind == 0:  # an enumerated setting, by name
            value, pos = _string(data, pos)
        elif kind in (1, 2):  # a number, a bool
            value, pos = (data[pos] if kind == 1 else bool(data[pos])), pos + 1
        else:
            raise ValueError(f"flag {name!r} has an unknown kind {kind}")
        flags[name] = value
    return flags, pos
