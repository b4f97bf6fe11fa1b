"""The display as the lattice sees it happen: ``provider-health`` and ``frame`` events.

The provider calls these listeners from its own thread; the events are
published from the host's loop.  Frame events are a preview (``pi-edge
watch``), not a video feed: at most one per ``FRAME_EVENT_INTERVAL_S``, always
the newest frame, so a busy panel costs the host a snapshot per interval, not
per frame.
"""

from __future__ import annotations

import asyncio

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ProviderError
from pi_edge.agent.lattice.events import FRAME, PROVIDER_HEALTH, EventPublisher

FRAME_EVENT_INTERVAL_S = 0.05


class DisplayEvents:
    def __init__(self, provider: DisplayProvider, events: EventPublisher) -> None:
        self.provider = provider
        self.events = events
        self._frame_event_due = False
        self._last_frame_event = float("-inf")

    def start(self) -> None:
        self.provider.listen(on_health=self._health_changed, on_frame=self._frame_shown)

    def stop(self) -> None:
        self.provider.listen()

    def _health_changed(self, healthy: bool, reason: str) -> None:
        """From the provider's thread: publish ``evt.HOST.provider-health``."""
        self.events.publish_from_thread(PROVIDER_HEALTH, {"provider": "display", "healthy": healthy,
                                                          "reason": reason})

    def _frame_shown(self) -> None:
        """From the provider's thread: a frame reached the panel; announce the newest one, once."""
        if self._frame_event_due:
            return
        self._frame_event_due = True
        self.events.from_thread(self._publish_frame)

    async def _publish_frame(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_frame_event + FRAME_EVENT_INTERVAL_S - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)  # rate limit; frames meanwhile are covered by the snapshot below
        self._last_frame_event = loop.time()
        self._frame_event_due = False  # frames after this point get an event of their own
        try:
            screen = await asyncio.to_thread(self.provider.snapshot)
        except ProviderError:
            return  # unknown panel memory: the health event says why
        await self.events.publish(FRAME, {"screen": screen.to_json()})
