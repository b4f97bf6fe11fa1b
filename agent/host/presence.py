"""How this host shows itself on the lattice: ping answers, heartbeats, its display as a provider,
and the ``host-started`` / ``host-stopped`` events.

Started after the actors, so a ping answer means they are reachable.
"""

from __future__ import annotations

import asyncio
import json
import logging

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pi_edge.agent.host.host import Host
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import unsubscribe_all
from pi_edge.agent.lattice.events import HEARTBEAT, HOST_STARTED, HOST_STOPPED
from pi_edge.agent.lattice.provider_service import serve_provider
from pi_edge.agent.tasks import TaskScope

log = logging.getLogger("pi_edge.host")


class Presence:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._subs: list[Subscription] = []
        self._heartbeat = TaskScope(f"host {host.name}: heartbeat")

    async def start(self) -> None:
        """Answer pings and offer the display to linked actors elsewhere (the caller confirms the
        server holds the subscriptions, then announces the host)."""
        host = self.host
        host.events.bind_loop()
        self._subs.append(await host.nc.subscribe(subjects.ctl_ping(host.lattice), cb=self._ping))
        self._subs += await serve_provider(host.nc, host.lattice, host.provider_name, host.provider,
                                           on_expired=self._count_expired)

    async def announce(self) -> None:
        await self.host.events.publish(HOST_STARTED, self.host.describe())

    def _count_expired(self) -> None:
        self.host.expired_requests += 1

    async def _ping(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            await self.host.nc.publish(msg.reply, json.dumps(self.host.describe()).encode())
        except Exception as exc:
            log.warning("host=%s could not answer a ping: %s", self.host.name, exc)

    def start_heartbeat(self, every: float) -> None:
        async def beat() -> None:
            while True:
                await asyncio.sleep(every)  # a period, not synchronisation
                await self.host.events.publish(HEARTBEAT, self.host.describe())

        self._heartbeat.spawn(beat(), "heartbeat")

    async def stop_heartbeat(self) -> None:
        await self._heartbeat.close()
        self._heartbeat = TaskScope(f"host {self.host.name}: heartbeat")

    async def stop(self) -> None:
        """No more pings answered or display calls taken (the heartbeat stops too)."""
        await self.stop_heartbeat()
        subs, self._subs = self._subs, []
        await unsubscribe_all(subs)

    async def farewell(self) -> None:
        await self.host.events.cancel_pending()
        await self.host.events.publish(HOST_STOPPED, {"name": self.host.name})
