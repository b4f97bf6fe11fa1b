"""What a compiled artifact is compiled for, from a fixed table: the key it is cached and shared by.

A wasmtime engine built for a target its wheel lacks, or with a Cranelift flag
it does not know, does not raise: the whole process aborts.  So engines that
compile are only ever made from this table (and in a child process, see
``compiler``), never from a string off the network.  Every target is pinned
at its baseline profile, "base" (the triple set explicitly, no CPU feature
flags): one artifact then fits every CPU of that architecture, a Pi 3, 4 and
5 alike, and the same bytes come out wherever it is compiled.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

WASMTIME_VERSION = version("wasmtime")
#: The only profile: the architecture's baseline, with no CPU feature flags.
BASE = "base"
#: Artifacts are ELF files whichever machine loads them; the triples pi-edge hosts run on.
TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Target:
    triple: str
    profile: str = BASE
    #: Cranelift ISA flags the artifact needs of the CPU; none at the baseline.
    isa_flags: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {triple: Target(triple) for triple in TRIPLES.values()}
#: A machine pi-edge has no target for compiles for its own CPU; such artifacts are never shared.
NATIVE = Target("native", profile="native")


def native_triple() -> str | None:
    """This machine's target triple, or None if pi-edge has no target for it."""
    machine = _MACHINES.get(platform.machine().lower())
    return TRIPLES.get(machine) if machine and platform.system() == "Linux" else None


def local_target() -> Target:
    """What this machine compiles for: its architecture's baseline (shareable), else its own CPU."""
    return TARGETS.get(native_triple() or "", NATIVE)


def engine_settings(epoch_interruption: bool = True) -> dict[str, Any]:
    """Every engine setting pi-edge makes that changes generated code: the compiling engine and the loading
    engine use these same ones, and the fingerprint covers them (wasmtime's own check misses some)."""
    return {"epoch_interruption": epoch_interruption}


def fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class EngineKey:
    """Which engine an artifact fits: wasmtime's version, the target and the settings' fingerprint."""

    wasmtime: str
    triple: str
    profile: str
    config: str

    @classmethod
    def for_target(cls, target: Target, settings: dict[str, Any]) -> EngineKey:
        return cls(WASMTIME_VERSION, target.triple, target.profile, fingerprint(settings))

    def object_name(self, component_digest: str) -> str:
        """Its name in the hub's store: component digest, wasmtime version, triple, CPU profile, settings."""
        return f"compiled/{component_digest}/wasmtime-{self.wasmtime}/{self.triple}/{self.profile}/{self.config}"

    def file_name(self, component_digest: str) -> str:
        """Its name in a host's compile cache."""
        return f"{component_digest}-wasmtime{self.wasmtime}-{self.triple}-{self.profile}-{self.config}.cwasm"

    def as_dict(self) -> dict[str, str]:
        return {"wasmtime": self.wasmtime, "triple": self.triple, "profile": self.profile, "config": self.config}
