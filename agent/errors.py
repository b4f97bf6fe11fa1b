"""Every error pi-edge raises on purpose: one root, one class per distinct failure.

Every message names the value that was wrong and, where there is one, what to
do about it, so the CLI can print ``str(exc)`` as the whole story and exit
with ``exc.exit_code``.  Catch the narrowest class that says what you can
handle::

    PiEdgeError                      exit 1 unless a subclass says otherwise
    ├── ConfigError                  a flag, file or environment value is not usable (exit 2)
    │   ├── ConfigFileError          ... in the file or the environment: systemd must not restart into it (78)
    │   ├── InvalidNameError         a name that cannot be a NATS subject token (also a ValueError)
    │   ├── OutputError              a file the user asked for (-o) cannot be written there
    │   └── CredentialsError         a credentials file is missing, damaged, for another role or another host
    ├── ProviderError                a display operation failed: the calling actor gets it as ``err`` (exit 2)
    │   └── ProviderConfigError      the display's settings are impossible (also a ConfigError)
    ├── WitError                     the WIT contract could not be read
    ├── BuildError                   an actor's sources could not be built (componentize-py, componentize-js)
    │   └── ActorSourceError         they have mistakes a check finds before building (syntax, imports)
    ├── ActorLoadError               a component could not be read, compiled or instantiated
    │   ├── ComponentFormatError     its binary cannot be read section by section
    │   ├── WorldMismatchError       it does not target the display-actor world
    │   ├── CapabilityError          it imports an interface its claims do not grant
    │   └── CompileMemoryError       compiling it here would not fit in memory, and no compiled artifact came
    ├── ArtifactError                a compiled artifact is not one this host may load (the host compiles instead)
    ├── ClaimsError                  claims missing, broken, expired, untrusted or not granting
    ├── ActorCallError               a call into an actor failed
    │   ├── ActorTrapError           the guest trapped (a bug, a deadline, a memory cap)
    │   │   └── ActorRaisedError     its code raised an exception it did not catch (named, with its lines)
    │   └── ActorBusyError           not now: busy, stopping, or pausing after traps; try again
    ├── ControlError                 a control request cannot be carried out as asked
    ├── StateError                   the host's state could not be saved (so what was asked is not done)
    ├── EnrolmentError               enrol or revoke cannot be done as asked (already enrolled, unknown, not applied)
    ├── NatsServerError              the embedded nats-server could not be found, started or reached
    │   └── PortInUseError           a port it must listen on is taken (the message names the flag)
    └── LatticeError                 talking to the lattice failed
        ├── LatticeUnreachableError  no NATS server answers at the URL
        │   └── AccessRefusedError   one answers, but refuses these credentials (or none)
        ├── NoResponderError         nobody serves the subject (the actor is not running)
        │   └── HostUnreachableError the hub lost that host's leaf link: said with since when
        ├── RequestTimeoutError      delivered, but no reply came in time
        ├── ActorReplyError          the actor (or its host) answered with an error
        │   └── RetryLaterError      ... that it cannot take the message now (busy): try again
        └── StoreError               the hub's component or link store cannot help

The display provider's own errors (``pi_edge.providers.oled.errors``) hang
under ``ProviderError``.
"""

from __future__ import annotations

#: sysexits' EX_CONFIG: what the systemd units do not restart into (``RestartPreventExitStatus=78``).
EX_CONFIG = 78


class PiEdgeError(Exception):
    """Base of every error pi-edge raises on purpose."""

    exit_code = 1


class ConfigError(PiEdgeError):
    """A flag, file or environment value is not usable."""

    exit_code = 2


class ConfigFileError(ConfigError):
    """The configuration (file or environment) is wrong; systemd must not restart into it again."""

    exit_code = EX_CONFIG


class InvalidNameError(ConfigError, ValueError):
    """A lattice, host, actor or other name that cannot be a NATS subject token.

    Also a ValueError, so code that takes names from the wire answers it as the
    bad request it is.
    """


class OutputError(ConfigError):
    """A file the user asked for (-o) cannot be written there."""


class CredentialsError(ConfigError):
    """A credentials file cannot be read, is damaged, or is for another role or another host."""


class ProviderError(PiEdgeError):
    """A display operation failed; the message is shown to the calling actor as ``err``.

    At start it means the display cannot be set up as configured, hence exit 2.
    """

    exit_code = 2


class ProviderConfigError(ProviderError, ConfigError):
    """The provider's settings are impossible (unknown driver, size, address...): fix the configuration.

    ``keys`` names the settings (``[display]`` keys: ``width``, ``fonts``...) the refused value came from,
    so the agent can name the flag, variable or file line that set them rather than guess.
    """

    def __init__(self, message: str = "", *, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


class WitError(PiEdgeError):
    """The WIT contract could not be read."""


class BuildError(PiEdgeError):
    """An actor's sources could not be turned into a component (componentize-py, componentize-js, npm)."""


class ActorSourceError(BuildError):
    """A check before building found mistakes in the actor's sources: each is named with its file and line."""


class ActorLoadError(PiEdgeError):
    """A component could not be read, compiled or instantiated."""


class ComponentFormatError(ActorLoadError):
    """A component's binary cannot be read section by section (truncated, or a form this reader does not know)."""


class WorldMismatchError(ActorLoadError):
    """A component does not target the ``display-actor`` world."""


class CapabilityError(ActorLoadError):
    """An actor imports an interface its signed claims do not grant."""


class CompileMemoryError(ActorLoadError):
    """Compiling the component here would need more memory than there is, and no usable compiled artifact came."""


class ArtifactError(PiEdgeError):
    """A compiled artifact is unsigned, untrusted, damaged or for another engine; the host compiles instead."""


class ClaimsError(PiEdgeError):
    """A component's claims are missing, broken, expired, untrusted or do not grant what it needs."""


class ActorCallError(PiEdgeError):
    """A call into an actor failed in the host or trapped in the guest."""


class ActorTrapError(ActorCallError):
    """The guest trapped (a bug in the actor, a deadline, a memory cap)."""


class ActorRaisedError(ActorTrapError):
    """The actor's code raised an exception it did not catch; the message names it and the actor's own lines.

    A trap as far as the host is concerned: the instance is replaced and supervision counts it.
    """


class ActorBusyError(ActorCallError):
    """The actor cannot take the message now (too many waiting, stopping, pausing after traps): try again."""


class ControlError(PiEdgeError):
    """A control request (deploy, stop, scale...) cannot be carried out as asked."""


class StateError(PiEdgeError):
    """A state file (what to run, links, trust) could not be saved; the change it records is not made."""


class EnrolmentError(PiEdgeError):
    """``pi-edge hub enroll`` or ``revoke`` cannot be done as asked, or the running hub did not apply it."""


class NatsServerError(PiEdgeError):
    """The embedded nats-server could not be found, started or reached."""


class PortInUseError(NatsServerError):
    """A port the server must listen on is taken; ``port`` and ``address`` say which, so the command that
    chose it can name its flag."""

    def __init__(self, message: str, address: str, port: int) -> None:
        super().__init__(message)
        self.address = address
        self.port = port

    def naming(self, flag: str) -> PortInUseError:
        """The same error, saying which flag picks another port."""
        return PortInUseError(f"{self}; pick another with {flag} (0 picks a free one)", self.address, self.port)


class LatticeError(PiEdgeError):
    """Talking to the lattice failed."""


class LatticeUnreachableError(LatticeError):
    """No NATS server answers at the given URL."""


class AccessRefusedError(LatticeUnreachableError):
    """The server answers but refuses this client's credentials (or its lack of them)."""


class NoResponderError(LatticeError):
    """Nobody in the lattice serves the subject (the actor is not running)."""


class RequestTimeoutError(LatticeError):
    """The request was delivered but no reply came in time."""


class ActorReplyError(LatticeError):
    """The actor (or the host on its behalf) answered with an error."""


class RetryLaterError(ActorReplyError):
    """The actor's host said it cannot take the message now; the same message may succeed shortly."""


class HostUnreachableError(NoResponderError):
    """The hub knows the host's leaf link is down (since when, and why): nothing was delivered to it."""


class StoreError(LatticeError):
    """The hub's component store cannot be reached or does not hold what was asked for."""
