"""Long work shows its steps with their times: a spinner on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
import re
import threading

import pytest

from pi_edge.agent.cli.progress import StepsOnStderr


def test_plain_lines_name_each_step_with_the_seconds_since_the_start() -> None:
    stream = io.StringIO()
    with StepsOnStderr("deploy hello", stream, tty=False) as progress:
        progress.step("uploading hello.wasm (17.5 MiB)")
        for done in (0.1, 0.3, 0.6, 0.9, 1.0):
            progress.status("uploading", done)
        progress.note("pi-01: fetching")
        progress.step("starting it on 1 host(s)")
    lines = stream.getvalue().splitlines()
    assert [re.sub(r"^\[ *\d+\.\d s\] ", "", line) for line in lines] == [
        "deploy hello: uploading hello.wasm (17.5 MiB)", "deploy hello: uploading 30%", "deploy hello: uploading 60%",
        "deploy hello: uploading 90%", "deploy hello: uploading 100%", "pi-01: fetching",
        "deploy hello: starting it on 1 host(s)"]
    assert all(re.match(r"^\[ *\d+\.\d s\] ", line) for line in lines)
    assert "\r" not in stream.getvalue(), "no terminal codes where there is no terminal"


def test_on_a_terminal_each_finished_step_stays_with_its_time_and_the_spinner_stops() -> None:
    stream = io.StringIO()
    progress = StepsOnStderr("build hello", stream, tty=True)
    progress.step("checking app.py")
    progress.step("building with componentize-py (about 10 s)")
    progress.status("half", 0.5)
    progress.close()
    assert not [t for t in threading.enumerate() if t.name == "progress"], "the spinner's thread is stopped"
    finished = [line.split("\x1b[K")[-1] for line in stream.getvalue().split("\n") if "✓" in line]
    assert [re.sub(r"  \d+\.\d s$", "", line) for line in finished] == [
        "✓ checking app.py", "✓ building with componentize-py (about 10 s)"]


def test_a_failed_step_is_marked_as_such_on_a_terminal() -> None:
    stream = io.StringIO()

    def build() -> None:
        with StepsOnStderr("build hello", stream, tty=True) as progress:
            progress.step("building")
            raise RuntimeError("it broke")

    with pytest.raises(RuntimeError):
        build()
    assert "✗ building" in stream.getvalue() and "✓" not in stream.getvalue()
