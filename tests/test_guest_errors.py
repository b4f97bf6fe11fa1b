"""An exception an actor does not catch reaches the caller with its type, its message and the actor's own
lines (pi-edge's guard, added at build time), and the instance is replaced as after a trap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_edge.testing import ActorCallError, ActorRaisedError, ActorUnderTest, Limits, load_actor


@pytest.fixture
def crash(built: dict[str, Path], cache_dir: Path) -> Iterator[ActorUnderTest]:
    with load_actor(built["crash"], name="crash", cache_dir=cache_dir,
                    limits=Limits(memory_bytes=64 * 2**20, deadline_ms=5000)) as actor:
        yield actor


@pytest.mark.parametrize(("body", "expected"), [
    # innermost frame first: where it happened, then who called it
    (b"zero", r"raised ZeroDivisionError: division by zero at helper.py:7 in ratio, "
              r"called from app.py:\d+ in handle$"),
    (b"key", r"raised KeyError: 'missing' at app.py:\d+ in handle$"),
    (b"deep", r"raised RecursionError: maximum recursion depth exceeded at app.py:\d+ in deeper \(\d+ times\), "
              r"called from app.py:\d+ in handle$"),
    (b"exit", r"raised SystemExit: 3 at app.py:\d+ in handle$"),
    (b"chain", r"raised app.ActorError: no setting \(while handling KeyError: 'setting'\) at app.py:\d+ in handle$"),
    (b"str", r"raised TypeError: handle returned a str, not bytes: encode it, e.g. return text.encode\(\)$"),
    (b"none", r"raised TypeError: handle returned None, not bytes$"),
    (b"hoard", r"raised MemoryError at app.py:\d+ in handle \(it reached its 64 MiB memory cap: --memory-mb\)$"),
])
def test_an_uncaught_exception_names_its_type_message_and_lines(crash: ActorUnderTest, body: bytes,
                                                                expected: str) -> None:
    """It was a trap whose reply said "the sandbox keeps no traceback" and pointed at memory."""
    with pytest.raises(ActorRaisedError, match=f"^actor 'crash' {expected}"):
        crash.send(body)
    assert crash.instance.restarts == 1, "an uncaught exception replaces the instance, as a trap does"
    assert crash.send(b"after") == b"echo:after"


def test_what_is_nearly_right_is_answered(crash: ActorUnderTest) -> None:
    assert crash.send(b"bytearray") == b"bytes after all"  # componentize-py alone trapped on a bytearray
    with pytest.raises(ActorCallError, match="^the actor raised Err with a int, not a str: 42$"):
        crash.send(b"err42")
    with pytest.raises(ActorCallError, match="^a reason of its own$") as info:
        crash.send(b"err")
    assert not isinstance(info.value, ActorRaisedError), "an err of the actor's own is its answer, not a bug"
    assert crash.instance.restarts == 0


def test_the_actors_handler_is_made_once_per_instance(crash: ActorUnderTest) -> None:
    """As componentize-py does without the guard: state the Handler keeps lasts from message to message."""
    assert [crash.send(b"count") for _ in range(3)] == [b"1", b"1", b"1"]


def test_the_harness_sees_the_actors_log_lines(crash: ActorUnderTest) -> None:
    assert crash.send(b"shout") == b"shouted"
    assert [(line.level, line.context, line.message) for line in crash.logs] == [("WARNING", "crash", "shouting")]
