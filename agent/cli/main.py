"""``pi-edge``: the one command for the laptop and the Pi.

The parser is put together here from one module per command family; the
commands themselves live in those modules and reach the lattice only through
``pi_edge.agent.lattice.client``.  Every failure the user can cause ends as one
line on stderr and a non-zero exit; tracebacks are for bugs (``-v`` shows the
debug log).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pi_edge.agent import __version__
from pi_edge.agent.cli import actors, agent, build, display, hosts, hub, install, keys, links, trust
from pi_edge.agent.errors import PiEdgeError

#: Commands whose INFO log would only clutter their output.
QUIET = ("display", "clear", "hosts", "new", "build", "demo", "snapshot", "watch", "inventory", "events", "deploy",
         "stop", "scale", "link", "links", "keys", "sign", "inspect", "trust", "install-service", "compile")


def build_parser() -> argparse.ArgumentParser:
    from pi_edge.agent.display.plugins import load_plugin

    display_plugin = load_plugin("oled")
    parser = argparse.ArgumentParser(
        prog="pi-edge",
        description="Run sandboxed WebAssembly actors on a Raspberry Pi that drive its OLED, "
                    "over a NATS lattice shared with your laptop.",
    )
    parser.add_argument("--version", action="version", version=f"pi-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # The order 'pi-edge --help' lists them in: the processes, then the laptop's commands by family.
    hub.add_commands(sub)
    agent.add_commands(sub, display_plugin)
    display.add_commands(sub)
    hosts.add_commands(sub)
    actors.add_commands(sub)
    links.add_commands(sub)
    keys.add_commands(sub)
    trust.add_commands(sub)
    build.add_commands(sub, display_plugin)
    install.add_commands(sub)
    return parser


def _setup_logging(verbose: bool, command: str) -> None:
    level = logging.DEBUG if verbose else (logging.WARNING if command in QUIET else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command's own parser, down to the last level the arguments chose (``trust add``)."""
    while True:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(args, actions[0].dest, None) if actions else None
        if not actions or chosen not in actions[0].choices:
            return parser
        parser = actions[0].choices[chosen]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # a mistyped flag: said with the command's own usage, not pi-edge's
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    _setup_logging(args.verbose, args.command)
    try:
        return int(args.func(args))
    except PiEdgeError as exc:
        sys.stderr.write(f"pi-edge: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
