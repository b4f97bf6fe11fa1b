"""The agent's exceptions: one base, one class per distinct failure.

Every message names the value that was wrong and, where there is one, what to
do about it, so the CLI can print ``str(exc)`` as the whole story.
"""

from __future__ import annotations


class PiEdgeError(Exception):
    """Base of every error the agent raises on purpose."""

    exit_code = 1


class ConfigError(PiEdgeError):
    """A flag, file or environment value is not usable."""

    exit_code = 2


class InvalidNameError(ConfigError, ValueError):
    """A lattice, host, actor or other name that cannot be a NATS subject token.

    Also a ValueError, so code that takes names from the wire answers it as the
    bad request it is.
    """


class OutputError(ConfigError):
    """A file the user asked for (-o) cannot be written there."""


class WitError(PiEdgeError):
    """The WIT contract could not be read."""


class BuildError(PiEdgeError):
    """``componentize-py`` could not turn an actor's sources into a component."""


class ActorLoadError(PiEdgeError):
    """A component could not be read, compiled or instantiated."""


class WorldMismatchError(ActorLoadError):
    """A component does not target the ``display-actor`` world."""


class ActorCallError(PiEdgeError):
    """A call into an actor failed in the host or trapped in the guest."""


class ActorTrapError(ActorCallError):
    """The guest trapped (a bug in the actor, a deadline, a memory cap)."""


class NatsServerError(PiEdgeError):
    """The embedded nats-server could not be found, started or reached."""


class LatticeError(PiEdgeError):
    """Talking to the lattice from the CLI failed."""


class LatticeUnreachableError(LatticeError):
    """No NATS server answers at the given URL."""


class NoResponderError(LatticeError):
    """Nobody in the lattice serves the subject (the actor is not running)."""


class RequestTimeoutError(LatticeError):
    """The request was delivered but no reply came in time."""


class ActorReplyError(LatticeError):
    """The actor (or the host on its behalf) answered with an error."""


class ControlError(PiEdgeError):
    """A control request (deploy, stop, scale...) cannot be carried out as asked."""


class CapabilityError(ActorLoadError):
    """An actor imports an interface its signed claims do not grant."""
