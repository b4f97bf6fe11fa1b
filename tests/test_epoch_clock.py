"""The epoch clock ticks only while actor code runs, and deadlines hold across its naps."""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_edge.agent.errors import ActorTrapError
from pi_edge.agent.wasm import runtime as runtime_module
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus


@pytest.mark.timeout(60)  # a clock that does not wake for a call would let the loop below run forever
def test_a_parked_clock_wakes_for_a_call_and_its_deadline_holds(
        cache_dir: Path, built: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "CLOCK_IDLE_S", 0.02)
    runtime = Runtime(cache_dir=cache_dir)
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
    try:
        instance = ComponentInstance(runtime, runtime.load_file("misbehave", built["misbehave"]), provider,
                                 Limits(deadline_ms=200))
        assert runtime.clock.parked.wait(10), "the clock kept ticking with no actor code running"
        ticks = runtime.clock.ticks
        with pytest.raises(ActorTrapError, match="200 ms deadline"):
            instance.call(Message("s", b"loop"))
        assert runtime.clock.ticks - ticks >= 20  # it ticked through the deadline: 200 ms of 10 ms ticks
        assert runtime.clock.parked.wait(10), "the clock did not park again after the call"
        assert instance.call(Message("s", b"hello")) == b"ok:hello"  # the fresh instance serves
    finally:
        runtime.close()
        provider.close()


def test_the_clock_counts_calls_in_progress_not_calls_made(cache_dir: Path) -> None:
    runtime = Runtime(cache_dir=cache_dir)
    try:
        clock = runtime.clock
        with clock.running():
            with clock.running():
                assert clock._running == 2
            assert clock._running == 1
        assert clock._running == 0
        with pytest.raises(RuntimeError), clock.running():
            raise RuntimeError("a call that fails still ends")
        assert clock._running == 0
    finally:
        runtime.close()
