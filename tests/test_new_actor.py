"""From nothing to a tested actor: ``pi-edge new`` writes a folder whose ``pi-edge build`` and ``pytest``
pass as written, in Python and in JavaScript (where node is installed), with the build's steps shown."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.processes import run_cli

NODE = shutil.which("node") is not None and shutil.which("npm") is not None
needs_node = pytest.mark.skipif(not NODE, reason="node and npm are not installed: JavaScript actors need them")
pytestmark = pytest.mark.timeout(600)


async def pytest_in(folder: Path, cache_dir: Path) -> tuple[int, str]:
    """The folder's own tests, as its README says to run them: 'pytest' there (this Python's)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=folder,
        env={**os.environ, "PI_EDGE_CACHE_DIR": str(cache_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode()


@pytest.mark.parametrize("lang", ["python", pytest.param("js", marks=needs_node)])
async def test_a_new_actor_builds_and_its_tests_pass_as_written(lang: str, tmp_path: Path, cache_dir: Path) -> None:
    code, out, err = await run_cli("new", "hello", "--lang", lang, "--dir", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / "hello"
    entry = "app.py" if lang == "python" else "actor.js"
    assert sorted(p.name for p in folder.iterdir()) == sorted([entry, "test_actor.py", "README.md", ".gitignore"])
    assert f"created {folder}/" in out and "pi-edge build . -o hello.wasm" in out
    readme = (folder / "README.md").read_text()
    assert "pi-edge deploy hello.wasm --name hello" in readme and "__NAME__" not in readme

    env = {"PI_EDGE_CACHE_DIR": str(cache_dir)}
    code, out, err = await run_cli("build", ".", "-o", "hello.wasm", cwd=folder, env=env, timeout=300)
    assert code == 0, err
    assert re.search(r"^(reused|built) hello.wasm \(sha256 [0-9a-f]{16}…", out, re.M), out
    if out.startswith("built"):  # its steps, with the seconds since the start (stderr is not a terminal here)
        tool = "componentize-py" if lang == "python" else "componentize-js"
        assert re.search(rf"^\[ *\d+\.\d s\] build hello: building with {tool}", err, re.M), err
    assert (folder / "hello.wasm").stat().st_size > 1_000_000

    code, report = await pytest_in(folder, cache_dir)
    assert code == 0 and "3 passed" in report, report


async def test_an_existing_folder_is_never_written_over(tmp_path: Path) -> None:
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "app.py").write_text("# mine\n")
    code, _out, err = await run_cli("new", "hello", "--dir", str(tmp_path))
    assert code == 2 and "already exists and is not an empty folder" in err, err
    assert (tmp_path / "hello" / "app.py").read_text() == "# mine\n"


async def test_an_actor_name_must_fit_a_subject(tmp_path: Path) -> None:
    code, _out, err = await run_cli("new", "my.actor", "--dir", str(tmp_path))
    assert code == 2 and "actor name 'my.actor' is not allowed" in err, err
    assert not list(tmp_path.iterdir())


async def test_a_javascript_actor_without_node_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    code, out, err = await run_cli("new", "hi", "--lang", "js", "--dir", str(tmp_path),
                                   env={"PATH": str(tmp_path / "bin")})
    assert code == 0, err
    assert ("note: building a JavaScript actor needs Node.js 18 or later with npm (https://nodejs.org, or "
            "'sudo apt install nodejs npm')") in out, out
    assert (tmp_path / "hi" / "actor.js").is_file()
