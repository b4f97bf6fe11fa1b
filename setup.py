"""The wheel carries the built-in actor already built, so a Pi needs no compiler (``pip install pi-edge``).

Everything else about the package is in pyproject.toml.  Building a wheel runs
componentize-py (a build requirement) on ``actors/oled_text`` once and puts
the component in the wheel as ``pi_edge/actors/prebuilt/oled-text.wasm``;
the build is cached by the digest of the actor's sources, the WIT and the
tool's version, where ``pi-edge build`` caches it.  An editable install
(``pip install -e``, as ``dev.py`` makes) ships no prebuilt actor: the agent
then builds it from the sources with the dev extra's componentize-py.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _module(name: str, path: Path) -> ModuleType:
    """A standard-library-only module of pi-edge, loaded from its file: pi-edge is not installed yet."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithActor(build_py):
    """``build_py`` and then the built-in actor's component, next to its sources in the build tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        componentize = _module("pi_edge_componentize", HERE / "agent" / "wasm" / "componentize.py")
        paths = _module("pi_edge_paths", HERE / "agent" / "paths.py")
        actor_dir, wit, guard = HERE / "actors" / "oled_text", HERE / "actors" / "wit", HERE / "actors" / "guard"
        digest = componentize.python_digest(actor_dir, wit, guard, version("componentize-py"))
        cached = componentize.cached_build(paths.default_cache_dir(), actor_dir, digest)
        target = Path(self.build_lib) / "pi_edge" / "actors" / "prebuilt" / "oled-text.wasm"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not cached.is_file():
            with tempfile.TemporaryDirectory(prefix="pi-edge-wheel-") as work:
                out = Path(work) / "oled-text.wasm"
                subprocess.run(componentize.python_command(actor_dir, guard, wit, Path(work), out), cwd=work,
                               env=componentize.environment(), check=True)
                shutil.copyfile(out, target)
                _keep(out, cached)
        else:
            shutil.copyfile(cached, target)

def _keep(built: Path, cached: Path) -> None:
    """In the cache 'pi-edge build' uses, so the next wheel (or the agent) reuses it; a cache that cannot be
    written costs only a rebuild next time."""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".tmp")
        shutil.copyfile(built, partial)
        partial.replace(cached)
    except OSError:
        pass

setup(cmdclass={"build_py": BuildPyWithActor})
