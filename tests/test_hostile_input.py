"""Random bytes and headers to every subject a host listens on: each gets an answer or is
ignored, nothing crashes, the host keeps serving and its memory stays flat."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.replies import ERROR_HEADER
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus

HOST = "fuzz-pi"
SUBJECTS = [
    subjects.actor("default", "oled-text"),
    subjects.ctl_ping("default"),
    *(subjects.ctl("default", HOST, op) for op in ("inventory", "snapshot", "deploy", "stop", "scale", "link")),
    *(subjects.provider("default", f"{HOST}-display", op)
      for op in ("info", "clear", "show-text", "show-bitmap", "set-contrast", "set-power", "set-invert")),
]


class LoopThread:
    """An event loop in a thread, so hypothesis can drive a long-lived agent from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 60):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def fuzz_agent(built, cache_dir, tmp_path_factory) -> Iterator[tuple[LoopThread, Agent, object]]:
    lt = LoopThread()
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
    service = Agent(AgentOptions(name=HOST, port=0, cache_dir=cache_dir, heartbeat_s=0, allow_unsigned=True,
                                        state_dir=tmp_path_factory.mktemp("fuzz-state"),
                                        actors=[ActorSpec("oled-text", built["oled-text"])]), provider)
    lt.run(service.start())
    nc = lt.run(connect(service.url, name="fuzzer", credentials=service.credentials))
    try:
        yield lt, service, nc
    finally:
        lt.run(nc.close())
        lt.run(service.stop())
        provider.close()
        lt.close()


async def poke(nc, subject: str, body: bytes, headers: dict[str, str] | None) -> bytes | None:  # type: ignore[no-untyped-def]
    try:
        msg = await nc.request(subject, body, timeout=5, headers=headers)
    except nats.errors.NoRespondersError:
        pytest.fail(f"nobody answered on {subject}: the handler died")
    if msg.headers and ERROR_HEADER in msg.headers:
        assert msg.data, f"an error reply on {subject} without a reason"
    return msg.data


# Header names a NATS client will send at all; the values are free text.
header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1,
                       max_size=12)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@given(subject=st.sampled_from(SUBJECTS), body=st.binary(max_size=2048),
       headers=st.none() | st.dictionaries(header_names, header_values, max_size=3))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bytes_on_every_subject_get_an_answer(fuzz_agent, subject, body, headers) -> None:
    lt, _service, nc = fuzz_agent
    lt.run(poke(nc, subject, body, headers))


def test_after_the_fuzzing_the_host_serves_and_memory_is_flat(fuzz_agent) -> None:
    lt, service, nc = fuzz_agent
    before = rss_kib()
    for i in range(300):
        lt.run(poke(nc, SUBJECTS[i % len(SUBJECTS)], bytes([i % 256]) * (i * 7 % 1500), None))
    after = rss_kib()
    reply = lt.run(poke(nc, subjects.actor("default", "oled-text"), b"Still standing", None))
    assert reply is not None and reply.startswith(b"shown:")
    assert service.host is not None and sorted(service.host.actors) == ["oled-text"]
    assert after - before < 20 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MiB over 300 hostile messages"


@pytest.mark.parametrize(("op", "body", "reason"), [
    ("set-contrast", b"[" * 200_000 + b"]" * 200_000, "the request is nested too deeply"),
    ("set-contrast", b'{"level": Infinity}', "field 'level' must be a whole number"),
    ("set-contrast", b'{"level": 1e999}', "field 'level' must be a whole number"),
    ("set-contrast", b'{"level": NaN}', "field 'level' must be a whole number"),
    ("set-invert", b'{"on": "false"}', "field 'on' must be true or false, got \"false\""),
    ("set-power", b'{"on": 0}', "field 'on' must be true or false, got 0"),
    ("show-text", b'{"text": "x", "options": {"wrap": "no"}}', "field 'wrap' must be true or false"),
    ("show-text", b'{"text": "x", "options": {"font_size": true}}', "options.font_size must be a whole number"),
    ("show-bitmap", b'{"width": 128, "height": 64, "bits": "!!"}', "field 'bits' must be base64"),
    ("show-text", b'{"text": ["x"]}', "field 'text' must be a string"),
])
def test_a_malformed_provider_request_is_answered_and_changes_nothing(fuzz_agent, op: str, body: bytes,
                                                                     reason: str) -> None:
    """JSON nested 200k deep or holding Infinity got no answer; {"on": "false"} inverted the panel."""
    lt, service, nc = fuzz_agent
    inverted = service.provider.inverted
    msg = lt.run(nc.request(subjects.provider("default", f"{HOST}-display", op), body, timeout=5))
    assert msg.headers and ERROR_HEADER in msg.headers, msg.data
    assert f"malformed {op} request: {reason}" in msg.data.decode(), msg.data
    assert service.provider.inverted == inverted
