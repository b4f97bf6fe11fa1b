"""Trust changed at run time (``pi-edge trust add|remove``), saved in the state directory.

What the configuration trusts (``--trust``, ``PI_EDGE_TRUST``, ``trust`` in agent.toml) stays the start;
``trust.json`` keeps the issuers added since and those removed since, so a restart or a reload with the
same configuration trusts what the last ``trust`` command left, and a new issuer needs no restart.
Saved first, applied after: a change that cannot be saved is not made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pi_edge.agent.host.state_file import StateFile

FILE = "trust.json"


@dataclass(frozen=True)
class TrustChanges:
    """Issuers added and removed at run time, over what the configuration trusts."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    def applied(self, configured: Iterable[str]) -> frozenset[str]:
        return (frozenset(configured) - self.removed) | self.added


def _parse(raw: object) -> TrustChanges:
    if not isinstance(raw, dict) or not isinstance(raw["added"], list) or not isinstance(raw["removed"], list):
        raise TypeError('expected {"added": [...], "removed": [...]}')
    return TrustChanges(frozenset(str(k) for k in raw["added"]), frozenset(str(k) for k in raw["removed"]))


class TrustStore:
    def __init__(self, state_dir: Path) -> None:
        self.file: StateFile[TrustChanges] = StateFile(
            state_dir / FILE, "the issuers trusted or distrusted with 'pi-edge trust'", "run those commands again",
            _parse, TrustChanges)
        self.changes = TrustChanges()

    def load(self) -> TrustChanges:
        self.changes = self.file.read()
        return self.changes

    def add(self, issuer: str) -> None:
        """Trust ``issuer`` from now on; saved first (StateError, nothing changed, if it cannot be)."""
        self._save(TrustChanges(self.changes.added | {issuer}, self.changes.removed - {issuer}))

    def remove(self, issuer: str, configured: Iterable[str]) -> None:
        """Trust ``issuer`` no more, even if the configuration names it; saved first."""
        removed = self.changes.removed | ({issuer} & frozenset(configured))
        self._save(TrustChanges(self.changes.added - {issuer}, removed))

    def _save(self, changes: TrustChanges) -> None:
        self.file.write({"added": sorted(changes.added), "removed": sorted(changes.removed)})
        self.changes = changes
