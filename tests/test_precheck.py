"""A syntax or import error in an actor is named by ``pi-edge build`` in well under a second, before
componentize-py runs (about ten seconds to find the same), judged by the actors' own Python."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from pi_edge.agent.errors import ActorSourceError
from pi_edge.agent.wasm import precheck
from pi_edge.agent.wasm.build import _componentize_version, build_actor

HANDLER = "from wit_world import exports\n\n\nclass Handler(exports.Handler):\n    def handle(self, msg):\n        return b'x'\n"


def actor(tmp_path: Path, app: str, name: str = "actor", **others: str) -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "app.py").write_text(app)
    for name, text in others.items():
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.fixture(scope="module")
def checker(cache_dir: Path) -> precheck.PythonChecker:
    """Built and compiled once per machine (here: once per test cache), then loaded in milliseconds."""
    return precheck.PythonChecker(cache_dir, _componentize_version())


def test_a_syntax_error_is_named_in_well_under_a_second(tmp_path: Path, cache_dir: Path,
                                                        checker: precheck.PythonChecker) -> None:
    """It took a componentize-py run (about 10 s) to be reported."""
    folder = actor(tmp_path, HANDLER + "\ndef broken(:\n    pass\n", name="syntax-slip")
    started = time.perf_counter()
    with pytest.raises(ActorSourceError, match=r"syntax-slip/app\.py:8: SyntaxError: invalid syntax \(Python 3\.1[4-9]"
                                               r".*, the actors' Python\): def broken\(:"):
        build_actor(folder, cache_dir)
    seconds = time.perf_counter() - started
    assert seconds < 1.0, f"the check took {seconds:.2f} s"
    assert not list((cache_dir / "actors").glob("syntax-slip-*.wasm")), "nothing is built"


def test_what_only_the_compiler_refuses_is_a_syntax_error_too(tmp_path: Path, checker: precheck.PythonChecker) -> None:
    assert checker.check(actor(tmp_path, HANDLER + "return 5\n")) == [
        "app.py:7: SyntaxError: 'return' outside function (Python 3.14.0, the actors' Python): return 5"]


def test_the_actors_python_is_the_judge_not_the_hosts(tmp_path: Path, checker: precheck.PythonChecker) -> None:
    """Python 3.12's type statement and 3.14's unparenthesised except: the host's Python (3.11) refuses both,
    the actor's accepts them, and so does the check."""
    modern = "type Reply = bytes\ntry:\n    pass\nexcept ValueError, TypeError:\n    pass\n"
    with pytest.raises(SyntaxError):
        compile(modern, "app.py", "exec")
    assert checker.check(actor(tmp_path, modern + HANDLER)) == []


@pytest.mark.parametrize(("app", "others", "problem"), [
    ("from wit_world.imports import screen\n", {}, "app.py:1: ImportError: cannot import name 'screen' from "
                                                   "'wit_world.imports'"),
    ("import jsonn\n", {}, "app.py:1: ModuleNotFoundError: No module named 'jsonn' (it is neither a module in the "
                           "actor's folder nor part of the actors' standard library; a package from PyPI must be "
                           "copied into the folder)"),
    ("from helper import missing\n", {"helper": "present = 1\n"},
     "app.py:1: ImportError: cannot import name 'missing' from 'helper'"),
    ("import helper\n", {"helper": "from wit_world.imports.display import Alignment\n"},
     "helper.py:1: ImportError: cannot import name 'Alignment' from 'wit_world.imports.display'"),
    ("from . import helper\n", {"helper": ""}, "app.py:1: ImportError: attempted relative import with no known "
                                               "parent package"),
])
def test_an_import_error_is_named_with_its_line(tmp_path: Path, checker: precheck.PythonChecker, app: str,
                                               others: dict[str, str], problem: str) -> None:
    found = checker.check(actor(tmp_path, app + HANDLER, **others))
    assert len(found) == 1 and found[0].startswith(problem), found


def test_imports_that_work_pass(tmp_path: Path, checker: precheck.PythonChecker) -> None:
    """The standard library, the bindings, the actor's own modules and packages, imports only a function
    makes (at call time), and guarded ones."""
    app = ("import json, os.path\nfrom componentize_py_types import Err\nfrom wit_world.imports import display\n"
           "from wit_world.imports.display import Align, TextOptions\nfrom pkg import tool\nfrom pkg.tool import go\n"
           "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n\n\ndef later():\n    import nothere\n")
    folder = actor(tmp_path, app + HANDLER)
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "tool.py").write_text("from . import helper\nfrom .helper import x\n\n\ndef go():\n    pass\n")
    (folder / "pkg" / "helper.py").write_text("x = 1\n")
    (folder / "test_app.py").write_text("import pytest\nfrom pi_edge.testing import load_actor\n")  # not the actor's
    assert checker.check(folder) == []


def test_an_actor_without_a_handler_is_told(tmp_path: Path, checker: precheck.PythonChecker) -> None:
    assert checker.check(actor(tmp_path, "x = 1\n")) == [
        "app.py:1: the actor defines no class Handler: componentize-py needs one with a handle(self, msg) method "
        "(see the actor 'pi-edge new' makes)"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: JavaScript actors need it")
def test_a_javascript_syntax_error_is_named_before_building(tmp_path: Path) -> None:
    folder = tmp_path / "js"
    folder.mkdir()
    (folder / "actor.js").write_text("export const handler = {\n  handle(msg) { return msg +; },\n};\n")
    started = time.perf_counter()
    with pytest.raises(ActorSourceError, match=r"js/actor\.js:2: SyntaxError: Unexpected token ';'"):
        precheck.check_javascript(folder, str(shutil.which("node")))
    assert time.perf_counter() - started < 1.0


def test_the_check_runs_nothing_of_the_actor(tmp_path: Path, checker: precheck.PythonChecker) -> None:
    """Importing the actor on the host to check it would run its code outside the sandbox."""
    marker = tmp_path / "ran"
    folder = actor(tmp_path, f"open({str(marker)!r}, 'w').write('x')\n" + HANDLER)
    assert checker.check(folder) == []
    assert not marker.exists()
