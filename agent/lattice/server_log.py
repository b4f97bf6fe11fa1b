"""What nats-server's log lines mean: the ports it bound, readiness, the leaf link's ups and downs, errors.

The server says everything that matters on stderr, in lines meant for people;
``meaning`` turns one line into what pi-edge acts on, so the process code never
matches text itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_LISTEN = re.compile(r"Listening for (client|leafnode) connections on (\S+):(\d+)")
_READY = "Server is ready"
_LEAF_CREATED = "Leafnode connection created"
# The link is up only once the hub has accepted the leaf's key: a refused leaf logs "created" too, a few ms
# before the refusal.  After acceptance both sides exchange their JetStream domains (every pi-edge hub runs
# JetStream), so that line is the one that says the link is up.
_LEAF_UP = "JetStream using domains"
_RELOADED = "Reloaded server configuration"
_RELOAD_FAILED = re.compile(r"Failed to reload server configuration: (.*)$")
_STALE = "Stale Connection"
_LEAF_DOWN = "Leafnode connection closed"
_LEAF_REFUSED = "Leafnode Error 'Authorization Violation'"
# Two leaf servers with one server_name (two agents with one --name): the hub keeps the newer link and
# drops the older, which reconnects a second later and drops the other in turn.
_LEAF_DUPLICATE = "Leafnode Error 'Duplicate Remote LeafNode Connection'"  # the leaf's side
_HUB_DUPLICATE = re.compile(r"Duplicate Remote LeafNode Connection(?: - Remote: (\S+))?")  # the hub's side

_LOG_LINE = re.compile(r"\[(?:DBG|TRC|INF|WRN|ERR|FTL)\] (.*)$")
# What the server prints before its log is set up, when its configuration is unusable (a TLS file that
# cannot be read, say): "nats-server: /tmp/.../nats-server.conf:3:3: error parsing X509 ...".
_CONFIG_ERROR = re.compile(r"^nats-server: (?:\S+:\d+:\d+: )?(.*)$")


@dataclass(frozen=True)
class Listening:
    """The server bound a port: ``kind`` is ``client`` or ``leafnode``."""
    kind: str
    port: int


@dataclass(frozen=True)
class Ready:
    """The server accepts clients."""


@dataclass(frozen=True)
class LeafCreated:
    """A leaf link was opened; whether the hub accepts it is not known yet."""


@dataclass(frozen=True)
class LeafUp:
    """A leaf link is up: the hub accepted it."""


@dataclass(frozen=True)
class LeafDown:
    """A leaf link closed; ``stale`` when the other side stopped answering pings (a cut wire)."""
    stale: bool = False


@dataclass(frozen=True)
class Reloaded:
    """The server applied its configuration file again."""


@dataclass(frozen=True)
class ReloadFailed:
    """The server kept its old configuration: ``message`` says why."""
    message: str


@dataclass(frozen=True)
class LeafRefused:
    """The leaf's side: the hub refused our leaf credentials."""


@dataclass(frozen=True)
class LeafNameClash:
    """The leaf's side: the hub dropped our link for another leaf with our name."""


@dataclass(frozen=True)
class HubNameClash:
    """The hub's side: two leaves share a name; ``name`` is None on the line that does not say it."""
    name: str | None


@dataclass(frozen=True)
class ServerError:
    """An error the server logged, as its message."""
    message: str


Meaning = (Listening | Ready | LeafCreated | LeafUp | LeafDown | LeafRefused | LeafNameClash | HubNameClash
           | Reloaded | ReloadFailed | ServerError)


def meaning(line: str) -> Meaning | None:
    """What one log line tells pi-edge; None for the chatter it does not act on."""
    if m := _LISTEN.search(line):
        return Listening(m.group(1), int(m.group(3)))
    if _READY in line:
        return Ready()
    if _LEAF_CREATED in line:
        return LeafCreated()
    if _LEAF_UP in line:
        return LeafUp()
    if _RELOADED in line:
        return Reloaded()
    if m := _RELOAD_FAILED.search(line):
        return ReloadFailed(m.group(1))
    # Before the hub's side: the leaf's line holds the same words.
    if _LEAF_DUPLICATE in line:
        return LeafNameClash()
    if m := _HUB_DUPLICATE.search(line):
        return HubNameClash(m.group(1))
    if _LEAF_REFUSED in line:
        return LeafRefused()
    if _LEAF_DOWN in line:
        return LeafDown(stale=_STALE in line)
    if "[ERR]" in line or "[FTL]" in line:
        return ServerError(message(line))
    return None


def message(line: str) -> str:
    """A nats-server log line without its pid, time and level (or its config file's generated path)."""
    m = _LOG_LINE.search(line) or _CONFIG_ERROR.match(line)
    return m.group(1) if m else line


_CONNECTION = re.compile(r"^\S+:\d+ - [a-z]+:\d+ - ")  # "10.0.0.2:40110 - lid:5 - ": differs at every retry


def kind_of(message: str) -> str:
    """A server message without what changes from one repeat to the next (address, connection id)."""
    return _CONNECTION.sub("", message)


def _is_error(line: str) -> bool:
    return "[ERR]" in line or "[FTL]" in line or line.startswith("nats-server: ")


def errors(lines: Iterable[str]) -> list[str]:
    """The error lines among a server's log lines, as messages."""
    return [message(line) for line in lines if _is_error(line)]


_IN_USE = re.compile(r"listen tcp (\S+):(\d+): bind: address already in use")


def port_in_use(lines: list[str]) -> tuple[str, int] | None:
    """The address and port the server could not listen on because something else has it, if that is why."""
    for line in lines:
        if m := _IN_USE.search(line):
            return m[1], int(m[2])
    return None


def why_not_started(lines: list[str]) -> str:
    """The server's own reason from its last log lines: its errors (start-up chatter left out), with a hint."""
    lines = [line for line in lines if line.strip()]  # a config error ends with an empty line
    found = errors(lines)
    detail = "; ".join(found) if found else (message(lines[-1]) if lines else "no output")
    if "address already in use" in detail:
        detail += (" (another server, maybe an earlier pi-edge, has that port: stop it or pick another; "
                   "0 picks a free one)")
    return detail
