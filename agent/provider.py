"""The seam between the host and a display provider.

The agent only knows this interface; a provider (for example
``providers.oled``) implements it without importing wasmtime, and the agent
never imports luma or smbus2.  Values here mirror the records of the WIT
``display`` interface one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Align = Literal["left", "center", "right"]
ALIGNMENTS: tuple[Align, ...] = ("left", "center", "right")


class ProviderError(Exception):
    """A display operation failed; the message is shown to the calling actor as ``err``."""


@dataclass(frozen=True)
class DisplayInfo:
    width: int
    height: int
    driver: str


@dataclass(frozen=True)
class TextOptions:
    """How to lay out text; ``font_size=None`` means the largest size that fits."""

    align: Align = "center"
    wrap: bool = True
    font_size: int | None = None


@dataclass(frozen=True)
class TextLayout:
    """What the provider did with the text, so the actor can tell its caller."""

    lines: int
    font_size: int
    truncated: bool


@runtime_checkable
class DisplayProvider(Protocol):
    """What an actor's ``display`` import is bound to.

    Methods are synchronous and must be safe to call from a worker thread:
    actors run off the event loop.  Failures raise ``ProviderError`` (or a
    subclass) with a sentence a person can act on.
    """

    def info(self) -> DisplayInfo: ...

    def clear(self) -> None: ...

    def show_text(self, text: str, options: TextOptions) -> TextLayout: ...

    def show_bitmap(self, width: int, height: int, bits: bytes) -> None: ...

    def set_contrast(self, level: int) -> None: ...

    def set_power(self, on: bool) -> None: ...

    def close(self) -> None: ...
