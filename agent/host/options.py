"""What an agent is asked to be: the settings ``Agent`` runs with, made from resolved configuration."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from pi_edge.actors import BUILTIN, DEFAULT_ACTOR, builtin_actor
from pi_edge.agent.errors import ConfigError
from pi_edge.agent.host.labels import parse_labels
from pi_edge.agent.host.supervision import SupervisionPolicy
from pi_edge.agent.lattice import subjects
from pi_edge.agent.wasm.limits import Limits


@dataclass
class ActorSpec:
    """``NAME=PATH``: PATH is a built component (.wasm) or an actor source directory."""

    name: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> ActorSpec:
        name, sep, path = text.partition("=")
        if not sep:
            path, name = name, Path(name).name.removesuffix(".wasm").replace("_", "-")
        try:
            subjects.check_token("actor", name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(name, Path(path))


@dataclass
class AgentOptions:
    lattice: str = subjects.DEFAULT_LATTICE
    name: str | None = None
    hub: str | None = None  # leaf remote, e.g. nats-leaf://laptop:7422
    nats_url: str | None = None  # use this server instead of starting one
    listen: str = "127.0.0.1"  # the leaf server's client address
    port: int = 4222
    actors: list[ActorSpec] = field(default_factory=list)
    cache_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    state_dir: Path | None = None  # host key, desired state, fetched components
    labels: dict[str, str] = field(default_factory=dict)
    heartbeat_s: float = 30.0
    supervision: SupervisionPolicy = field(default_factory=SupervisionPolicy)
    trusted: list[str] = field(default_factory=list)  # issuer public keys whose signed actors run here
    trusted_compiled: list[str] = field(default_factory=list)  # keys whose signed compiled artifacts load here
    compile_memory_mb: int = 0  # the most a compile here may use; 0: whatever is free (machine and cgroup)
    allow_unsigned: bool = False  # development only
    hub_credentials: Path | None = None  # the file 'pi-edge hub' wrote
    hub_ca: Path | None = None  # verify the hub's TLS certificate with this CA


def options_from(args: argparse.Namespace) -> AgentOptions:
    """Resolved settings (flags, environment, file, defaults) as the agent's options.

    ``config.resolve`` has checked every value, naming the flag, variable or file
    line it came from; what is left here cannot fail on a user's value.
    """
    actors = dict(args.actor) or {DEFAULT_ACTOR: BUILTIN}
    specs = [ActorSpec.parse(f"{name}={builtin_actor() if path == BUILTIN else path}")
             for name, path in actors.items()]
    return AgentOptions(
        lattice=args.lattice, name=args.name, hub=args.hub,
        nats_url=args.nats_url, listen=args.listen, port=args.port, actors=specs, cache_dir=args.cache_dir,
        limits=Limits(deadline_ms=args.deadline_ms, memory_bytes=args.memory_mb * 2**20,
                      max_message_bytes=args.max_message_kb * 1024, log_lines_per_s=args.log_lines_per_s,
                      max_component_bytes=args.max_component_mb * 2**20),
        state_dir=args.state_dir, labels=parse_labels([f"{k}={v}" for k, v in args.label.items()]),
        heartbeat_s=args.heartbeat, hub_credentials=args.hub_credentials, hub_ca=args.hub_ca,
        trusted=list(args.trust), allow_unsigned=args.allow_unsigned, trusted_compiled=list(args.trust_compiled),
        compile_memory_mb=args.compile_memory_mb,
    )
