"""What a host was told to run, kept in its state directory so a reboot restores it.

Read at start, before the hub is even reachable, because the components
themselves are cached next to it.  Saved before each change is applied (see
``control``): a change that cannot be saved is not made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pi_edge.agent.host.state_file import StateFile

FILE = "desired.json"


@dataclass(frozen=True)
class DesiredActor:
    name: str
    digest: str
    scale: int = 1


def _parse(raw: object) -> dict[str, DesiredActor]:
    if not isinstance(raw, dict) or not isinstance(raw["actors"], list):
        raise TypeError("expected {\"actors\": [...]}")
    actors = {}
    for entry in raw["actors"]:
        actor = DesiredActor(str(entry["name"]), str(entry["digest"]), int(entry["scale"]))
        actors[actor.name] = actor
    return actors


class DesiredState:
    """The deployed actors this host runs (or wants to), by name, as saved in ``desired.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.file: StateFile[dict[str, DesiredActor]] = StateFile(
            state_dir / FILE, "the actors deployed to this host", "deploy them again", _parse, dict)
        self.path = self.file.path
        self.components = state_dir / "components"
        self.actors: dict[str, DesiredActor] = {}

    def load(self) -> dict[str, DesiredActor]:
        self.actors = self.file.read()
        return dict(self.actors)

    def with_actor(self, actor: DesiredActor) -> dict[str, DesiredActor]:
        return {**self.actors, actor.name: actor}

    def without(self, name: str) -> dict[str, DesiredActor]:
        return {k: v for k, v in self.actors.items() if k != name}

    def save(self, actors: dict[str, DesiredActor]) -> None:
        """Saved first, then kept: StateError (and nothing changed) if it cannot be saved."""
        self.file.write({"actors": [asdict(a) for a in sorted(actors.values(), key=lambda a: a.name)]})
        self.actors = dict(actors)

    def component_path(self, digest: str) -> Path:
        return self.components / f"{digest}.wasm"
