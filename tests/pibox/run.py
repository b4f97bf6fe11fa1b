"""Running commands on this machine and in the box, each with its output kept for the report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: A clean environment for commands inside the box, as on a fresh Pi: none of this machine's PIP_* settings.
BOX_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
           "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "TERM=dumb"]


def say(text: str) -> None:
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {text}\n")
    sys.stdout.flush()


def run(args: Sequence[str | Path], *, check: bool = True, timeout: float = 1800, input: bytes | None = None,
        env: dict[str, str] | None = None, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command here; its output is returned (and shown unless ``quiet``); a failure raises with it."""
    done = subprocess.run([str(a) for a in args], capture_output=True, timeout=timeout, input=input, env=env)
    result = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                         done.stderr.decode("utf-8", "replace"))
    if check and done.returncode != 0:
        raise BoxError(f"{' '.join(map(str, args))[:200]} exited {done.returncode}:\n"
                       f"{(result.stdout + result.stderr)[-3000:]}")
    if not quiet and (result.stdout or result.stderr).strip():
        sys.stdout.write(_indent(result.stdout + result.stderr))
    return result


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip("\n").splitlines())


class BoxError(Exception):
    """A step of the box failed; the message says which and shows its output."""


def in_chroot(root: Path, *command: str) -> list[str]:
    """``command`` inside the rootfs as a chroot, with a clean environment."""
    return ["chroot", str(root), "/usr/bin/env", "-i", *BOX_ENV, *command]


def mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == target for line in f)


class ChrootMounts:
    """/proc, /sys and /dev of this machine inside the rootfs for the duration of a ``with``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: list[Path] = []

    def __enter__(self) -> ChrootMounts:
        for what, args in (("proc", ["-t", "proc", "proc"]), ("sys", ["-t", "sysfs", "sysfs"]),
                           ("dev", ["--bind", "/dev"]), ("dev/pts", ["--bind", "/dev/pts"])):
            target = self.root / what
            if not mounted(target):
                run(["mount", *args, target])
                self.done.append(target)
        return self

    def __exit__(self, *_exc: object) -> None:
        for target in reversed(self.done):
            run(["umount", target], check=False)


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 30) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pids_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
