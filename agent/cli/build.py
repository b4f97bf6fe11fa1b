"""``pi-edge build`` and ``demo``: an actor's sources into a component, and the whole path on one machine."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from pi_edge.agent.cli.arguments import Subcommands, dir_flag
from pi_edge.agent.cli.output import out
from pi_edge.agent.display.plugins import ProviderPlugin
from pi_edge.agent.errors import PiEdgeError
from pi_edge.agent.lattice.store import sha256


def cmd_build(args: argparse.Namespace) -> int:
    from pi_edge.agent.wasm.build import build_actor

    if not args.actor_dir.is_dir():
        raise PiEdgeError(f"{args.actor_dir} is not a directory")
    dir_flag("--cache-dir", args.cache_dir)
    result = build_actor(args.actor_dir, cache_dir=args.cache_dir, out=args.output)
    # The file's own sha256, as deploy and sha256sum show it (result.digest is the sources' cache key).
    digest = sha256(result.path.read_bytes())
    out(f"{'reused' if result.cached else 'built'} {result.path} (sha256 {digest[:16]}…, {result.seconds:.2f} s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pi_edge.agent.demo import run_demo

    dir_flag("--cache-dir", args.cache_dir)
    return asyncio.run(run_demo(args.text, args.output, args.plugin, args.cache_dir, out))


def add_commands(sub: Subcommands, display_plugin: ProviderPlugin) -> None:
    p = sub.add_parser("build", help="build an actor's Python sources into a Wasm component",
                       description="Build ACTOR_DIR (which holds app.py) with componentize-py against the "
                                   "display-actor world. Cached by the digest of the sources and the WIT.")
    p.add_argument("actor_dir", type=Path, metavar="ACTOR_DIR",
                   help="the actor's source directory, holding its app.py (e.g. actors/oled_text)")
    p.add_argument("-o", "--output", type=Path, help="also copy the component here")
    p.add_argument("--cache-dir", type=Path, help="build cache (default ~/.cache/pi-edge)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("demo", help="everything on this machine: hub, agent, actor, emulated display",
                       description="Start a hub and an agent with an emulated display on free loopback ports, "
                                   "build the oled-text actor, send TEXT through the lattice, and show the "
                                   "panel in the terminal and as a PNG.")
    p.add_argument("text", nargs="?", default="Hello from pi-edge", help="text to show (default: %(default)r)")
    p.add_argument("-o", "--output", type=Path, default=Path("pi-edge-demo.png"),
                   help="PNG of the panel (default %(default)s)")
    p.add_argument("--cache-dir", type=Path, help="build and compile cache (default ~/.cache/pi-edge)")
    p.set_defaults(func=cmd_demo, plugin=display_plugin)
