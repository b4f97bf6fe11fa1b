"""Links: which provider instance an actor's ``display`` import is bound to.

Without a link an actor draws on its own host's display.  A link names a
provider instance anywhere in the lattice (``<host>-display``); calls then
travel as NATS requests.  The lattice's links live in a JetStream key-value
bucket on the hub, each host keeps its own copy so it can start offline,
and ``link put``/``link del`` tell every host at once.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ConfigError

log = logging.getLogger("pi_edge.links")

BUCKET = "pi-edge-links"
FILE = "links.json"


def provider_instance(host: str) -> str:
    """The name a host's own display provider is reachable by."""
    return f"{host}-display"


class ProviderSlot:
    """What an actor's imports call: the local provider, or a linked one, swappable at any time.

    The actor's instances keep this object; relinking changes where the next
    call goes without restarting anything.
    """

    def __init__(self, target: DisplayProvider, name: str) -> None:
        self.target = target
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.target, attr)


class LinkTable:
    """Links as this host knows them, saved in its state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE
        self.links: dict[str, str] = {}

    def load(self) -> dict[str, str]:
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self.links = {str(k): str(v) for k, v in dict(raw).items()}
            except (OSError, ValueError, TypeError) as exc:
                raise ConfigError(f"{self.path} is damaged ({exc}); fix or remove it (links are re-sent by "
                                  "'pi-edge link put')") from None
        return dict(self.links)

    def set(self, actor: str, provider: str | None) -> None:
        if provider is None:
            self.links.pop(actor, None)
        else:
            self.links[actor] = provider
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.links, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
