"""What a host was told to run, kept in its state directory so a reboot restores it.

Written atomically on every change; read at start, before the hub is even
reachable, because the components themselves are cached next to it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pi_edge.agent.errors import ConfigError

log = logging.getLogger("pi_edge.desired")

FILE = "desired.json"


@dataclass(frozen=True)
class DesiredActor:
    name: str
    digest: str
    scale: int = 1


class DesiredState:
    """The deployed actors this host runs (or wants to), by name, as saved in ``desired.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE
        self.components = state_dir / "components"
        self.actors: dict[str, DesiredActor] = {}

    def load(self) -> dict[str, DesiredActor]:
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self.actors = {a["name"]: DesiredActor(a["name"], a["digest"], int(a["scale"])) for a in raw["actors"]}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{self.path} is damaged ({type(exc).__name__}: {exc}); "
                                  "fix or remove it (it lists the actors to restore at boot)") from None
        return dict(self.actors)

    def remember(self, actor: DesiredActor) -> None:
        self.actors[actor.name] = actor
        self.save(self.actors)

    def forget(self, name: str) -> None:
        if self.actors.pop(name, None) is not None:
            self.save(self.actors)

    def save(self, actors: dict[str, DesiredActor]) -> None:
        data = {"actors": [asdict(a) for a in sorted(actors.values(), key=lambda a: a.name)]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def component_path(self, digest: str) -> Path:
        return self.components / f"{digest}.wasm"
