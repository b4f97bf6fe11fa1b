"""``pi-edge deploy``, ``stop`` and ``scale``: which actors run on which hosts.

Hosts are chosen by ``--host`` and ``--label`` among those answering a ping, so
a typo or an offline host is reported before anything is uploaded or changed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pi_edge.agent.cli.arguments import Subcommands, lattice_args, lattice_client, name_arg, scale_arg, target_args
from pi_edge.agent.cli.output import report
from pi_edge.agent.cli.progress import StepsOnStderr
from pi_edge.agent.errors import ConfigError
from pi_edge.agent.host.host import MAX_INSTANCES
from pi_edge.agent.host.labels import parse_labels
from pi_edge.agent.trust import claims
from pi_edge.agent.trust.claims import is_component

#: A deploy may compile an 18 MB component on a Pi: give it time.
DEPLOY_TIMEOUT = 180.0


def cmd_deploy(args: argparse.Namespace) -> int:
    path: Path = args.component
    if not path.is_file():
        raise ConfigError(f"{path} is not a file; build one with 'pi-edge build ACTOR_DIR -o {path}'")
    data = path.read_bytes()
    if not is_component(data):  # caught here, before it takes space in the hub's store
        raise ConfigError(f"{path} is not a WebAssembly component; deploy a file made by "
                          "'pi-edge build ACTOR_DIR -o FILE.wasm'")
    labels = parse_labels(args.label)

    async def main(progress: StepsOnStderr) -> int:
        async with lattice_client(args) as lattice:
            progress.step("finding the hosts")
            hosts = await lattice.select_hosts(args.host, labels)  # before uploading: a typo costs nothing
            progress.step(f"uploading {path.name} ({len(data) / 2**20:.1f} MiB) to the hub's store")
            digest, uploaded = await lattice.upload(data, lambda sent, size: progress.status("uploading",
                                                                                             sent / size))
            component = claims.component_digest(data)  # what hosts and inventory go by: without the signature
            also = f", component {component[:12]}… as inventory shows it" if component != digest else ""
            progress.out(f"{'uploaded' if uploaded else 'already in the store:'} {path.name} "
                         f"({len(data) / 2**20:.1f} MiB, sha256 {digest[:12]}…{also})")
            names = [str(h["name"]) for h in hosts]
            progress.step(f"starting {args.name} on {len(names)} host(s)")
            answers = await lattice.deploy(names, args.name, digest, args.scale, max(args.timeout, DEPLOY_TIMEOUT),
                                           HostPhases(progress))
            progress.close()
            return report(answers, lambda r: (
                f"{r['actor']} x{r['scale']} running ({'fetched and ' if r['fetched'] else ''}"
                f"started in {r['seconds']:.1f} s)"))

    with StepsOnStderr(f"deploy {args.name}") as progress:
        return asyncio.run(main(progress))


class HostPhases:
    """Each host's deploy phases as they come: a line when a host enters a phase, its percent as status."""

    def __init__(self, progress: StepsOnStderr) -> None:
        self.progress = progress
        self.phases: dict[str, str] = {}

    def __call__(self, host: str, data: dict[str, Any]) -> None:
        phase = str(data.get("phase"))
        if phase == "fetching":
            size = data.get("size")
            of = f" {int(size) / 2**20:.1f} MiB" if isinstance(size, int) else ""
            self.progress.status(f"{host} fetching{of}", float(data.get("percent", 0)) / 100)
            if self.phases.get(host) == phase:
                return
        elif phase == "failed":
            self.progress.note(f"{host}: failed: {data.get('reason')}")
        else:
            self.progress.status(f"{host} {phase}")
        if self.phases.get(host) != phase and phase != "failed":
            self.progress.note(f"{host}: {phase} ({float(data.get('seconds', 0)):.1f} s)")
        self.phases[host] = phase


def _on_hosts_running(args: argparse.Namespace, op: str, body: dict[str, Any],
                      describe: Callable[[dict[str, Any]], str]) -> int:
    """``op`` on the chosen hosts that run actor ``args.name``, or want to but cannot (all chosen ones if none does)."""
    labels = parse_labels(args.label)

    async def main() -> int:
        async with lattice_client(args) as lattice:
            hosts = await lattice.select_hosts(args.host, labels)
            hosts = [h for h in hosts if args.name in dict(h.get("actors", {}))
                     or args.name in list(h.get("not_running", []))] or hosts
            return report(await lattice.control_each([str(h["name"]) for h in hosts], op, body), describe)

    return asyncio.run(main())


def cmd_stop(args: argparse.Namespace) -> int:
    return _on_hosts_running(args, "stop", {"name": args.name}, lambda r: f"{r['actor']} stopped" if r.get(
        "stopped", True) else f"{r['actor']} was not running; forgotten")


def cmd_scale(args: argparse.Namespace) -> int:
    return _on_hosts_running(args, "scale", {"name": args.name, "scale": args.scale},
                             lambda r: f"{r['actor']} now x{r['scale']}")


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("deploy", help="put a built actor on hosts in the lattice",
                       description="Upload COMPONENT to the hub's store (content-addressed: the same build "
                                   "uploads once) and start it on the chosen hosts (default: every host). Each "
                                   "host fetches it over its leaf connection, checks its digest, compiles it "
                                   "once and remembers it across restarts.")
    p.add_argument("component", type=Path, help="a built component (.wasm), e.g. from 'pi-edge build'")
    p.add_argument("--name", required=True, type=name_arg("actor"),
                   help="actor name: its subject is pe.<lattice>.actor.<name>")
    p.add_argument("--scale", type=scale_arg, default=1, metavar=f"1..{MAX_INSTANCES}",
                   help="instances per host (default %(default)s)")
    target_args(p)
    lattice_args(p, f"seconds to wait for each host to fetch, compile and start it: never less than "
                    f"{DEPLOY_TIMEOUT:g} (a first compile takes minutes on a small Pi); longer if given")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("stop", help="stop an actor on hosts", description="Stop actor NAME on the chosen hosts "
                       "(default: every host running it); a deployed actor is not restored at their next start (one "
                       "the agent's own --actor or config file names comes back with it). A host that was told to "
                       "run it but could not (see 'inventory') forgets it.")
    p.add_argument("name", metavar="NAME", type=name_arg("actor"),
                   help="the actor's name, as 'pi-edge hosts' lists it")
    target_args(p)
    lattice_args(p)
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("scale", help="change how many instances of an actor run",
                       description="Run N instances of actor NAME on the chosen hosts (default: every host "
                                   "running it).")
    p.add_argument("name", metavar="NAME", type=name_arg("actor"),
                   help="the actor's name, as 'pi-edge hosts' lists it")
    p.add_argument("scale", type=scale_arg, metavar="N", help=f"instances per host, 1..{MAX_INSTANCES}")
    target_args(p)
    lattice_args(p)
    p.set_defaults(func=cmd_scale)
