"""The flags several commands share, and what the command line's values must be: a bad one is
refused (exit 2) with the flag's name before anything connects, is sent or is written."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeAlias

from pi_edge.agent.display.text_headers import check_size
from pi_edge.agent.errors import ConfigError, InvalidNameError
from pi_edge.agent.host.config import readable_file, usable_dir
from pi_edge.agent.host.host import MAX_INSTANCES
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import DEFAULT_URL, LatticeClient
from pi_edge.agent.paths import default_state_dir
from pi_edge.agent.trust.credentials import Credentials
from pi_edge.agent.trust.enrolment import OPERATOR

#: What ``add_parser`` is called on: the ``pi-edge`` command's subcommands (generic only to type checkers).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def lattice_args(p: argparse.ArgumentParser, timeout_help: str = "seconds to wait for a reply (default %(default)s)",
                 ) -> None:
    p.add_argument("--nats-url", default=DEFAULT_URL, help=f"the lattice's NATS server (default {DEFAULT_URL})")
    p.add_argument("--lattice", default=subjects.DEFAULT_LATTICE, type=name_arg("lattice"),
                   help="lattice id (default %(default)s)")
    p.add_argument("--timeout", type=seconds_arg, default=5.0, help=timeout_help)
    p.add_argument("--creds", type=Path, metavar="FILE",
                   help="who this command is on the lattice (default $PI_EDGE_CREDS, else the operator.creds "
                        "'pi-edge hub' keeps in its state directory, if there is one; without: anonymous)")


#: Where credentials came from when nobody named them.
DEFAULT_ORIGIN = "the hub's state directory"


def credentials_path(flag: Path | None, env: Mapping[str, str] | None = None) -> tuple[Path | None, str]:
    """Which credentials a laptop command uses, and where that choice came from (for its error messages)."""
    env = os.environ if env is None else env
    if flag is not None:
        return flag, "--creds"
    if env.get("PI_EDGE_CREDS"):
        return Path(env["PI_EDGE_CREDS"]), "PI_EDGE_CREDS"
    default = default_state_dir() / "hub" / OPERATOR
    return (default, DEFAULT_ORIGIN) if default.exists() else (None, "")


def lattice_credentials(args: argparse.Namespace) -> Credentials | None:
    """The credentials ``--creds`` (or ``$PI_EDGE_CREDS``, or the hub's operator.creds) name; ConfigError
    naming the flag or variable if they cannot be used."""
    path, origin = credentials_path(getattr(args, "creds", None))
    if path is None:
        return None
    try:
        return Credentials.read(path)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def lattice_client(args: argparse.Namespace, name: str = "pi-edge-cli", reconnect: bool = False) -> LatticeClient:
    """The lattice that ``lattice_args``' flags name, as a client to open with ``async with``."""
    _, origin = credentials_path(getattr(args, "creds", None))
    return LatticeClient(args.nats_url, args.lattice, timeout=args.timeout, name=name, reconnect=reconnect,
                         credentials=lattice_credentials(args), anonymous_if_refused=origin == DEFAULT_ORIGIN)


def target_args(p: argparse.ArgumentParser) -> None:
    """Which hosts an operation on several goes to: by name, by labels (default: every host)."""
    p.add_argument("--host", type=name_arg("host"), help="only this host (by name)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="only hosts with this label; repeatable (all must match)")


def one_or_all_args(p: argparse.ArgumentParser, all_help: str) -> None:
    """Where a message to an actor goes: any one host that runs it, one named host, or ``--all``."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help=all_help)
    which.add_argument("--host", type=name_arg("host"),
                       help="only this host (a name 'pi-edge hosts' lists; default: any one that runs the actor)")


def dir_flag(flag: str, path: Path | None) -> None:
    """A directory flag, checked (and created) before anything is written to it or built for it."""
    if path is not None:
        try:
            usable_dir(path)
        except ValueError as exc:
            raise ConfigError(f"{flag} {exc}") from None


def pem_file(flag: str, path: str, what: str) -> None:
    """Checked before a server starts: its own message names neither the flag nor, for a bad file, the file.

    ``what`` is "CERTIFICATE" or "PRIVATE KEY" (also matching "RSA PRIVATE KEY" and the like).
    """
    try:
        data = readable_file(Path(path)).read_bytes()
    except ValueError as exc:
        raise ConfigError(f"{flag} {exc}") from None
    except OSError as exc:  # a directory opens, then fails to read
        raise ConfigError(f"{flag} must name a readable file, got '{path}' ({exc.strerror or exc})") from None
    if f"{what}-----".encode() not in data:
        raise ConfigError(f"{flag} must name a PEM file with a '-----BEGIN {what}-----' line, got '{path}'")


def name_arg(kind: str) -> Callable[[str], str]:
    """An argparse type for a name that must fit one subject token: a bad one is refused before connecting."""
    def check(value: str) -> str:
        try:
            return subjects.check_token(kind, value)
        except InvalidNameError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    check.__name__ = f"{kind} name"  # argparse names the type in some of its messages
    return check


def _number(value: str, kind: type[int] | type[float], what: str) -> float:
    try:
        return kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {what}") from None


def typed(text: str) -> bytes:
    """``text`` from the command line as the bytes that were typed.

    Arguments that are not UTF-8 (a Latin-1 terminal, a file name) reach Python as
    surrogate escapes; sending the original bytes lets the actor name the problem
    instead of this command dying with a traceback.
    """
    return text.encode("utf-8", "surrogateescape")


def font_size_arg(value: str) -> int:
    """A font size in pixels; whether the display can draw it is for its provider to say."""
    try:
        return check_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scale_arg(value: str) -> int:
    """Instances per host, refused here rather than by each host."""
    scale = int(_number(value, int, "a whole number"))
    if not 1 <= scale <= MAX_INSTANCES:
        raise argparse.ArgumentTypeError(f"scale {scale} is outside 1..{MAX_INSTANCES}")
    return scale


def positive_int(value: str) -> int:
    """A count (events, frames): at least 1."""
    number = int(_number(value, int, "a whole number"))
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a count: give 1 or more, or leave it out")
    return number


def seconds_arg(value: str) -> float:
    """A timeout: more than 0 seconds."""
    seconds = _number(value, float, "a number of seconds")
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value} s: a timeout must be more than 0 seconds")
    return seconds


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_arg(value: str) -> float:
    """A length of time like 30s, 10m, 2h or 1d, in seconds."""
    text = value.strip()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration: write a whole number and a unit, "
                                         "e.g. 30s, 10m, 2h, 1d")
    return float(int(text[:-1]) * _UNITS[text[-1]])
