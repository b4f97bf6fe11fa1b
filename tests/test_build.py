"""Actor builds are cached by a digest that changes with anything that shapes the component."""

from pathlib import Path

import pytest

from pi_edge.agent.errors import BuildError
from pi_edge.agent.wasm.build import build_actor, source_digest


def _actor(tmp_path: Path, body: str) -> Path:
    d = tmp_path / "actor"
    d.mkdir(exist_ok=True)
    (d / "app.py").write_text(body)
    return d


def test_digest_follows_sources_and_wit(tmp_path: Path) -> None:
    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "w.wit").write_text("package a:b;")
    actor = _actor(tmp_path, "x = 1\n")
    first = source_digest(actor, wit, "1.0")
    assert source_digest(actor, wit, "1.0") == first
    (actor / "__pycache__").mkdir()
    (actor / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    assert source_digest(actor, wit, "1.0") == first, "bytecode caches must not force a rebuild"
    assert source_digest(actor, wit, "2.0") != first
    (wit / "w.wit").write_text("package a:c;")
    assert source_digest(actor, wit, "1.0") != first


def test_not_an_actor_directory(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no app.py"):
        build_actor(tmp_path, cache_dir=tmp_path)


def test_componentize_errors_are_summarised(tmp_path: Path) -> None:
    actor = _actor(tmp_path, "this is not python\n")  # valid syntax: a comparison of two names nobody defined
    with pytest.raises(BuildError) as info:
        build_actor(actor, cache_dir=tmp_path / "cache", check=False)
    message = str(info.value)
    assert "could not build" in message and "Stack backtrace" not in message
    assert not list((tmp_path / "cache").rglob("*.wasm")), "a failed build must leave nothing in the cache"
    # componentize-py's guest Python compiled app.py before running it: its bytecode stays in the build's copy
    assert sorted(p.name for p in actor.iterdir()) == ["app.py"], "nothing is written into the actor's folder"


def test_second_build_is_reused(built: dict[str, Path], cache_dir: Path) -> None:
    again = build_actor(Path(__file__).resolve().parent.parent / "actors" / "oled_text", cache_dir)
    assert again.cached and again.path == built["oled-text"]


def test_a_cache_directory_that_cannot_be_made_is_a_build_error(tmp_path: Path) -> None:
    """A default cache directory is not checked at start the way --cache-dir is."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache should be\n")
    with pytest.raises(BuildError, match=rf"cannot write the build cache {blocker}/actors: Not a directory; "
                                         "pick another directory with --cache-dir"):
        build_actor(_actor(tmp_path, "x = 1\n"), cache_dir=blocker)
