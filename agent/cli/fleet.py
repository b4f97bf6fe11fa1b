"""Laptop commands that look at and steer the lattice's hosts: hosts, inventory, events,
deploy, stop, scale.

Hosts are found by ping first, so a host that is offline is reported as such
at once instead of being waited on; a request to a host that vanished in
between still ends in one clear line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from nats.aio.client import Client
from nats.aio.msg import Msg

from pi_edge.agent.cli.arguments import name_arg, positive_int, scale_arg, seconds_arg
from pi_edge.agent.errors import ConfigError, NoResponderError, PiEdgeError
from pi_edge.agent.host.host import MAX_INSTANCES
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import DEFAULT_URL, ping, ping_window, request
from pi_edge.agent.lattice.connection import connect, subscriptions_live
from pi_edge.agent.lattice.events import KINDS
from pi_edge.agent.lattice.link_store import read_links, write_link
from pi_edge.agent.lattice.store import ComponentStore
from pi_edge.agent.trust import claims
from pi_edge.agent.trust.claims import is_component
from pi_edge.agent.host.labels import parse_labels

#: A deploy may compile an 18 MB component on a Pi: give it time.
DEPLOY_TIMEOUT = 180.0


def out(text: str, stream: TextIO | None = None) -> None:
    """A line of command output: stdout unless ``stream`` says otherwise (notes beside machine-read output)."""
    stream = stream or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def lattice_args(p: argparse.ArgumentParser, timeout_help: str = "seconds to wait for a reply (default %(default)s)",
                 ) -> None:
    p.add_argument("--nats-url", default=DEFAULT_URL, help=f"the lattice's NATS server (default {DEFAULT_URL})")
    p.add_argument("--lattice", default=subjects.DEFAULT_LATTICE, type=name_arg("lattice"),
                   help="lattice id (default %(default)s)")
    p.add_argument("--timeout", type=seconds_arg, default=5.0, help=timeout_help)


def target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", type=name_arg("host"), help="only this host (by name)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="only hosts with this label; repeatable (all must match)")


@asynccontextmanager
async def lattice(args: argparse.Namespace, name: str = "pi-edge-cli") -> AsyncIterator[Client]:
    nc = await connect(args.nats_url, name=name, timeout=min(args.timeout, 3.0))
    try:
        yield nc
    finally:
        await nc.close()


async def select_hosts(nc: Client, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Hosts answering the ping that match ``--host`` and every ``--label``; none is an error that says why."""
    labels = parse_labels(args.label)
    hosts = await ping(nc, args.lattice, window=ping_window(args.timeout))
    if not hosts:
        raise NoResponderError(f"no host answered in lattice {args.lattice!r}")
    names = ", ".join(sorted(str(h.get("name")) for h in hosts))
    if args.host:
        hosts = [h for h in hosts if h.get("name") == args.host]
        if not hosts:
            raise NoResponderError(f"host {args.host!r} is offline or unknown (answering: {names})")
    chosen = [h for h in hosts if all(dict(h.get("labels", {})).get(k) == v for k, v in labels.items())]
    if not chosen:
        wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
        if args.host:
            raise NoResponderError(f"host {args.host!r} does not have label(s) {wanted}")
        raise NoResponderError(f"no host has label(s) {wanted} (answering: {names})")
    return sorted(chosen, key=lambda h: str(h.get("name")))


async def control(nc: Client, args: argparse.Namespace, host: str, op: str, body: dict[str, Any],
                  timeout: float | None = None) -> dict[str, Any]:
    reply = await request(nc, subjects.ctl(args.lattice, host, op), json.dumps(body).encode(), None,
                          timeout or args.timeout, what=f"host {host!r}")
    return dict(json.loads(reply.body))


def _labels(h: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(dict(h.get("labels", {})).items()))


def _actors(h: dict[str, Any]) -> str:
    """``sign,clockx3``; an actor marked failed ends in ``!``, one the host wants but does not run in
    ``(down)`` (``inventory`` says why)."""
    failed = set(h.get("failed", []))
    running = [f"{n}{'x' + str(c) if c != 1 else ''}{'!' if n in failed else ''}"
               for n, c in sorted(dict(h.get("actors", {})).items())]
    return ",".join(running + [f"{n}(down)" for n in sorted(h.get("not_running", []))]) or "-"


def hosts_table(hosts: list[dict[str, Any]]) -> list[str]:
    """The lines ``hosts`` prints: columns as wide as their widest entry, so long names stay aligned."""
    rows = [["NAME", "ID", "UPTIME", "DISPLAY", "ACTORS", "LABELS"]]
    for h in sorted(hosts, key=lambda h: str(h.get("name"))):
        rows.append([str(h.get("name", "?")), str(h.get("id", "?"))[:10] + "…", f"{float(h.get('uptime_s', 0)):.0f}s",
                     "ok" if dict(h.get("display", {})).get("healthy") else "UNHEALTHY", _actors(h), _labels(h)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join([*(cell.rjust(w) if i == 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))),
                        row[-1]]).rstrip() for row in rows]
    if any("!" in row[4] or "(down)" in row[4] for row in rows[1:]):
        lines.append("! marked failed, (down) not running: 'pi-edge inventory HOST' says why")
    return lines


# -- commands ---------------------------------------------------------------------------------


def cmd_hosts(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice(args) as nc:
            hosts = await ping(nc, args.lattice, window=ping_window(args.timeout))
        if not hosts:
            out(f"no hosts answered in lattice {args.lattice!r}")
            return 1
        for line in hosts_table(hosts):
            out(line)
        return 0

    return asyncio.run(main())


def cmd_inventory(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice(args) as nc:
            inv = await control(nc, args, args.name, "inventory", {})
        if args.json:
            out(json.dumps(inv, indent=2))
            return 0
        out(f"host      {inv['name']}  ({inv['id']})")
        out(f"version   {inv['version']}, up {float(inv['uptime_s']):.0f} s")
        out(f"labels    {_labels(inv) or '-'}")
        d = inv["display"]
        state = "healthy" if d["healthy"] else f"UNHEALTHY: {d['reason']}"
        out(f"display   {d['driver']} {d['width']}x{d['height']}, {state}")
        lim = inv["limits"]
        out(f"limits    {lim['deadline_ms']} ms per message, {lim['memory_bytes'] // 2**20} MiB memory, "
            f"{lim['max_message_bytes'] // 1024} KiB messages")
        down = dict(inv.get("not_running", {}))  # hosts before this field was added have none
        out("actors" + ("    -" if not inv["actors"] and not down else ""))
        for name, a in inv["actors"].items():
            out(f"  {name:<20} x{a['scale']}  digest {a['digest'][:12]}…  handled {a['handled']}, failed {a['failed']}")
            if a.get("failed_reason"):
                out(f"  {'':<20} MARKED FAILED: {a['failed_reason']}")
        for name, d in down.items():
            out(f"  {name:<20} {'REFUSED' if d.get('refused') else 'NOT RUNNING'}: {d.get('reason')}")
        return 0

    return asyncio.run(main())


def _summary(event: dict[str, Any]) -> str:
    data = dict(event.get("data", {}))
    kind = event.get("kind")
    if kind in ("actor-failed", "actor-refused"):
        return f"{data.get('actor')}: {data.get('reason')}"
    if kind in ("actor-started", "actor-stopped"):
        extra = f" x{data['scale']}" if "scale" in data else ""
        return f"{data.get('actor')}{extra} {str(data.get('digest', ''))[:12]}"
    if kind == "provider-health":
        return "display healthy" if data.get("healthy") else f"display UNHEALTHY: {data.get('reason')}"
    if kind in ("heartbeat", "host-started"):
        return f"up {float(data.get('uptime_s', 0)):.0f}s, actors {_actors(data)}"
    if kind == "frame":
        screen = dict(data.get("screen", {}))
        return f"{screen.get('width')}x{screen.get('height')} frame on the panel"
    return ""


def cmd_events(args: argparse.Namespace) -> int:
    subject = subjects.events_of(args.lattice, args.host)

    async def main() -> int:
        nc = await connect(args.nats_url, name="pi-edge-events", timeout=min(args.timeout, 3.0), reconnect=True)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def on_event(msg: Msg) -> None:
            try:
                event = json.loads(msg.data)
            except ValueError:
                event = {"kind": "malformed", "host": msg.subject, "data": {}}
            if not args.kind or event.get("kind") in args.kind:
                await queue.put(event)

        try:
            await nc.subscribe(subject, cb=on_event)
            await subscriptions_live(nc)
            # With --json, stdout carries only events (one JSON object a line) for whatever reads it.
            out(f"following events on {subject} (Ctrl-C stops)", sys.stderr if args.json else None)
            seen = 0
            while args.count is None or seen < args.count:
                event = await queue.get()
                seen += 1
                if args.json:
                    out(json.dumps(event))
                else:
                    at = time.strftime("%H:%M:%S", time.localtime(float(event.get("at", time.time()))))
                    out(f"{at} {event.get('host', '?'):<16} {event.get('kind', '?'):<16} {_summary(event)}")
        finally:
            await nc.close()
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    path: Path = args.component
    if not path.is_file():
        raise ConfigError(f"{path} is not a file; build one with 'pi-edge build ACTOR_DIR -o {path}'")
    data = path.read_bytes()
    if not is_component(data):  # caught here, before it takes space in the hub's store
        raise ConfigError(f"{path} is not a WebAssembly component; deploy a file made by "
                          "'pi-edge build ACTOR_DIR -o FILE.wasm'")

    async def main() -> int:
        async with lattice(args) as nc:
            hosts = await select_hosts(nc, args)  # before uploading: a typo costs nothing
            digest, uploaded = await ComponentStore(nc).put(data)
            component = claims.component_digest(data)  # what hosts and inventory go by: without the signature
            also = f", component {component[:12]}… as inventory shows it" if component != digest else ""
            out(f"{'uploaded' if uploaded else 'already in the store:'} {path.name} "
                f"({len(data) / 2**20:.1f} MiB, sha256 {digest[:12]}…{also})")
            return await _each_host(hosts, lambda host: control(
                nc, args, host, "deploy", {"name": args.name, "digest": digest, "scale": args.scale},
                timeout=max(args.timeout, DEPLOY_TIMEOUT)), lambda r: (
                f"{r['actor']} x{r['scale']} running ({'fetched and ' if r['fetched'] else ''}"
                f"started in {r['seconds']:.1f} s)"))

    return asyncio.run(main())


def _on_hosts_running(args: argparse.Namespace, op: str, body: dict[str, Any],
                      describe: Callable[[dict[str, Any]], str]) -> int:
    """``op`` on the chosen hosts that run actor ``args.name``, or want to but cannot (all chosen ones if none does)."""
    async def main() -> int:
        async with lattice(args) as nc:
            hosts = await select_hosts(nc, args)
            hosts = [h for h in hosts if args.name in dict(h.get("actors", {}))
                     or args.name in list(h.get("not_running", []))] or hosts
            return await _each_host(hosts, lambda host: control(nc, args, host, op, body), describe)

    return asyncio.run(main())


def cmd_stop(args: argparse.Namespace) -> int:
    return _on_hosts_running(args, "stop", {"name": args.name}, lambda r: f"{r['actor']} stopped" if r.get(
        "stopped", True) else f"{r['actor']} was not running; forgotten")


def cmd_scale(args: argparse.Namespace) -> int:
    return _on_hosts_running(args, "scale", {"name": args.name, "scale": args.scale},
                             lambda r: f"{r['actor']} now x{r['scale']}")


HostResult = tuple[str, dict[str, Any] | PiEdgeError]


async def _ask_hosts(hosts: list[dict[str, Any]],
                     call: Callable[[str], Awaitable[dict[str, Any]]]) -> list[HostResult]:
    """Run ``call`` on every host at once: each host's reply, or the error it ended in."""
    names = [str(h["name"]) for h in hosts]
    results = await asyncio.gather(*(call(n) for n in names), return_exceptions=True)
    answers: list[HostResult] = []
    for name, result in zip(names, results):
        if isinstance(result, BaseException) and not isinstance(result, PiEdgeError):
            raise result
        answers.append((name, result))
    return answers


def _report(answers: list[HostResult], describe: Callable[[dict[str, Any]], str]) -> int:
    """One line per host; non-zero exit if any failed."""
    failed = 0
    for name, result in answers:
        if isinstance(result, PiEdgeError):
            failed += 1
            out(f"  {name}: error: {result}")
        else:
            out(f"  {name}: {describe(result)}")
    if failed:
        raise PiEdgeError(f"{failed} of {len(answers)} host(s) failed (see above)")
    return 0


async def _each_host(hosts: list[dict[str, Any]], call: Callable[[str], Awaitable[dict[str, Any]]],
                     describe: Callable[[dict[str, Any]], str]) -> int:
    """Run ``call`` on every host at once; one line each; non-zero exit if any failed."""
    return _report(await _ask_hosts(hosts, call), describe)


def cmd_link(args: argparse.Namespace) -> int:
    actor = args.actor
    provider = args.provider if args.action == "put" else None

    def describe(r: dict[str, Any]) -> str:
        return f"{r['actor']} draws on {r['provider']}"

    async def main() -> int:
        async with lattice(args) as nc:
            hosts = sorted(await ping(nc, args.lattice, window=ping_window(args.timeout)),
                           key=lambda h: str(h.get("name")))
            offered = sorted(str(h.get("provider")) for h in hosts)
            if provider is not None and provider not in offered:
                out(f"warning: no host offers display provider {provider!r} right now "
                    f"(offered: {', '.join(offered) or 'none'}); calls fail until it appears")
            if provider is not None and not any(actor in dict(h.get("actors", {})) for h in hosts):
                out(f"warning: no host runs actor {actor!r} yet; the link applies when one starts it")
            before = await write_link(nc, actor, provider)
            answers = await _ask_hosts(hosts, lambda host: control(
                nc, args, host, "link", {"actor": actor, "provider": provider}))
            if provider is not None:
                out(f"link {actor} -> {provider}")
                return _report(answers, describe)
            # A host may still hold a link the hub no longer has (it was offline when it was removed).
            held = [name for name, r in answers if isinstance(r, dict) and r.get("previous") is not None]
            failed = any(isinstance(r, PiEdgeError) for _, r in answers)
            if before is not None:
                out(f"link of {actor} (to {before}) removed: it draws on its own host")
            elif held:
                out(f"link of {actor} removed from {', '.join(held)} (the hub had none): it draws on its own host")
            elif not failed:
                # Non-zero, as 'stop' of an actor that does not run is: the command did not do what it says.
                raise PiEdgeError(f"actor {actor!r} has no link to remove: it already draws on its own host's "
                                  "display (see 'pi-edge links')")
            else:
                out(f"no link of {actor} on the hub")
            return _report(answers, describe)

    return asyncio.run(main())


def cmd_links(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice(args) as nc:
            links = await read_links(nc)
        if not links:
            out("no links: every actor draws on its own host's display")
            return 0
        for actor, provider in sorted(links.items()):
            out(f"{actor:<24} -> {provider}")
        return 0

    return asyncio.run(main())


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("hosts", help="list the hosts in the lattice",
                       description="Every host answering in the lattice: name, id, uptime, display health, "
                                   "actors (with their scale) and labels.")
    lattice_args(p)
    p.set_defaults(func=cmd_hosts)

    p = sub.add_parser("inventory", help="one host in detail", description="One host in detail: identity, "
                       "labels, display, limits, and each actor's digest, scale and message counts.")
    p.add_argument("name", metavar="HOST", type=name_arg("host"), help="the host's name (see 'pi-edge hosts')")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    lattice_args(p)
    p.set_defaults(func=cmd_inventory)

    p = sub.add_parser("events", help="follow hosts' events live",
                       description="Print host and actor lifecycle events, heartbeats, display health and "
                                   "frames as they happen. Ctrl-C stops.")
    p.add_argument("--host", type=name_arg("host"), help="only this host's events")
    p.add_argument("--kind", action="append", default=[], choices=KINDS, metavar="KIND",
                   help=f"only these kinds, repeatable: {', '.join(KINDS)}")
    p.add_argument("--count", type=positive_int, help="stop after this many events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    lattice_args(p)
    p.set_defaults(func=cmd_events)

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

    p = sub.add_parser("link", help="bind an actor's display to a provider, maybe on another host",
                       description="link put ACTOR PROVIDER: ACTOR's display calls go to PROVIDER (a host's "
                                   "display provider is called '<host>-display'; see 'pi-edge hosts' or "
                                   "'inventory'), wherever ACTOR runs. link del ACTOR: back to its own host's "
                                   "display. Kept on the hub and by every host, so it survives restarts.")
    link = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    put = link.add_parser("put", help="bind ACTOR to PROVIDER",
                          description="Send ACTOR's display calls to PROVIDER, wherever ACTOR runs, on every host "
                                      "now and on the hub for later. Warns, and links anyway, if no host offers "
                                      "PROVIDER or runs ACTOR yet.")
    put.add_argument("actor", metavar="ACTOR", type=name_arg("actor"), help="the actor whose display calls move")
    put.add_argument("provider", metavar="PROVIDER", type=name_arg("provider"),
                     help="the provider to draw on: '<host>-display', <host> as 'pi-edge hosts' lists it")
    lattice_args(put)
    delete = link.add_parser("del", help="remove ACTOR's link",
                             description="Remove ACTOR's link from the hub and every host: it draws on its own "
                                         "host's display again. Exit 1 if it had no link anywhere.")
    delete.add_argument("actor", metavar="ACTOR", type=name_arg("actor"), help="the actor whose link goes")
    lattice_args(delete)
    p.set_defaults(func=cmd_link)

    p = sub.add_parser("links", help="list the lattice's links",
                       description="Every link the hub keeps, one 'ACTOR -> PROVIDER' a line; an actor without "
                                   "one draws on its own host's display.")
    lattice_args(p)
    p.set_defaults(func=cmd_links)

    p = sub.add_parser("scale", help="change how many instances of an actor run",
                       description="Run N instances of actor NAME on the chosen hosts (default: every host "
                                   "running it).")
    p.add_argument("name", metavar="NAME", type=name_arg("actor"),
                   help="the actor's name, as 'pi-edge hosts' lists it")
    p.add_argument("scale", type=scale_arg, metavar="N", help=f"instances per host, 1..{MAX_INSTANCES}")
    target_args(p)
    lattice_args(p)
    p.set_defaults(func=cmd_scale)
