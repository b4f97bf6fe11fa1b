"""The component binary format, read directly: its top-level sections, custom sections, and imports.

wasmtime-py can list a component's imports only after compiling it (seconds on
a laptop, minutes on a Pi); the import sections say the same in well under a
millisecond.  ``imports`` reads them so a component that needs what the host
does not provide is refused before anything is compiled; wasmtime's own
check after compiling stays the authority on types.  The claims
(``pi_edge.agent.trust.claims``) walk the same sections.

Layout (the component model's binary format): the preamble ``\\0asm``, version
``0d 00``, layer ``01 00``; then sections, each an id byte and a LEB128 u32 size.
An import section (id 10) is a vector of imports, each a name prefix byte
(``00``, or ``01`` from encoders before late 2024), the name, and an extern
description (a sort byte and its payload).  Imports of nested components live
inside their own section (id 4) and are not the component's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pi_edge.agent.errors import ComponentFormatError

PREAMBLE = b"\0asm\x0d\x00\x01\x00"
CUSTOM, IMPORT = 0, 10
#: The extern description's sort byte, by what it imports.
_KINDS = {0x00: "core module", 0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}


@dataclass(frozen=True)
class Section:
    id: int
    start: int  # the id byte
    body: int  # the first byte after the size
    end: int
    name: str | None  # a custom section's name


@dataclass(frozen=True)
class Import:
    name: str  # e.g. "pi-edge:actor/display@0.1.0", or a plain name for a world-level function
    kind: str  # "instance" for an interface, else one of _KINDS' values


def is_component(wasm: bytes) -> bool:
    """Whether ``wasm`` starts as a component does (not a core module, not some other file)."""
    return wasm.startswith(PREAMBLE)


def read_leb(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 number at ``pos``, and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ComponentFormatError("the component is truncated inside a section header")
        byte = data[pos]
        pos += 1
        if shift >= 35:
            raise ComponentFormatError("the component holds a number too long for its format")
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def leb(value: int) -> bytes:
    """``value`` as unsigned LEB128."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sections(wasm: bytes) -> Iterator[Section]:
    """Top-level sections, in order."""
    if not is_component(wasm):
        raise ComponentFormatError("not a WebAssembly component (wrong preamble); build it with 'pi-edge build'")
    pos = len(PREAMBLE)
    while pos < len(wasm):
        start, section_id = pos, wasm[pos]
        size, body = read_leb(wasm, pos + 1)
        end = body + size
        if end > len(wasm):
            raise ComponentFormatError("the component is truncated: a section runs past its end")
        name = None
        if section_id == CUSTOM:
            length, name_at = read_leb(wasm, body)
            name = wasm[name_at:name_at + length].decode("utf-8", "replace")
        yield Section(section_id, start, body, end, name)
        pos = end


def custom_payload(wasm: bytes, section: Section) -> bytes:
    """What a custom section holds after its name."""
    length, name_at = read_leb(wasm, section.body)
    return wasm[name_at + length:section.end]


def imports(wasm: bytes) -> list[Import]:
    """Every import of the component itself, in order; ComponentFormatError if the sections cannot be read
    (wasmtime, compiling it, will then say what is wrong)."""
    found: list[Import] = []
    for section in sections(wasm):
        if section.id == IMPORT:
            found.extend(_import_section(wasm, section.body, section.end))
    return found


def _import_section(wasm: bytes, pos: int, end: int) -> Iterator[Import]:
    count, pos = read_leb(wasm, pos)
    for _ in range(count):
        if pos >= end:
            raise ComponentFormatError("an import section ends before its last import")
        prefix = wasm[pos]
        if prefix not in (0x00, 0x01):  # newer name forms carry more than a name: let wasmtime judge them
            raise ComponentFormatError(f"an import name of a form this reader does not know (0x{prefix:02x})")
        length, pos = read_leb(wasm, pos + 1)
        try:
            name = wasm[pos:pos + length].decode("utf-8")
        except UnicodeDecodeError:
            raise ComponentFormatError("an import name is not UTF-8") from None
        pos += length
        sort = wasm[pos] if pos < end else -1
        if sort not in _KINDS:
            raise ComponentFormatError(f"import {name!r} has an unknown kind")
        pos = _skip_extern(wasm, sort, pos + 1, end)
        yield Import(name, _KINDS[sort])
    if pos != end:
        raise ComponentFormatError("an import section holds more than its imports")


def _skip_extern(wasm: bytes, sort: int, pos: int, end: int) -> int:
    """The position after an extern description's payload."""
    if sort == 0x00:  # core module: 0x11 then a type index
        if pos >= end or wasm[pos] != 0x11:
            raise ComponentFormatError("a core module import is malformed")
        return read_leb(wasm, pos + 1)[1]
    if sort == 0x02:  # value: a primitive type (one negative s33 byte, 0x40..0x7f) or a type index
        if pos >= end:
            raise ComponentFormatError("a value import is malformed")
        return pos + 1 if 0x40 <= wasm[pos] < 0x80 else read_leb(wasm, pos)[1]
    if sort == 0x03:  # type: 00 (eq) and an index, or 01 (a fresh resource)
        if pos >= end or wasm[pos] not in (0x00, 0x01):
            raise ComponentFormatError("a type import is malformed")
        return read_leb(wasm, pos + 1)[1] if wasm[pos] == 0x00 else pos + 1
    return read_leb(wasm, pos)[1]  # func, component, instance: a type index
