"""``pi-edge deploy``, ``stop`` and ``scale``: which actors run on which hosts.

Hosts are chosen by ``--host`` and ``--label`` among those answering a ping, so
a typo or an offline host is reported before anything is uploaded or changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nkeys

from pi_edge.actors import BUILTIN, builtin_actor_dir, prebuilt_actor
from pi_edge.agent.cli.arguments import Subcommands, lattice_args, lattice_client, name_arg, scale_arg, target_args
from pi_edge.agent.cli.keys import seed_of
from pi_edge.agent.cli.output import out, report
from pi_edge.agent.cli.progress import StepsOnStderr
from pi_edge.agent.errors import ConfigError
from pi_edge.agent.host.host import MAX_INSTANCES
from pi_edge.agent.host.labels import parse_labels
from pi_edge.agent.lattice.client import LatticeClient
from pi_edge.agent.trust import claims
from pi_edge.agent.trust.claims import is_component
from pi_edge.agent.wasm.targets import TARGETS, EngineKey, engine_settings, local_target

#: A deploy may compile an 18 MB component on a Pi: give it time.
DEPLOY_TIMEOUT = 180.0


def _component(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{path} is not a file; build one with 'pi-edge build ACTOR_DIR -o {path}'")
    data = path.read_bytes()
    if not is_component(data):  # caught here, before it takes space in the hub's store
        raise ConfigError(f"{path} is not a WebAssembly component; deploy a file made by "
                          "'pi-edge build ACTOR_DIR -o FILE.wasm'")
    return data


def _builtin_component(cache_dir: Path | None) -> bytes:
    """The built-in actor as hosts run it: this installation's prebuilt component, else built from its sources."""
    if (prebuilt := prebuilt_actor()) is not None:
        return prebuilt.read_bytes()
    from pi_edge.agent.wasm.build import build_actor

    return build_actor(builtin_actor_dir(), cache_dir).path.read_bytes()


def _compiler_key(value: str | None) -> nkeys.KeyPair | None:
    return None if value is None else seed_of("--compile-key", value, "account")


def cmd_deploy(args: argparse.Namespace) -> int:
    path: Path = args.component
    data = _component(path)
    labels = parse_labels(args.label)
    key = _compiler_key(args.compile_key)

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
            if key is not None:
                progress.step("compiling once for the fleet")
                await _compile_for(lattice, args.name, data, key, hosts)
            names = [str(h["name"]) for h in hosts]
            progress.step(f"starting {args.name} on {len(names)} host(s)")
            answers = await lattice.deploy(names, args.name, digest, args.scale, max(args.timeout, DEPLOY_TIMEOUT),
                                           HostPhases(progress))
            progress.close()
            return report(answers, lambda r: (
                f"{r['actor']} x{r['scale']} running ({'fetched and ' if r['fetched'] else ''}started in "
                f"{r['seconds']:.1f} s; {CODE.get(str(r.get('code')), 'code: ' + str(r.get('code')))})"))

    with StepsOnStderr(f"deploy {args.name}") as progress:
        return asyncio.run(main(progress))


#: What a deploy reply's "code" says, for people.
CODE = {"cache": "compiled code from its cache", "hub": "compiled code from the hub", "compiled": "compiled there"}


async def _compile_for(lattice: LatticeClient, name: str, data: bytes, key: nkeys.KeyPair,
                       hosts: list[dict[str, Any]]) -> None:
    """One compile for the fleet: the artifact for each engine the chosen hosts have that this machine compiles."""
    here = local_target()
    engines = {json.dumps(h["engine"], sort_keys=True) for h in hosts if isinstance(h.get("engine"), dict)}
    for engine in sorted(engines):
        wanted = EngineKey(**json.loads(engine))
        ours = EngineKey.for_target(here, engine_settings())
        names = ", ".join(str(h["name"]) for h in hosts if json.dumps(h.get("engine"), sort_keys=True) == engine)
        if wanted != ours:
            out(f"  {names}: no compiler here for {wanted.triple} (wasmtime {wanted.wasmtime}); they compile it "
                f"themselves unless 'pi-edge compile --target {wanted.triple} --python CMD' publishes it")
            continue
        done = await lattice.publish_compiled(name, data, key, here)
        out(f"compiled for {wanted.triple} in {done.seconds:.1f} s and published, signed by "
            f"{done.manifest.signer[:12]}…" if done.published else
            f"compiled code for {wanted.triple} already in the store, signed by {done.manifest.signer[:12]}…")


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile once for a target and publish the signed artifact; hosts that trust the key fetch it."""
    data = _builtin_component(args.cache_dir) if args.component == BUILTIN else _component(Path(args.component))
    key = seed_of("--key", args.key, "account")
    target = TARGETS[args.target] if args.target else local_target()
    if target not in TARGETS.values():
        raise ConfigError("this machine has no shareable compile target; give --target and --python")
    python = shlex.split(args.python) if args.python else None
    if args.target and python is None and target != local_target():
        raise ConfigError(f"--target {args.target} is not this machine's ({local_target().triple}): give --python, "
                          "a command running Python with pi-edge for that machine (an arm64 userland under qemu-user, "
                          "or a Pi over ssh)")

    async def main() -> int:
        async with lattice_client(args) as lattice:
            done = await lattice.publish_compiled(args.name, data, key, target, python)
        m = done.manifest
        what = (f"compiled in {done.seconds:.1f} s (peak {m.peak_rss_mib} MiB) and published" if done.published
                else "already in the store")
        out(f"{m.engine.object_name(m.component)}: {what}; {m.size / 2**20:.1f} MiB, sha256 {m.sha256[:12]}…, "
            f"signed by {m.signer}")
        return 0

    return asyncio.run(main())


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
    p.add_argument("--compile-key", metavar="FILE",
                   help="compile it once here for the chosen hosts' engine and publish it signed by this account "
                        "seed: hosts that trust its public key (trust_compiled) fetch the code instead of compiling")
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

    p = sub.add_parser("compile", help="compile an actor once for a kind of host and publish it to the hub",
                       description="Compile COMPONENT (or the built-in actor: builtin) for a target's baseline CPU, "
                                   "sign the artifact's manifest with --key and put it in the hub's store. Hosts "
                                   "whose trust_compiled lists the key's public half load it instead of compiling, "
                                   "which a 512 MB Pi cannot. Compiled code is native code: give the key only to "
                                   "machines you trust as much as this one.")
    p.add_argument("component", metavar="COMPONENT", help=f"a built component (.wasm), or {BUILTIN!r}")
    p.add_argument("--key", required=True, metavar="FILE", help="the compiler's account seed (pi-edge keys gen "
                   "account -o compiler.nk); hosts trust its public key with trust_compiled")
    p.add_argument("--target", choices=sorted(TARGETS), help="the hosts' target (default: this machine's)")
    p.add_argument("--python", metavar="CMD", help="for another target: a command running Python with pi-edge "
                   "on that kind of machine, e.g. 'chroot /srv/arm64 /opt/pi-edge/bin/python'")
    p.add_argument("--name", default="compile", type=name_arg("actor"), help="a name for messages (default compile)")
    p.add_argument("--cache-dir", type=Path, help="where the built-in actor is built, if this install has none")
    lattice_args(p)
    p.set_defaults(func=cmd_compile)
