"""Compiling a component in a child process: ``python -m pi_edge.agent.wasm.compiler TRIPLE``.

The component comes on standard input; the artifact goes to ``-o FILE`` (or
standard output), and the last line on standard error is ``pi-edge-compiled``
and a JSON object: seconds, peak RSS, size, versions.  A child, because
Cranelift's 300-400 MiB peak stays in a process's heap for good once reached
(glibc keeps it), and because an engine for a target this wheel lacks aborts
the whole process: the agent keeps neither.  A command that runs another
Python (``--python``: an arm64 userland under qemu-user, a bigger Pi over
ssh) compiles for that Python's machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_edge.agent.errors import ActorLoadError

STATS_PREFIX = "pi-edge-compiled "
#: Exit code of the child when wasmtime refuses the component itself (not a crash, not memory).
REFUSED = 3


@dataclass(frozen=True)
class Compiled:
    """What a child compile produced: the artifact (or where it wrote it) and what it cost."""

    data: bytes | None
    stats: dict[str, Any]


def command(triple: str, settings: dict[str, Any], parallel: bool, out: Path | None,
            python: Sequence[str] | None = None) -> list[str]:
    args = [*(python or [sys.executable]), "-m", "pi_edge.agent.wasm.compiler", triple,
            "--settings", json.dumps(settings, sort_keys=True)]
    return [*args, *([] if parallel else ["--single-thread"]), *(["-o", str(out)] if out else [])]


def run(name: str, wasm: bytes, triple: str, settings: dict[str, Any], parallel: bool, out: Path | None = None,
        python: Sequence[str] | None = None, timeout: float | None = None) -> Compiled:
    """Compile in a child and wait; ActorLoadError says what went wrong, in one line."""
    done = subprocess.run(command(triple, settings, parallel, out, python), input=wasm, capture_output=True,
                          timeout=timeout)
    return _result(name, done.returncode, done.stdout, done.stderr, out, python)


async def run_async(name: str, wasm: bytes, triple: str, settings: dict[str, Any], parallel: bool,
                    out: Path | None = None) -> Compiled:
    """``run`` for an event loop: cancelled (the agent is stopping), the child is killed, not waited for."""
    proc = await asyncio.create_subprocess_exec(*command(triple, settings, parallel, out), stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = await proc.communicate(wasm)
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    return _result(name, proc.returncode or 0, stdout, stderr, out, None)


def _result(name: str, code: int, stdout: bytes, stderr: bytes, out: Path | None,
            python: Sequence[str] | None) -> Compiled:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    if code == 0 and lines and lines[-1].startswith(STATS_PREFIX):
        return Compiled(None if out else stdout, json.loads(lines[-1].removeprefix(STATS_PREFIX)))
    said = next((ln.split(": error: ", 1)[1] for ln in reversed(lines) if ": error: " in ln), "")
    if code == REFUSED:
        raise ActorLoadError(f"actor {name!r}: not a valid component: {said}")
    if code < 0:
        why = "out of memory?" if code == -signal.SIGKILL else signal.Signals(-code).name
        raise ActorLoadError(f"compiling actor {name!r} was killed by signal {-code} ({why})")
    runner = shlex.join(python) if python else sys.executable
    raise ActorLoadError(f"compiling actor {name!r} failed (exit {code} of {runner} -m pi_edge.agent.wasm.compiler): "
                         f"{said or (lines[-1] if lines else 'no output')}")


# -- the child ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    from pi_edge.agent.wasm.targets import NATIVE, TARGETS

    parser = argparse.ArgumentParser(prog="python -m pi_edge.agent.wasm.compiler",
                                     description="compile a component (standard input) into a wasmtime artifact")
    parser.add_argument("triple", choices=[*sorted(TARGETS), NATIVE.triple])
    parser.add_argument("--settings", default="{}", help="engine settings, as JSON (see targets.engine_settings)")
    parser.add_argument("--single-thread", action="store_true", help="compile on one thread: a lower peak")
    parser.add_argument("-o", dest="out", type=Path, help="write the artifact here (default: standard output)")
    args = parser.parse_args(argv)
    try:
        settings = json.loads(args.settings)
        if set(settings) - {"epoch_interruption"}:
            raise ValueError(f"unknown settings {sorted(set(settings) - {'epoch_interruption'})}")
    except ValueError as exc:
        parser.error(f"--settings: {exc}")
    import wasmtime
    from wasmtime import component as wc

    config = wasmtime.Config()
    if args.triple in TARGETS:  # set explicitly: the baseline, never this CPU's own features
        config.target = TARGETS[args.triple].triple
    config.epoch_interruption = bool(settings.get("epoch_interruption", False))
    config.parallel_compilation = not args.single_thread
    engine = wasmtime.Engine(config)
    wasm = sys.stdin.buffer.read()
    started = time.perf_counter()
    try:
        data = wc.Component(engine, wasm).serialize()
    except wasmtime.WasmtimeError as exc:
        sys.stderr.write(f"pi-edge-compiler: error: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}\n")
        return REFUSED
    seconds = time.perf_counter() - started
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    from importlib.metadata import version

    stats = {"seconds": round(seconds, 3), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
             "size": len(data), "wasmtime": version("wasmtime"), "triple": args.triple,
             "parallel": not args.single_thread}
    sys.stderr.write(STATS_PREFIX + json.dumps(stats) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
