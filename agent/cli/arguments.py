"""What the command line's values must be, checked by argparse: a bad one is refused (exit 2) with the
flag's name before anything connects or is sent."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pi_edge.agent.display.text_headers import check_size
from pi_edge.agent.errors import InvalidNameError
from pi_edge.agent.host.host import MAX_INSTANCES
from pi_edge.agent.lattice import subjects


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
