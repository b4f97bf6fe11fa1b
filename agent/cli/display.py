"""``pi-edge display``, ``clear``, ``snapshot`` and ``watch``: what the Pi's screen shows, from the laptop."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pi_edge.actors import DEFAULT_ACTOR
from pi_edge.agent.cli.arguments import (
    Subcommands,
    font_size_arg,
    lattice_args,
    lattice_client,
    name_arg,
    one_or_all_args,
    positive_int,
    typed,
)
from pi_edge.agent.cli.output import out, until_interrupted
from pi_edge.agent.display.provider import ALIGNMENTS
from pi_edge.agent.display.screen import MAX_PNG_SCALE, Screen
from pi_edge.agent.display.text_headers import text_headers
from pi_edge.agent.errors import ConfigError, PiEdgeError
from pi_edge.agent.lattice.events import FRAME, HOST_STARTED, HOST_STOPPED, PROVIDER_HEALTH

#: What ``watch`` follows: new frames, the display's health, and the host going and coming back.
WATCHED = (FRAME, PROVIDER_HEALTH, HOST_STOPPED, HOST_STARTED)


async def _send(args: argparse.Namespace, body: bytes, headers: dict[str, str] | None) -> int:
    async with lattice_client(args) as lattice:
        reply = await lattice.send(args.actor, body, headers, host=args.host)
    out(f"{reply.body.decode('utf-8', 'replace')}  ({reply.seconds * 1000:.1f} ms)")
    return 0


async def _send_all(args: argparse.Namespace, body: bytes, headers: dict[str, str] | None) -> int:
    """A line per host that runs the actor, then a summary; non-zero exit if any failed or stayed silent."""
    async with lattice_client(args) as lattice:
        sent = await lattice.send_all(args.actor, body, headers)
    expect, answers = sent.expected, sent.answers
    failed = sorted(name for name, a in answers.items() if a.error is not None)
    silent = sorted(expect - answers.keys())
    for name in sorted(expect | answers.keys()):
        a = answers.get(name)
        if a is None:
            out(f"{name}: no answer within {args.timeout:g} s")
        elif a.error is not None:
            out(f"{name}: error: {' '.join(a.error.split())}  ({a.seconds * 1000:.1f} ms)")
        else:
            out(f"{name}: {a.body.decode('utf-8', 'replace')}  ({a.seconds * 1000:.1f} ms)")
    ok = len(answers) - len(failed)
    summary = f"{ok} of {len(expect | answers.keys())} host(s) answered ok"
    if failed:
        summary += f"; failed: {', '.join(failed)}"
    if silent:
        summary += f"; no answer: {', '.join(silent)}"
    out(summary)
    return 1 if failed or silent else 0


def cmd_display(args: argparse.Namespace) -> int:
    send = _send_all if args.all else _send
    headers = text_headers(args.align, args.size, args.wrap) or None
    body = typed(args.text)
    if args.text == "-":
        body = sys.stdin.buffer.read()
        body = body[:-1] if body.endswith(b"\n") else body
        body = body[:-1] if body.endswith(b"\r") else body
    return asyncio.run(send(args, body, headers))


def cmd_clear(args: argparse.Namespace) -> int:
    send = _send_all if args.all else _send
    return asyncio.run(send(args, b"", {"op": "clear"}))


def cmd_snapshot(args: argparse.Namespace) -> int:
    if not 1 <= args.scale <= MAX_PNG_SCALE:
        raise ConfigError(f"--scale {args.scale} is outside 1..{MAX_PNG_SCALE}")

    async def main() -> int:
        async with lattice_client(args) as lattice:
            host = await lattice.pick_host(args.host)
            screen = await lattice.snapshot(host)
        if args.output is None:
            out(screen.halfblocks())
        else:
            screen.write_png(args.output, args.scale)
            out(f"saved {args.output} ({screen.width}x{screen.height} from host {host}, scale {args.scale})")
        return 0

    return asyncio.run(main())


def cmd_watch(args: argparse.Namespace) -> int:
    redraw = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""

    async def main() -> int:
        async with lattice_client(args, name="pi-edge-watch", reconnect=True) as lattice:
            host = await lattice.pick_host(args.host)
            # Following first, then fetched: a frame in between is drawn twice, never missed.
            async with lattice.events(host, WATCHED) as events:
                out(f"{redraw}{host}: display (Ctrl-C stops)")
                try:
                    out((await lattice.snapshot(host)).halfblocks())
                except PiEdgeError as exc:  # no picture yet, or the host just went: the events still come
                    out(f"{host}: {exc}")
                frames = 0
                while args.frames is None or frames < args.frames:
                    event = await anext(events)
                    kind, data = event.get("kind"), event.get("data", {})
                    if kind == FRAME:
                        frames += 1
                        out(f"{redraw}{host}: frame {frames}\n{Screen.from_json(data['screen']).halfblocks()}")
                    elif kind == HOST_STOPPED:
                        out(f"{host}: the host stopped; waiting for it to come back (Ctrl-C stops)")
                    elif kind == HOST_STARTED:
                        out(f"{host}: the host is back")
                    else:
                        state = "healthy" if data.get("healthy") else f"UNHEALTHY: {data.get('reason')}"
                        out(f"{host}: display {state}")
        return 0

    return until_interrupted(main)


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("display", help="laptop: show text on the Pi's display",
                       description="Send TEXT to the display actor and print its reply and the round-trip time.")
    p.add_argument("text", help="the text to show (an empty string clears; - reads it from standard input, "
                   "without its last newline: date | pi-edge display -; so a lone - is shown with "
                   "echo - | pi-edge display -)")
    p.add_argument("--actor", default=DEFAULT_ACTOR, type=name_arg("actor"),
                   help="actor to send to (default %(default)s)")
    one_or_all_args(p, "every host that runs the actor, one line per host (default: one host)")
    p.add_argument("--align", choices=ALIGNMENTS, help="line alignment (default: center)")
    p.add_argument("--size", type=font_size_arg, metavar="PX",
                   help="font size in pixels (default: the largest at which the text fits)")
    p.add_argument("--no-wrap", dest="wrap", action="store_const", const=False,
                   help="one line per paragraph, cut at the panel's edge and shown from its start "
                        "(default: wrap on words)")
    lattice_args(p)
    p.set_defaults(func=cmd_display)

    p = sub.add_parser("clear", help="laptop: clear the Pi's display",
                       description="Ask the display actor to clear the panel and print its reply and the "
                                   "round-trip time.")
    p.add_argument("--actor", default=DEFAULT_ACTOR, type=name_arg("actor"),
                   help="actor to send to (default %(default)s)")
    one_or_all_args(p, "clear every host that runs the actor")
    lattice_args(p)
    p.set_defaults(func=cmd_clear)

    p = sub.add_parser("snapshot", help="what the Pi's display shows now, as PNG or in the terminal",
                       description="Fetch the display's current picture (from the provider's copy of panel "
                                   "memory) and save it as a PNG, or draw it in the terminal without -o.")
    p.add_argument("-o", "--output", type=Path, help="PNG file to write (default: draw in the terminal)")
    p.add_argument("--scale", type=int, default=1, help="pixel size in the PNG, 1..16 (default %(default)s)")
    p.add_argument("--host", type=name_arg("host"), help="host to ask (default: the only host in the lattice)")
    lattice_args(p)
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("watch", help="draw the Pi's display live in this terminal",
                       description="Draw the display in the terminal and redraw it whenever a new frame "
                                   "reaches the panel; also shows when the display drops off the bus. Ctrl-C stops.")
    p.add_argument("--host", type=name_arg("host"), help="host to watch (default: the only host in the lattice)")
    p.add_argument("--frames", type=positive_int,
                   help="stop after this many frame updates (default: run until Ctrl-C)")
    lattice_args(p)
    p.set_defaults(func=cmd_watch)
