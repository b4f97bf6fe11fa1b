"""Strings and names cross in one C call each (agent.wasm_strings), held equal to wasmtime-py's own."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from wasmtime import _ffi as ffi

from pi_edge.agent.display.provider import FrameReport, TextLayout, TextOptions
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.agent.wasm.workarounds import strings as wasm_strings


def _c_bytes(vec: ffi.wasm_byte_vec_t) -> bytes:
    return ctypes.string_at(vec.data, vec.size) if vec.size else b""


@given(st.text())
@example("")
@example("nul\x00inside\x00")
@example("héllo wörld ✓ 🙂")
def test_strings_become_the_same_c_bytes_and_read_back_the_same(text: str) -> None:
    ours, theirs = wasm_strings.str_to_capi(text), wasm_strings._original_str_to_capi(text)
    try:
        assert _c_bytes(ours) == _c_bytes(theirs) == text.encode("utf-8")
        assert wasm_strings.to_str(ours) == wasm_strings._original_to_str(theirs) == text
    finally:
        ffi.wasm_byte_vec_delete(ctypes.byref(ours))
        ffi.wasm_byte_vec_delete(ctypes.byref(theirs))


def test_what_is_not_a_string_fails_as_it_did() -> None:
    for convert in (wasm_strings.str_to_capi, wasm_strings._original_str_to_capi):
        with pytest.raises(TypeError, match="expected a string"):
            convert(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(UnicodeEncodeError):
            convert("lone \ud800 surrogate")


class _Recording:
    """Just enough of a display provider to see the text an actor hands over."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def show_text(self, text: str, options: TextOptions) -> TextLayout:
        self.texts.append(text)
        return TextLayout(lines=1, font_size=12, truncated=False, frame=FrameReport("shown", 7, 0.1))


def test_text_reaches_the_provider_unchanged_through_the_actor(runtime: Runtime, built: dict[str, Path]) -> None:
    assert ffi.str_to_capi is wasm_strings.str_to_capi and ffi.to_str is wasm_strings.to_str  # the runtime installed them
    provider = _Recording()
    instance = ComponentInstance(runtime, runtime.load_file("oled-text", built["oled-text"]), provider,  # type: ignore[arg-type]
                             Limits())
    texts = ["a", "héllo wörld ✓", "nul\x00inside", "🙂" * 50, "x" * 3000]
    for text in texts:
        reply = instance.call(Message("pe.default.actor.oled-text", text.encode(), [("op", "show")]))
        assert reply == f"shown: {len(text)} chars, 1 line(s), 12px; 7 bytes on the bus".encode()
    assert provider.texts == texts
