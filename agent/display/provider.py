"""The seam between the host and a display provider.

The agent only knows this interface; a provider (for example
``providers.oled``) implements it without importing wasmtime, and the agent
never imports luma or smbus2.  Values here mirror the records of the WIT
``display`` interface one to one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from pi_edge.agent.display.screen import Screen

Align = Literal["left", "center", "right"]
ALIGNMENTS: tuple[Align, ...] = ("left", "center", "right")



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


FrameStatus = Literal["shown", "superseded"]


@dataclass(frozen=True)
class FrameReport:
    """What became of one frame: on the glass, or replaced by a newer one before it was sent."""

    status: FrameStatus
    bus_bytes: int  # bytes that crossed the bus for it (0 when superseded or emulated)
    latency_ms: float  # from hand-over to the provider until the panel acknowledged it


@dataclass(frozen=True)
class TextLayout:
    """What the provider did with the text, so the actor can tell its caller."""

    lines: int
    font_size: int
    truncated: bool
    frame: FrameReport | None = None  # filled in once the frame has been handed to the panel
    missing: str = ""  # characters shown as boxes because no font had them, each once


@dataclass(frozen=True)
class Health:
    healthy: bool
    reason: str = ""


HealthListener = Callable[[bool, str], None]
FrameListener = Callable[[], None]


@runtime_checkable
class DisplayProvider(Protocol):
    """What an actor's ``display`` import is bound to.

    Methods are synchronous and must be safe to call from any thread: each
    actor instance runs on a lane thread of its own, off the host's event loop.  Failures raise ``ProviderError`` (or a
    subclass) with a sentence a person can act on.
    """

    def info(self) -> DisplayInfo: ...

    def clear(self) -> FrameReport: ...

    def show_text(self, text: str, options: TextOptions) -> TextLayout: ...

    def show_bitmap(self, width: int, height: int, bits: bytes) -> FrameReport: ...

    def set_contrast(self, level: int) -> None: ...

    def set_power(self, on: bool) -> None: ...

    def set_invert(self, on: bool) -> None: ...

    def snapshot(self) -> Screen:
        """What the panel shows now, from the provider's copy of panel memory."""
        ...

    def health(self) -> Health: ...

    def listen(self, on_health: HealthListener | None = None, on_frame: FrameListener | None = None) -> None:
        """Callbacks from the provider's own thread: health changes, and each frame that reached the panel."""
        ...

    def close(self) -> None: ...
