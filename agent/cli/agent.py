"""``pi-edge agent``: its flags (the display plugin adds its own); the agent itself is ``pi_edge.agent.host``.

A flag left out is None, so that the configuration resolves it from the
environment, then the file, then the default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pi_edge.actors import BUILTIN, DEFAULT_ACTOR
from pi_edge.agent.cli.arguments import Subcommands
from pi_edge.agent.cli.output import out
from pi_edge.agent.display.plugins import ProviderPlugin
from pi_edge.agent.host.config import DEFAULT_PATH as DEFAULT_CONFIG
from pi_edge.agent.lattice import subjects
from pi_edge.agent.wasm.limits import Limits


def cmd_agent(args: argparse.Namespace) -> int:
    from pi_edge.agent.host.process import run_agent

    return run_agent(args, out)


def _limit_args(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--deadline-ms", type=int,
                   help=f"how long one message may run inside an actor (default {d.deadline_ms})")
    p.add_argument("--memory-mb", type=int,
                   help=f"linear-memory cap per actor instance, MiB (default {d.memory_bytes // 2**20})")
    p.add_argument("--max-message-kb", type=int,
                   help=f"largest message an actor accepts, KiB (default {d.max_message_bytes // 1024})")
    p.add_argument("--compile-memory-mb", type=int,
                   help="the most memory a compile on this host may use, MiB; a compile predicted to need more is "
                        "not tried (its code comes from the hub: trust_compiled); default 0: what is free")


def add_commands(sub: Subcommands, display_plugin: ProviderPlugin) -> None:
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
                   help=f"actor to run as NAME: PATH is {BUILTIN!r} (the built-in {DEFAULT_ACTOR} actor, e.g. "
                        f"--actor sign={BUILTIN}), a built .wasm, or an actor's source folder (built and signed by "
                        f"this host); repeatable (default: {DEFAULT_ACTOR}={BUILTIN})")
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
    p.add_argument("--trust-compiled", action="append", metavar="KEY",
                   help="account public key (A...) whose signed compiled artifacts this host loads from the hub "
                        "instead of compiling (see 'pi-edge compile'); repeatable ($PI_EDGE_TRUST_COMPILED)")
    p.add_argument("--allow-unsigned", action="store_const", const=True,
                   help="run unsigned actors too: for development only, warned about at every start")
    p.add_argument("--hub-credentials", type=Path, metavar="FILE",
                   help="this Pi's NAME.creds from 'pi-edge hub enroll NAME' (its key; --name defaults to NAME); "
                        "needed unless the hub "
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
    # None means "not given": the configuration fills in the environment, the file, then the plugin's default.
    p.set_defaults(**{setting.dest: None for setting in display_plugin.settings()})
    p.set_defaults(func=cmd_agent, plugin=display_plugin)
