"""``pi-edge new``, ``build`` and ``demo``: a new actor's folder, its sources into a component, and the whole
path on one machine."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from pi_edge.agent.cli.arguments import Subcommands, dir_flag, name_arg
from pi_edge.agent.cli.output import out
from pi_edge.agent.display.plugins import ProviderPlugin
from pi_edge.agent.errors import PiEdgeError
from pi_edge.agent.lattice.store import sha256


def cmd_new(args: argparse.Namespace) -> int:
    from pi_edge.agent.wasm.scaffold import scaffold

    written = scaffold(args.name, args.dir, args.lang)
    folder = written[0].parent
    out(f"created {folder}/ with {', '.join(p.name for p in written)}")
    if args.lang == "js":
        from pi_edge.agent.errors import BuildError
        from pi_edge.agent.wasm.build_js import node

        try:
            node()
        except BuildError as exc:
            out(f"note: {exc}")
    steps = [(f"cd {folder}", ""),
             (f"pi-edge build . -o {args.name}.wasm", "checks it, then builds it (a machine's first build: a minute)"),
             ("pytest", "its tests, on a simulated display"),
             (f"pi-edge agent --actor {args.name}=.", "run it here; README.md says how to deploy it to your Pis")]
    width = max(len(command) for command, _ in steps)
    out("next:")
    for command, note in steps:
        out(f"  {command.ljust(width)}  # {note}" if note else f"  {command}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from pi_edge.agent.cli.progress import StepsOnStderr
    from pi_edge.agent.wasm.build import actor_name, build_actor

    if not args.actor_dir.is_dir():
        raise PiEdgeError(f"{args.actor_dir} is not a directory: name an actor's folder (with app.py or actor.js)")
    dir_flag("--cache-dir", args.cache_dir)
    with StepsOnStderr(f"build {actor_name(args.actor_dir)}") as progress:
        result = build_actor(args.actor_dir, cache_dir=args.cache_dir, out=args.output, progress=progress,
                             check=not args.no_check)
    # The file's own sha256, as deploy and sha256sum show it (result.digest is the sources' cache key).
    digest = sha256(result.path.read_bytes())
    checked = f"checked in {result.check_seconds * 1000:.0f} ms, " if result.check_seconds is not None else ""
    out(f"{'reused' if result.cached else 'built'} {result.path} (sha256 {digest[:16]}…, {checked}"
        f"{result.seconds:.2f} s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pi_edge.agent.demo import run_demo

    dir_flag("--cache-dir", args.cache_dir)
    from pi_edge.agent.cli.progress import StepsOnStderr

    with StepsOnStderr("demo") as progress:
        return asyncio.run(run_demo(args.text, args.output, args.plugin, args.cache_dir, progress.out, progress))


def add_commands(sub: Subcommands, display_plugin: ProviderPlugin) -> None:
    p = sub.add_parser("new", help="start a new actor: its folder, with source, README and tests",
                       description="Make folder NAME with a working actor in Python (app.py) or JavaScript "
                                   "(actor.js), a short README and tests that run it with pi_edge.testing. "
                                   "'pi-edge build' and then 'pytest' in the folder pass as it is written.")
    p.add_argument("name", metavar="NAME", type=name_arg("actor"), help="the actor's name (and its folder's)")
    p.add_argument("--lang", choices=("python", "js"), default="python",
                   help="the language to write it in (default %(default)s; js needs Node.js 18+ and npm to build)")
    p.add_argument("--dir", type=Path, default=Path("."), help="where to make the folder (default: here)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("build", help="build an actor (Python or JavaScript) into a Wasm component",
                       description="Check ACTOR_DIR's sources (syntax and imports, in milliseconds), then build it "
                                   "against the display-actor world: app.py with componentize-py, actor.js with "
                                   "componentize-js (installed from npm once). Cached by the digest of the "
                                   "sources and the WIT.")
    p.add_argument("actor_dir", type=Path, metavar="ACTOR_DIR", nargs="?", default=Path("."),
                   help="the actor's folder, holding its app.py or actor.js (default: here)")
    p.add_argument("-o", "--output", type=Path, help="also copy the component here")
    p.add_argument("--cache-dir", type=Path, help="build cache (default ~/.cache/pi-edge)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the check before building (the build tool finds the same mistakes, in seconds)")
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
