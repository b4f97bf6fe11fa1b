"""The wheel a user gets: one import name, the built-in actor already built, and it runs from a fresh venv
outside the checkout with no extras, so with no compiler (componentize-py) at all.

Built with pip from this checkout and installed into a new virtual environment
(its dependencies from the package index or pip's cache), then used the way a
person would: ``pi-edge --version`` and ``pi-edge demo`` from another directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(900)


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a clean copy: setuptools reuses a checkout's build/ folder, where a file left from an
    earlier build would hide one the package list now misses."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".build", "build", "dist", "*.egg-info",
                                                                "__pycache__", ".pytest_cache", ".hypothesis", "bench"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, source, cwd=out)
    (built,) = out.glob("pi_edge-*.whl")
    return built


def test_the_wheel_installs_one_import_name_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"pi_edge"}, top
    for wanted in ("pi_edge/agent/py.typed", "pi_edge/providers/py.typed", "pi_edge/actors/wit/pi-edge.wit",
                   "pi_edge/actors/oled_text/app.py", "pi_edge/systemd/pi-edge-agent.service",
                   "pi_edge/systemd/pi-edge-hub.service", "pi_edge/providers/oled/testing.py",
                   "pi_edge/testing/__init__.py", "pi_edge/testing/py.typed", "pi_edge/actors/guard/pi_edge_guard.py",
                   "pi_edge/actors/checker/app.py", "pi_edge/actors/checker/wit/checker.wit",
                   "pi_edge/actors/js/entry.js", "pi_edge/actors/js/componentize.mjs",
                   "pi_edge/actors/prebuilt/oled-text.wasm"):
        assert wanted in names, wanted
    # Every package in the source tree is in the wheel (a subpackage left out of pyproject.toml is not), under
    # the name package-dir gives its folder: agent/testing is pi_edge.testing, and only that.
    for init in [*ROOT.glob("agent/**/__init__.py"), *ROOT.glob("providers/**/__init__.py")]:
        folder = init.relative_to(ROOT).as_posix()
        installed = f"pi_edge/{folder.removeprefix('agent/')}" if folder.startswith("agent/testing/") else \
            f"pi_edge/{folder}"
        assert installed in names, init
    assert not [n for n in names if n.startswith("pi_edge/agent/testing/")]


def test_a_fresh_venv_runs_pi_edge_from_elsewhere(wheel: Path, tmp_path: Path, cache_dir: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python, pi_edge = env_dir / "bin" / "python", env_dir / "bin" / "pi-edge"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=elsewhere, env=env)
    installed = run(python, "-m", "pip", "list", "--format=freeze", cwd=elsewhere, env=env)
    assert "componentize" not in installed.lower(), installed  # a Pi's install: no compiler

    assert run(pi_edge, "--version", cwd=elsewhere, env=env).strip() == "pi-edge 0.1.0"
    for generic in ("agent", "providers", "actors"):
        done = subprocess.run([python, "-c", f"import {generic}"], cwd=elsewhere, env=env, capture_output=True,
                              text=True)
        assert done.returncode != 0 and f"No module named '{generic}'" in done.stderr, (generic, done.stderr)
    plugins = run(python, "-c", "from importlib.metadata import entry_points as e; "
                  "print([p.load().name for p in e(group='pi_edge.providers')])", cwd=elsewhere, env=env)
    assert plugins.strip() == "['oled']"

    # The wheel's own component runs; the suite's cache (compiled code, by digest) spares a compile.
    demo = run(pi_edge, "demo", "From the wheel", "--cache-dir", cache_dir, cwd=elsewhere, env=env)
    assert "as this installation ships it" in demo, demo
    assert "reply: shown: 14 chars" in demo, demo
    assert (elsewhere / "pi-edge-demo.png").is_file()
