"""Every NATS subject pi-edge uses is built here and nowhere else."""

from __future__ import annotations

import re

from pi_edge.agent.errors import InvalidNameError

DEFAULT_LATTICE = "default"
PREFIX = "pe"

# A subject token: no dots, wildcards or whitespace, so names can't escape
# their place in the hierarchy.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
TOKEN_RULE = "letters, digits, '-' and '_' only"


def is_token(value: str) -> bool:
    """Whether ``value`` can stand as one subject token (the configuration checks names with this too)."""
    return bool(_TOKEN.fullmatch(value or ""))


def check_token(kind: str, value: str) -> str:
    """Refuse names that would change a subject's shape."""
    if not is_token(value):
        raise InvalidNameError(f"{kind} name {value!r} is not allowed: use {TOKEN_RULE}")
    return value


def actor(lattice: str, name: str) -> str:
    """Requests to actor NAME; its instances share the queue group NAME."""
    return f"{PREFIX}.{check_token('lattice', lattice)}.actor.{check_token('actor', name)}"


def actor_all(lattice: str, name: str) -> str:
    """Broadcast to actor NAME: every host running it gets the message (see ``broadcast_queue``)."""
    return f"{PREFIX}.{check_token('lattice', lattice)}.all.actor.{check_token('actor', name)}"


def actor_on(lattice: str, host: str, name: str) -> str:
    """Requests to actor NAME on host HOST only: its instances there share the queue group NAME."""
    on_host = f"{PREFIX}.{check_token('lattice', lattice)}.host.{check_token('host', host)}"
    return f"{on_host}.actor.{check_token('actor', name)}"


def actor_target(lattice: str, name: str, host: str | None = None) -> tuple[str, str]:
    """Where a request to actor NAME goes (any host, or only HOST), and how errors name it."""
    if host is None:
        return actor(lattice, name), f"actor {name!r}"
    return actor_on(lattice, host, name), f"actor {name!r} on host {host!r}"


def broadcast_queue(name: str, token: str) -> str:
    """The queue group of one agent's instances of NAME on the broadcast subject: one per agent answers."""
    return f"{check_token('actor', name)}.{check_token('agent token', token)}"


def ctl_ping(lattice: str) -> str:
    return f"{PREFIX}.{check_token('lattice', lattice)}.ctl.ping"


def ctl(lattice: str, host: str, op: str) -> str:
    return f"{PREFIX}.{check_token('lattice', lattice)}.ctl.{check_token('host', host)}.{check_token('operation', op)}"


def event(lattice: str, host: str, kind: str) -> str:
    return f"{PREFIX}.{check_token('lattice', lattice)}.evt.{check_token('host', host)}.{check_token('event', kind)}"


def events_of(lattice: str, host: str | None = None, kind: str | None = None) -> str:
    """What a follower subscribes to: the events of ``host`` (default: every host), of ``kind`` (default: all)."""
    of_lattice = f"{PREFIX}.{check_token('lattice', lattice)}.evt"
    if host is None and kind is None:
        return f"{of_lattice}.>"
    return f"{of_lattice}.{check_token('host', host) if host else '*'}.{check_token('event', kind) if kind else '*'}"


def provider(lattice: str, name: str, op: str) -> str:
    of_provider = f"{PREFIX}.{check_token('lattice', lattice)}.prov.{check_token('provider', name)}"
    return f"{of_provider}.{check_token('operation', op)}"
