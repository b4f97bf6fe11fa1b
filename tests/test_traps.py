"""What a trap leaves behind: nothing.  A trapped instance's memory is freed at once, a host import
that fails does not poison the instance, and time spent in the host does not count as the actor's."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pi_edge.agent.display.provider import DisplayInfo, TextLayout, TextOptions
from pi_edge.agent.errors import ActorTrapError, ProviderError
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    """Only reference counting frees things here: what a trap keeps alive stays alive."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("body", [b"trap", b"grow", b"loop"])
def test_a_trap_frees_the_instance_it_ended_at_once(make_instance: Callable[..., ComponentInstance], body: bytes,
                                                    no_cycle_collector: None) -> None:
    """The traceback of a trap held the old store (and its whole linear memory: 256 MiB after a memory
    bomb) in a reference cycle: a Pi was out of memory after a few traps."""
    instance = make_instance("misbehave", Limits(deadline_ms=100, memory_bytes=64 * 2**20))
    old = weakref.ref(instance.store)
    with pytest.raises(ActorTrapError):
        instance.call(Message("s", body))
    assert old() is None, f"the store of the instance that trapped on {body!r} is still alive"
    assert instance.call(Message("s", b"fine")) == b"ok:fine"


class _Provider:
    """A real panel on the fake bus, with one operation made to fail or to be slow."""

    def __init__(self) -> None:
        self.panel = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
        self.info_fails: Exception | None = None
        self.text_takes = 0.0

    def info(self) -> DisplayInfo:
        if self.info_fails is not None:
            raise self.info_fails
        return self.panel.info()

    def show_text(self, text: str, options: TextOptions) -> TextLayout:
        time.sleep(self.text_takes)  # a panel (or a linked provider) slower than the actor's deadline
        return self.panel.show_text(text, options)

    def __getattr__(self, name: str) -> object:
        return getattr(self.panel, name)


@pytest.fixture
def provider() -> Iterator[_Provider]:
    p = _Provider()
    yield p
    p.panel.close()


@pytest.mark.parametrize("failure", [ProviderError("display provider 'pi-9-display' is not running"),
                                     RuntimeError("a bug in a provider")])
def test_a_host_import_that_raises_traps_that_message_only(runtime: Runtime, built: dict[str, Path],
                                                           provider: _Provider, failure: Exception) -> None:
    """display.info has no err to return; an exception in it became wasmtime-py's "python exception",
    the instance was never replaced, and every later message failed with "cannot enter component instance"."""
    instance = ComponentInstance(runtime, runtime.load_file("misbehave", built["misbehave"]), provider,  # type: ignore[arg-type]
                                 Limits())
    assert instance.call(Message("s", b"info")) == b"128x64 ssd1306"
    provider.info_fails = failure
    with pytest.raises(ActorTrapError, match=f"host function display.info failed: {type(failure).__name__}: "):
        instance.call(Message("s", b"info"))
    provider.info_fails = None
    assert instance.call(Message("s", b"info")) == b"128x64 ssd1306"
    assert instance.call(Message("s", b"after")) == b"ok:after"


def test_time_in_a_slow_host_function_is_not_the_actors(runtime: Runtime, built: dict[str, Path],
                                                        provider: _Provider) -> None:
    """A provider slower than the deadline (a linked display across the lattice) made the actor trap."""
    instance = ComponentInstance(runtime, runtime.load_file("misbehave", built["misbehave"]), provider,  # type: ignore[arg-type]
                                 Limits(deadline_ms=100))
    provider.text_takes = 0.5
    assert instance.call(Message("s", b"slow panel")) == b"ok:slow panel"
    with pytest.raises(ActorTrapError, match="ran past its 100 ms deadline"):  # the actor's own time still counts
        instance.call(Message("s", b"loop"))
