"""JavaScript actors, built by ``pi-edge build`` with componentize-js from npm (installed once, cached):
they import only what the world grants, and an Error they throw is named with its line.  Where node is
not installed these tests are skipped and the build says how to get it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_edge.agent.errors import BuildError, WorldMismatchError
from pi_edge.agent.wasm import build_js
from pi_edge.agent.wasm.build import build_actor
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.agent.wasm.wit import WORLD, wit_dir
from pi_edge.testing import ActorCallError, ActorRaisedError, ActorUnderTest, load_actor
from tests.conftest import TEST_ACTORS

NODE = shutil.which("node") is not None and shutil.which("npm") is not None
needs_node = pytest.mark.skipif(not NODE, reason="node and npm are not installed: JavaScript actors need them")
pytestmark = pytest.mark.timeout(600)
CRASH_JS = TEST_ACTORS / "crash_js"


@pytest.fixture(scope="module")
def crash_js(cache_dir: Path) -> Path:
    return build_actor(CRASH_JS, cache_dir).path


@pytest.fixture
def actor(crash_js: Path, cache_dir: Path) -> Iterator[ActorUnderTest]:
    with load_actor(crash_js, name="crash-js", cache_dir=cache_dir) as actor:
        yield actor


@needs_node
def test_it_imports_only_what_the_world_grants_and_draws(actor: ActorUnderTest, crash_js: Path) -> None:
    from pi_edge.agent.wasm import binary

    assert [i.name for i in binary.imports(crash_js.read_bytes())] == [
        "pi-edge:actor/display@0.1.0", "pi-edge:actor/logging@0.1.0"]
    assert actor.send("panel") == b"lines=1 size=20"
    assert actor.screen().lit() > 0
    assert [(line.level, line.message) for line in actor.logs] == [("WARNING", "lines=1")]


@needs_node
@pytest.mark.parametrize(("body", "expected"), [
    (b"boom", r"raised TypeError: can't access property \"contrast\", config.display is undefined at actor.js:10 in settings, called from "
              r"actor.js:16 in handle$"),
    (b"type", r"raised TypeError: \"middle\" is not one of the cases of align at actor.js:17 in handle$"),
    (b"str", r"raised TypeError: handle returned a string, not bytes: encode it, e.g. return new "
             r"TextEncoder\(\).encode\(text\)$"),
])
def test_a_thrown_error_names_itself_and_its_line(actor: ActorUnderTest, body: bytes, expected: str) -> None:
    """componentize-js alone traps on a thrown Error and loses its message, and sends a returned string
    as nothing at all."""
    with pytest.raises(ActorRaisedError, match=f"^actor 'crash-js' {expected}"):
        actor.send(body)
    assert actor.send("after") == b"echo:after"


@needs_node
def test_a_thrown_string_is_the_actors_own_err(actor: ActorUnderTest) -> None:
    with pytest.raises(ActorCallError, match="^a reason of its own$") as info:
        actor.send("err")
    assert not isinstance(info.value, ActorRaisedError)


@pytest.fixture(scope="module")
def default_features(cache_dir: Path, crash_js: Path) -> Path:
    """The same actor built the way componentize-js builds by default: every WASI feature on."""
    source = (CRASH_JS / "actor.js").read_bytes()
    out = cache_dir / f"crash-js-default-features-{hashlib.sha256(source).hexdigest()[:16]}.wasm"
    if not out.exists():
        home = build_js.toolchain(cache_dir)
        script = out.with_suffix(".mjs")
        module = home / "node_modules" / "@bytecodealliance" / "componentize-js" / "src" / "componentize.js"
        script.write_text(
            f"import {{ writeFile }} from 'node:fs/promises';\nconst {{ componentize }} = await import({module.as_uri()!r});\n"
            f"const {{ component }} = await componentize({{ sourcePath: {str(CRASH_JS / 'actor.js')!r}, "
            f"witPath: {str(wit_dir())!r}, worldName: {WORLD!r} }});\nawait writeFile({str(out)!r}, component);\n")
        subprocess.run([shutil.which("node") or "node", str(script)], check=True, capture_output=True)
    return out


@needs_node
def test_a_default_componentize_js_build_is_told_which_features_to_turn_off(default_features: Path,
                                                                            tmp_path: Path) -> None:
    """It was compiled for 20 s, then refused with a hint to use 'pi-edge build', which built only Python."""
    runtime = Runtime(cache_dir=tmp_path)
    try:
        started = time.perf_counter()
        with pytest.raises(WorldMismatchError, match=r"which this host does not provide .* componentize-js built it "
                                                     r"with WASI features on: build it with 'pi-edge build', which turns "
                                                     r"them off, or pass disableFeatures: \['stdio', 'random', 'clocks', "
                                                     r"'http', 'fetch-event'\] to componentize-js \(on its command "
                                                     r"line: -d stdio random clocks http fetch-event\)$"):
            runtime.load_file("crash-js", default_features)
        assert time.perf_counter() - started < 0.5
    finally:
        runtime.close()


def test_without_node_the_build_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    with pytest.raises(BuildError, match=r"building a JavaScript actor needs Node.js 18 or later with npm "
                                         r"\(https://nodejs.org, or 'sudo apt install nodejs npm'\)"):
        build_actor(CRASH_JS, tmp_path / "cache")


@needs_node
async def test_an_agent_builds_and_runs_a_javascript_folder(start_agent, crash_js: Path) -> None:
    """--actor NAME=DIR with actor.js: built (here: from the cache), signed by the host, served."""
    from pi_edge.agent.lattice import subjects
    from pi_edge.agent.lattice.client import request
    from pi_edge.agent.lattice.connection import connect

    agent = await start_agent({"crash-js": CRASH_JS}, allow_unsigned=False)
    nc = await connect(agent.url, name="test")
    try:
        reply = await request(nc, subjects.actor("default", "crash-js"), b"hi", None, 10, what="actor")
        assert reply.body == b"echo:hi"
    finally:
        await nc.close()
