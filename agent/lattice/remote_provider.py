"""A display provider on another host, reached over the lattice: ``pe.<lattice>.prov.<name>.<op>``.

``RemoteProvider`` is what a linked actor's imports call (the other end is
``provider_service``).  Requests are JSON; failures come back as the usual
error header and reach the actor as ``err``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
from typing import Any

import nats.errors
from nats.aio.client import Client

from pi_edge.agent.display.provider import DisplayInfo, FrameReport, Health, TextLayout, TextOptions
from pi_edge.agent.display.screen import Screen
from pi_edge.agent.errors import ProviderError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.replies import failure, running, with_deadline

log = logging.getLogger("pi_edge.remote_provider")

#: Of what is left of the caller's wait, the part kept for the actor to answer after a provider timed out.
REPLY_MARGIN_S = 0.25


class RemoteProvider:
    """``DisplayProvider`` over NATS; called from an actor's lane thread, so it hops onto the host's loop."""

    def __init__(self, nc: Client, loop: asyncio.AbstractEventLoop, lattice: str, name: str,
                 timeout: float = 5.0) -> None:
        self.nc, self.loop, self.lattice, self.name, self.timeout = nc, loop, lattice, name, timeout

    def _request(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        subject = subjects.provider(self.lattice, self.name, op)
        timeout = self.timeout
        if running.deadline is not None:  # the actor's caller waits no longer: its answer must get back first
            timeout = min(timeout, running.deadline - time.time() - REPLY_MARGIN_S)
            if timeout <= 0:
                raise ProviderError(f"display provider {self.name!r} was not asked: the request's sender has "
                                    "given up waiting")
        future = asyncio.run_coroutine_threadsafe(
            self.nc.request(subject, json.dumps(args).encode(), timeout=timeout,
                            headers=with_deadline(None, timeout)), self.loop)
        try:
            msg = future.result(timeout + 1)
        except nats.errors.NoRespondersError:
            raise ProviderError(f"display provider {self.name!r} is not running in the lattice "
                                f"(its host is offline, or the link names the wrong provider)") from None
        except (nats.errors.TimeoutError, TimeoutError):
            raise ProviderError(f"display provider {self.name!r} did not answer within {timeout:.3g} s") from None
        except nats.errors.Error as exc:
            raise ProviderError(f"display provider {self.name!r} cannot be reached: {exc}") from None
        if (detail := failure(msg.headers, msg.data)) is not None:
            raise ProviderError(detail)
        return dict(json.loads(msg.data))

    def info(self) -> DisplayInfo:
        return DisplayInfo(**self._request("info", {}))

    def clear(self) -> FrameReport:
        return FrameReport(**self._request("clear", {}))

    def show_text(self, text: str, options: TextOptions) -> TextLayout:
        raw = self._request("show-text", {"text": text, "options": dataclasses.asdict(options)})
        frame = raw.pop("frame", None)
        return TextLayout(**raw, frame=FrameReport(**frame) if frame else None)

    def show_bitmap(self, width: int, height: int, bits: bytes) -> FrameReport:
        return FrameReport(**self._request("show-bitmap", {"width": width, "height": height,
                                                           "bits": base64.b64encode(bits).decode()}))

    def set_contrast(self, level: int) -> None:
        self._request("set-contrast", {"level": level})

    def set_power(self, on: bool) -> None:
        self._request("set-power", {"on": on})

    def set_invert(self, on: bool) -> None:
        self._request("set-invert", {"on": on})

    def snapshot(self) -> Screen:
        raise ProviderError(f"ask the host of {self.name!r} for its snapshot")

    def health(self) -> Health:
        return Health(True)

    def listen(self, on_health: object = None, on_frame: object = None) -> None:
        """Events come from the provider's own host."""

    def close(self) -> None:
        """Nothing held."""
