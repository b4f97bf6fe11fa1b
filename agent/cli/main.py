"""``pi-edge``: the one command for the laptop and the Pi.

Every failure the user can cause ends as one line on stderr and a non-zero
exit; tracebacks are for bugs (``-v`` shows the debug log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from pi_edge.agent import __version__
from pi_edge.agent.cli.arguments import font_size_arg, name_arg, positive_int, typed
from pi_edge.agent.cli.fleet import add_commands as add_fleet_commands
from pi_edge.agent.cli.fleet import lattice_args, out
from pi_edge.agent.cli.keys import add_commands as add_claims_commands
from pi_edge.agent.display.provider import ALIGNMENTS
from pi_edge.agent.display.screen import MAX_PNG_SCALE, Screen
from pi_edge.agent.display.text_headers import text_headers
from pi_edge.agent.errors import ConfigError, NoResponderError, PiEdgeError, ProviderError
from pi_edge.agent.host.config import DEFAULT_PATH as DEFAULT_CONFIG
from pi_edge.agent.host.config import readable_file, usable_dir
from pi_edge.actors import DEFAULT_ACTOR
from pi_edge.agent.install_service import add_commands as add_install_commands
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import broadcast, ping, ping_window, request
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.store import sha256
from pi_edge.agent.wasm.limits import Limits

log = logging.getLogger("pi_edge.cli")



_out = out
_lattice_args = lattice_args


def _limit_args(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--deadline-ms", type=int,
                   help=f"how long one message may run inside an actor (default {d.deadline_ms})")
    p.add_argument("--memory-mb", type=int,
                   help=f"linear-memory cap per actor instance, MiB (default {d.memory_bytes // 2**20})")
    p.add_argument("--max-message-kb", type=int,
                   help=f"largest message an actor accepts, KiB (default {d.max_message_bytes // 1024})")


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

    p = sub.add_parser("hub", help="laptop: run the lattice's hub nats-server",
                       description="Start the hub nats-server that Pis join as leaf nodes. Runs until Ctrl-C.")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=4222, help="client port; 0 picks a free one (default %(default)s)")
    p.add_argument("--leafnode-port", type=int, default=7422,
                   help="port Pis connect to as leaf nodes; 0 picks a free one (default %(default)s)")
    p.add_argument("--state-dir", type=Path,
                   help="deployed components (JetStream) and the leaf credentials (default "
                        "$PI_EDGE_STATE_DIR/hub or ~/.local/state/pi-edge/hub)")
    p.add_argument("--no-auth", action="store_true",
                   help="let any leaf node join without credentials (a trusted network only)")
    p.add_argument("--tls-cert", help="certificate for TLS on the leaf port (with --tls-key)")
    p.add_argument("--tls-key", help="private key for --tls-cert")
    p.add_argument("--http", type=int, metavar="PORT",
                   help="also serve an HTTP gateway to the display actor on PORT (curl -d 'Hello' "
                        "http://127.0.0.1:PORT/); 0 picks a free one (default: off)")
    p.add_argument("--http-host", default="127.0.0.1",
                   help="address the HTTP gateway listens on; 0.0.0.0 lets other machines in "
                        "(default %(default)s)")
    p.set_defaults(func=cmd_hub)

    p = sub.add_parser("agent", help="Pi: run the host (leaf server, actors, display)",
                       description="Start the agent: its own leaf nats-server (joined to --hub if given), "
                                   "the display provider, and the actors. Runs until Ctrl-C or SIGTERM; SIGHUP "
                                   "re-reads the config. Every setting can also come from $PI_EDGE_<KEY> or the "
                                   "config file; a flag beats the environment, which beats the file.")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help=f"TOML config (default $PI_EDGE_CONFIG, else {DEFAULT_CONFIG} if it exists)")
    p.add_argument("--hub", help="hub's leafnode URL, e.g. nats-leaf://laptop.local:7422 (default: run standalone)")
    p.add_argument("--nats-url", help="use this existing NATS server (nats://HOST:PORT; tls://, ws:// and "
                   "wss:// too) instead of starting a leaf server")
    p.add_argument("--listen", metavar="ADDRESS", help="leaf server's client address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="leaf server's client port; 0 picks a free one (default 4222)")
    p.add_argument("--lattice", help=f"lattice id (default {subjects.DEFAULT_LATTICE})")
    p.add_argument("--name", help="host name in the lattice (default: this machine's hostname)")
    p.add_argument("--actor", action="append", metavar="NAME=PATH",
                   help="actor to run: a built .wasm or an actor source directory; repeatable "
                        f"(default: the built-in {DEFAULT_ACTOR} actor)")
    p.add_argument("--cache-dir", type=Path, help="build and compile cache (default ~/.cache/pi-edge)")
    p.add_argument("--state-dir", type=Path,
                   help="host key, deployed actors and what to restore at boot (default $PI_EDGE_STATE_DIR "
                        "or ~/.local/state/pi-edge)")
    p.add_argument("--label", action="append", metavar="KEY=VALUE",
                   help="label for picking this host (deploy --label); repeatable; arch, os, display and name are "
                        "added by the agent and cannot be set")
    p.add_argument("--trust", action="append", metavar="ISSUER",
                   help="account public key (A...) whose signed actors may run here; repeatable "
                        "($PI_EDGE_TRUST: comma-separated)")
    p.add_argument("--allow-unsigned", action="store_const", const=True,
                   help="run unsigned actors too: for development only, warned about at every start")
    p.add_argument("--hub-credentials", type=Path, metavar="FILE",
                   help="leaf credentials the hub wrote (see 'pi-edge hub' output); needed unless the hub "
                        "runs with --no-auth")
    p.add_argument("--hub-ca", type=Path, metavar="FILE", help="CA certificate to verify a TLS hub with")
    p.add_argument("--heartbeat", type=float, metavar="SECONDS",
                   help="seconds between heartbeat events, at least 1; 0 turns them off (default 30)")
    p.add_argument("--grace", dest="grace_s", type=float, metavar="SECONDS",
                   help="on SIGTERM, how long in-flight messages may finish (default 10)")
    p.add_argument("--blank-display", action="store_const", const=True,
                   help="blank the panel when the agent stops (default: keep the last picture)")
    _limit_args(p)
    display_plugin.add_arguments(p)
    # None means "not given": the config resolver fills in environment, file, then default.
    p.set_defaults(width=None, height=None, rotate=None, i2c_port=None, i2c_address=None)
    p.set_defaults(func=cmd_agent, plugin=display_plugin)

    p = sub.add_parser("display", help="laptop: show text on the Pi's display",
                       description="Send TEXT to the display actor and print its reply and the round-trip time.")
    p.add_argument("text", help="the text to show (an empty string clears; - reads it from standard input, "
                   "without its last newline: date | pi-edge display -; so a lone - is shown with "
                   "echo - | pi-edge display -)")
    p.add_argument("--actor", default=DEFAULT_ACTOR, type=name_arg("actor"),
                   help="actor to send to (default %(default)s)")
    _target_args(p, "every host that runs the actor, one line per host (default: one host)")
    p.add_argument("--align", choices=ALIGNMENTS, help="line alignment (default: center)")
    p.add_argument("--size", type=font_size_arg, metavar="PX",
                   help="font size in pixels (default: the largest at which the text fits)")
    p.add_argument("--no-wrap", dest="wrap", action="store_const", const=False,
                   help="one line per paragraph, cut at the panel's edge and shown from its start (default: wrap on words)")
    _lattice_args(p)
    p.set_defaults(func=cmd_display)

    p = sub.add_parser("clear", help="laptop: clear the Pi's display",
                       description="Ask the display actor to clear the panel and print its reply and the "
                                   "round-trip time.")
    p.add_argument("--actor", default=DEFAULT_ACTOR, type=name_arg("actor"),
                   help="actor to send to (default %(default)s)")
    _target_args(p, "clear every host that runs the actor")
    _lattice_args(p)
    p.set_defaults(func=cmd_clear)

    add_fleet_commands(sub)
    add_claims_commands(sub)
    add_install_commands(sub)

    p = sub.add_parser("snapshot", help="what the Pi's display shows now, as PNG or in the terminal",
                       description="Fetch the display's current picture (from the provider's copy of panel "
                                   "memory) and save it as a PNG, or draw it in the terminal without -o.")
    p.add_argument("-o", "--output", type=Path, help="PNG file to write (default: draw in the terminal)")
    p.add_argument("--scale", type=int, default=1, help="pixel size in the PNG, 1..16 (default %(default)s)")
    p.add_argument("--host", type=name_arg("host"), help="host to ask (default: the only host in the lattice)")
    _lattice_args(p)
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("watch", help="draw the Pi's display live in this terminal",
                       description="Draw the display in the terminal and redraw it whenever a new frame "
                                   "reaches the panel; also shows when the display drops off the bus. Ctrl-C stops.")
    p.add_argument("--host", type=name_arg("host"), help="host to watch (default: the only host in the lattice)")
    p.add_argument("--frames", type=positive_int,
                   help="stop after this many frame updates (default: run until Ctrl-C)")
    _lattice_args(p)
    p.set_defaults(func=cmd_watch)

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
    return parser


def _run(coro_fn: Callable[[], Awaitable[int]]) -> int:
    return asyncio.run(coro_fn())


def _dir_flag(flag: str, path: Path | None) -> None:
    """A directory flag, checked (and created) before anything is written to it or built for it."""
    if path is not None:
        try:
            usable_dir(path)
        except ValueError as exc:
            raise ConfigError(f"{flag} {exc}") from None


def _pem_file(flag: str, path: str, what: str) -> None:
    """Checked before the server starts: its own message names neither the flag nor, for a bad file, the file.

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


def cmd_hub(args: argparse.Namespace) -> int:
    from pi_edge.agent.hub.hub import HubOptions, run_hub

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if args.tls_cert:
        _pem_file("--tls-cert", args.tls_cert, "CERTIFICATE")
        _pem_file("--tls-key", args.tls_key, "PRIVATE KEY")
    _dir_flag("--state-dir", args.state_dir)
    return run_hub(HubOptions(listen=args.host, port=args.port, leafnode_port=args.leafnode_port,
                              state_dir=args.state_dir, auth=not args.no_auth, tls_cert=args.tls_cert,
                              tls_key=args.tls_key, http_port=args.http, http_listen=args.http_host), _out)


def cmd_agent(args: argparse.Namespace) -> int:
    from pi_edge.agent.host.process import run_agent

    return run_agent(args, _out)


def _target_args(p: argparse.ArgumentParser, all_help: str) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help=all_help)
    which.add_argument("--host", type=name_arg("host"),
                       help="only this host (a name 'pi-edge hosts' lists; default: any one that runs the actor)")


async def _send(args: argparse.Namespace, body: bytes, headers: dict[str, str] | None) -> int:
    subject, what = subjects.actor_target(args.lattice, args.actor, args.host)
    nc = await connect(args.nats_url, name="pi-edge-cli", timeout=min(args.timeout, 3.0))
    try:
        reply = await request(nc, subject, body, headers, args.timeout, what=what)
    finally:
        await nc.close()
    _out(f"{reply.body.decode('utf-8', 'replace')}  ({reply.seconds * 1000:.1f} ms)")
    return 0


async def _send_all(args: argparse.Namespace, body: bytes, headers: dict[str, str] | None) -> int:
    """Ping, then one request on the broadcast subject; a line per host that runs the actor."""
    nc = await connect(args.nats_url, name="pi-edge-cli", timeout=min(args.timeout, 3.0))
    try:
        hosts = await ping(nc, args.lattice, window=ping_window(args.timeout))
        expect = {str(h.get("name")) for h in hosts if args.actor in dict(h.get("actors", {}))}
        if not expect:
            raise NoResponderError(f"no host runs actor {args.actor!r} in lattice {args.lattice!r} "
                                   f"({len(hosts)} host(s) answered the ping)")
        answers = await broadcast(nc, subjects.actor_all(args.lattice, args.actor), body, headers, expect,
                                  args.timeout)
    finally:
        await nc.close()
    failed = sorted(name for name, a in answers.items() if a.error is not None)
    silent = sorted(expect - answers.keys())
    for name in sorted(expect | answers.keys()):
        a = answers.get(name)
        if a is None:
            _out(f"{name}: no answer within {args.timeout:g} s")
        elif a.error is not None:
            _out(f"{name}: error: {' '.join(a.error.split())}  ({a.seconds * 1000:.1f} ms)")
        else:
            _out(f"{name}: {a.body.decode('utf-8', 'replace')}  ({a.seconds * 1000:.1f} ms)")
    ok = len(answers) - len(failed)
    summary = f"{ok} of {len(expect | answers.keys())} host(s) answered ok"
    if failed:
        summary += f"; failed: {', '.join(failed)}"
    if silent:
        summary += f"; no answer: {', '.join(silent)}"
    _out(summary)
    return 1 if failed or silent else 0


def cmd_display(args: argparse.Namespace) -> int:
    send = _send_all if args.all else _send
    headers = text_headers(args.align, args.size, args.wrap) or None
    body = typed(args.text)
    if args.text == "-":
        body = sys.stdin.buffer.read()
        body = body[:-1] if body.endswith(b"\n") else body
        body = body[:-1] if body.endswith(b"\r") else body
    return _run(lambda: send(args, body, headers))


def cmd_clear(args: argparse.Namespace) -> int:
    send = _send_all if args.all else _send
    return _run(lambda: send(args, b"", {"op": "clear"}))


async def _pick_host(nc: Client, args: argparse.Namespace) -> str:
    """``--host``, or the lattice's only host; several hosts without --host is an error that names them."""
    if args.host:
        return str(subjects.check_token("host", args.host))
    names = sorted(str(h.get("name")) for h in await ping(nc, args.lattice, window=ping_window(args.timeout)))
    if not names:
        raise NoResponderError(f"no host answered in lattice {args.lattice!r}")
    if len(names) > 1:
        raise PiEdgeError(f"{len(names)} hosts in lattice {args.lattice!r} ({', '.join(names)}); pick one with --host")
    return names[0]


async def _fetch_screen(nc: Client, args: argparse.Namespace, host: str) -> Screen:
    reply = await request(nc, subjects.ctl(args.lattice, host, "snapshot"), b"", None, args.timeout,
                          what=f"host {host!r}")
    return Screen.from_json(json.loads(reply.body)["screen"])


def cmd_snapshot(args: argparse.Namespace) -> int:
    if not 1 <= args.scale <= MAX_PNG_SCALE:
        raise ConfigError(f"--scale {args.scale} is outside 1..{MAX_PNG_SCALE}")

    async def main() -> int:
        nc = await connect(args.nats_url, name="pi-edge-cli", timeout=min(args.timeout, 3.0))
        try:
            host = await _pick_host(nc, args)
            screen = await _fetch_screen(nc, args, host)
        finally:
            await nc.close()
        if args.output is None:
            _out(screen.halfblocks())
        else:
            screen.write_png(args.output, args.scale)
            _out(f"saved {args.output} ({screen.width}x{screen.height} from host {host}, scale {args.scale})")
        return 0

    return _run(main)


def cmd_watch(args: argparse.Namespace) -> int:
    redraw = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""

    async def main() -> int:
        nc = await connect(args.nats_url, name="pi-edge-watch", timeout=min(args.timeout, 3.0), reconnect=True)
        try:
            host = await _pick_host(nc, args)
            events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

            async def on_event(msg: Msg) -> None:
                try:
                    await events.put((msg.subject.rsplit(".", 1)[-1], json.loads(msg.data)))
                except ValueError:
                    log.debug("watch: ignoring a malformed event on %s", msg.subject)

            await nc.subscribe(subjects.event(args.lattice, host, "frame"), cb=on_event)
            for kind in ("provider-health", "host-stopped", "host-started"):
                await nc.subscribe(subjects.event(args.lattice, host, kind), cb=on_event)
            await subscriptions_live(nc)
            # Subscribed first, then fetched: a frame in between is drawn twice, never missed.
            _out(f"{redraw}{host}: display (Ctrl-C stops)")
            try:
                _out((await _fetch_screen(nc, args, host)).halfblocks())
            except PiEdgeError as exc:  # no picture yet, or the host just went: the events still come
                _out(f"{host}: {exc}")
            frames = 0
            while args.frames is None or frames < args.frames:
                kind, event = await events.get()
                data = event.get("data", {})
                if kind == "frame":
                    frames += 1
                    _out(f"{redraw}{host}: frame {frames}\n{Screen.from_json(data['screen']).halfblocks()}")
                elif kind == "host-stopped":
                    _out(f"{host}: the host stopped; waiting for it to come back (Ctrl-C stops)")
                elif kind == "host-started":
                    _out(f"{host}: the host is back")
                else:
                    state = "healthy" if data.get("healthy") else f"UNHEALTHY: {data.get('reason')}"
                    _out(f"{host}: display {state}")
        finally:
            await nc.close()
        return 0

    try:
        return _run(main)
    except KeyboardInterrupt:
        return 0


def cmd_build(args: argparse.Namespace) -> int:
    from pi_edge.agent.wasm.build import build_actor

    if not args.actor_dir.is_dir():
        raise PiEdgeError(f"{args.actor_dir} is not a directory")
    _dir_flag("--cache-dir", args.cache_dir)
    result = build_actor(args.actor_dir, cache_dir=args.cache_dir, out=args.output)
    # The file's own sha256, as deploy and sha256sum show it (result.digest is the sources' cache key).
    digest = sha256(result.path.read_bytes())
    _out(f"{'reused' if result.cached else 'built'} {result.path} (sha256 {digest[:16]}…, {result.seconds:.2f} s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pi_edge.agent.demo import run_demo

    _dir_flag("--cache-dir", args.cache_dir)
    return _run(lambda: run_demo(args.text, args.output, args.plugin, args.cache_dir, _out))


def _setup_logging(verbose: bool, command: str) -> None:
    quiet = command in ("display", "clear", "hosts", "build", "demo", "snapshot", "watch", "inventory", "events",
                        "deploy", "stop", "scale", "link", "links", "keys", "sign", "inspect", "install-service")
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.command)
    try:
        return int(args.func(args))
    except PiEdgeError as exc:
        sys.stderr.write(f"pi-edge: error: {exc}\n")
        return exc.exit_code
    except ProviderError as exc:  # the display could not be set up as configured
        sys.stderr.write(f"pi-edge: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
