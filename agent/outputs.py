"""Files a command writes where the user pointed it (-o): whole or not at all, with errors a person can act on.

A missing directory on the way is created; a path that is a directory, or a
place that cannot be written, is refused with the reason, and nothing is left
behind (the bytes go to a hidden sibling first, then are renamed into place).
"""

from __future__ import annotations

import contextlib
import os
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
