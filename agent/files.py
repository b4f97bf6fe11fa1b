"""Files written whole or not at all: what a command writes where the user pointed it (-o), and what
the agent keeps (keys, state), which also survives a power cut.

A missing directory on the way is created; a path that is a directory, or a
place that cannot be written, is refused with the reason, and nothing is left
behind (the bytes go to a hidden sibling first, then are renamed into place).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pi_edge.agent.errors import OutputError


def write_output(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; OutputError says why it could not be."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target} is a directory; name a file to write, e.g. {target / 'out'}")
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: cannot make its directory: {exc.strerror or exc}") from None
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):  # nothing half-written stays behind
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """``data`` in ``path``, whole or not at all; OSError (ENOSPC, EROFS...) leaves ``path`` as it was and no
    temporary file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """The rename itself reaches the disk (else a power cut can bring back the old name)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def tool_lock(directory: Path) -> Iterator[None]:
    """One process at a time prepares what ``directory`` holds (a tool installed or built once per machine);
    another waits, then finds it ready."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
