"""An actor on this host: every running instance of one component, and the claims it runs under.

NATS spreads the actor's messages over its instances' subscriptions (one queue
group), so scaling is just how many instances, each with its own store and
lane, listen.
"""

from __future__ import annotations

import asyncio

from pi_edge.agent.host.instance import Instance
from pi_edge.agent.trust.claims import Claims
from pi_edge.agent.wasm.log_limit import LogLimit


class Actor:
    def __init__(self, name: str, digest: str, claims: Claims | None = None) -> None:
        self.name = name
        self.digest = digest
        self.instances: list[Instance] = []
        self.stopped = False  # set once stopping begins; an instance still starting then stops too
        self.claims = claims  # as verified at start (None: unsigned); judged again when the host's trust changes
        self.granted: frozenset[str] | None = frozenset(claims.capabilities) if claims else None  # None: all
        self.signer: str | None = claims.issuer if claims else None
        self.expiry: asyncio.TimerHandle | None = None  # when its claims are next judged against the clock
        self.refused = False  # set once the host refuses it while running (trust revoked, claims expired)
        self.log_limit: LogLimit | None = None  # shared by its instances; made with the first
        self.code = ""  # where its compiled code came from: cache, hub or compiled (compiled_code)

    @property
    def failed_reason(self) -> str | None:
        reasons = [i.supervisor.failed_reason for i in self.instances if i.supervisor.failed_reason]
        return reasons[0] if reasons else None

    def forgive(self) -> bool:
        """Clear a failed mark (each instance's supervisor starts over); True if it was marked failed."""
        failed = self.failed_reason is not None
        for instance in self.instances:
            instance.supervisor.reset()
        return failed

    @property
    def scale(self) -> int:
        return len(self.instances)

    @property
    def handled(self) -> int:
        return sum(i.handled for i in self.instances)

    @property
    def expired(self) -> int:
        return sum(i.expired for i in self.instances)

    @property
    def failed(self) -> int:
        return sum(i.failed for i in self.instances)
