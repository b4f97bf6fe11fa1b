"""How ``pi-edge hub enroll`` and ``revoke`` tell a running hub: a Unix socket in its state directory.

Only who can open the hub's state directory (mode 0700: the hub's own user)
can reach the socket, so it needs no credentials of its own.  One JSON line
each way: the command asks the hub to apply the enrolment table again, the
hub answers once it has (the server reloaded, a revoked Pi kicked off), so
what the command prints is what happened.  No socket (or nobody listening)
means no hub runs there: the table is read at its next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pi_edge.agent.errors import EnrolmentError, PiEdgeError

log = logging.getLogger("pi_edge.hub")

SOCKET = "hub.sock"
#: Longest path a Unix socket may have (sun_path, with its terminating NUL).
_MAX_PATH = 107

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class AdminSocket:
    """Listens on ``state_dir/hub.sock``; each request is handed to ``handler``, whose line is the answer."""

    def __init__(self, state_dir: Path, handler: Handler) -> None:
        self.path = state_dir / SOCKET
        self.handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if len(str(self.path).encode()) > _MAX_PATH:
            log.warning("hub: the state directory's path is too long for a control socket (%s); 'pi-edge hub "
                        "enroll' and 'revoke' apply at the next hub start", self.path)
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a hub that was killed
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        self.path.chmod(0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await asyncio.wait_for(reader.readline(), 10))
            try:
                answer = {"ok": True, **await self.handler(dict(request))}
            except PiEdgeError as exc:
                answer = {"ok": False, "message": str(exc)}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ValueError, TypeError, OSError) as exc:
            log.debug("hub: control socket request failed: %s", exc)
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


async def ask_hub(state_dir: Path, request: dict[str, Any], timeout: float = 15.0) -> dict[str, Any] | None:
    """The running hub's answer to ``request``; None if no hub runs with this state directory."""
    path = state_dir / SOCKET
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    except OSError as exc:
        raise EnrolmentError(f"cannot reach the running hub through {path}: {exc.strerror or exc}") from None
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (TimeoutError, OSError) as exc:
        raise EnrolmentError(f"the running hub did not answer through {path} ({exc or 'no answer'}); the change is "
                             "saved and applies at its next start") from None
    finally:
        writer.close()
    try:
        answer = json.loads(line)
    except ValueError:
        raise EnrolmentError(f"the running hub answered through {path} with {line[:80]!r}") from None
    if not answer.get("ok"):
        raise EnrolmentError(f"the running hub could not apply it: {answer.get('message')}")
    return dict(answer)
