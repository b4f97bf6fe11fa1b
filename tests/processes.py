"""The real ``pi-edge`` command as a child process, watched line by line.

Long-running commands (hub, agent) are read as they print, so a test waits for
the line that says a thing happened instead of sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import select
import shutil
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "pi_edge.agent.cli"]
# Child processes keep their state (host keys, hub store, credentials) out of the user's home.
STATE = Path(tempfile.mkdtemp(prefix="pi-edge-test-state-"))
atexit.register(shutil.rmtree, STATE, True)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PI_EDGE_STATE_DIR": str(STATE)}


async def run_cli(*args: str, timeout: float = 60, prefix: tuple[str, ...] = (),
                  stdin: bytes | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a short command to completion: (exit code, stdout, stderr); ``prefix`` wraps it (``ip netns exec``)."""
    proc = await asyncio.create_subprocess_exec(
        *prefix, *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**ENV, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def exited(pid: int, timeout: float) -> bool:
    """True once ``pid`` (any process, not only a child) has exited; False if it still runs after ``timeout``."""
    try:
        fd = os.pidfd_open(pid)  # readable when the process exits: no polling
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = await asyncio.to_thread(select.select, [fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


class CliProcess:
    """A long-running ``pi-edge`` command whose output lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = asyncio.Condition()
        self._readers = [asyncio.ensure_future(self._read(name)) for name in self.lines]

    @classmethod
    async def start(cls, *args: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None,
                    new_session: bool = False) -> CliProcess:
        """``new_session``: its own session and process group, as a terminal or systemd would start it."""
        proc = await asyncio.create_subprocess_exec(
            *prefix, *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL, env={**ENV, **(env or {})}, start_new_session=new_session,
        )
        return cls(proc)

    async def _read(self, name: str) -> None:
        stream = getattr(self.proc, name)
        while line := await stream.readline():
            async with self._changed:
                self.lines[name].append(line.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self.lines[name].append("")  # EOF marker
            self._changed.notify_all()

    async def wait_line(self, pattern: str, stream: str = "stdout", timeout: float = 60) -> re.Match[str]:
        """The first line matching ``pattern``; fails if the stream ends or time runs out first."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in self.lines[stream]:
                if m := regex.search(line):
                    return m
            return None

        async def wait() -> re.Match[str]:
            async with self._changed:
                while True:
                    if m := found():
                        return m
                    if self.lines[stream][-1:] == [""]:
                        raise AssertionError(f"{stream} ended without {pattern!r}:\n{self.transcript()}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} on {stream} within {timeout} s:\n{self.transcript()}") from None

    def transcript(self) -> str:
        return "\n".join(f"{name}: {line}" for name, lines in self.lines.items() for line in lines)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process and wait for its exit code; kills it if it hangs."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await self.wait(timeout, f"after {sig!r}")

    async def wait(self, timeout: float = 30, why: str = "") -> int:
        """The exit code of a process that ends by itself; kills it if it does not."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"did not stop within {timeout} s {why}:\n{self.transcript()}") from None
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        """Cleanup for a test that failed half-way; also reaps the process's children."""
        if self.proc.returncode is None:
            for child in children(self.proc.pid):
                os.kill(child, signal.SIGKILL)
            self.proc.kill()
            await self.proc.wait()
        for reader in self._readers:
            reader.cancel()
