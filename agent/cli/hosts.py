"""``pi-edge hosts``, ``inventory``, ``events`` and ``logs``: what the lattice's hosts are and what they do."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from pi_edge.agent.cli.arguments import (
    Subcommands,
    duration_arg,
    lattice_args,
    lattice_client,
    name_arg,
    positive_int,
)
from pi_edge.agent.cli.output import out, until_interrupted
from pi_edge.agent.errors import ConfigError
from pi_edge.agent.host.log_buffer import MAX_ANSWER_LINES
from pi_edge.agent.lattice.client import HostInfo
from pi_edge.agent.lattice.events import KINDS


def _labels(h: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(dict(h.get("labels", {})).items()))


def _actors(h: dict[str, Any]) -> str:
    """``clock x3, sign``: each actor with its instances when more than one; one marked failed is followed by
    ``(failed)``, one the host wants but does not run by ``(down)`` (``inventory`` says why)."""
    failed = set(h.get("failed", []))
    running = [f"{n}{f' x{c}' if c != 1 else ''}{' (failed)' if n in failed else ''}"
               for n, c in sorted(dict(h.get("actors", {})).items())]
    return ", ".join(running + [f"{n} (down)" for n in sorted(h.get("not_running", []))]) or "-"


def hosts_table(hosts: list[HostInfo]) -> list[str]:
    """The lines ``hosts`` prints: columns as wide as their widest entry, so long names stay aligned."""
    rows = [["NAME", "ID", "UPTIME", "DISPLAY", "ACTORS", "LABELS"]]
    rows.extend([str(h.get("name", "?")), str(h.get("id", "?"))[:10] + "…", f"{float(h.get('uptime_s', 0)):.0f}s",
                 "ok" if dict(h.get("display", {})).get("healthy") else "UNHEALTHY", _actors(h), _labels(h)]
                for h in sorted(hosts, key=lambda h: str(h.get("name"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    # zip stops before the last column: it is not padded, so a line ends where its text does.
    lines = ["  ".join([*(cell.rjust(w) if i == 2 else cell.ljust(w)
                          for i, (cell, w) in enumerate(zip(row, widths, strict=False))),
                        row[-1]]).rstrip() for row in rows]
    if any("(failed)" in row[4] or "(down)" in row[4] for row in rows[1:]):
        lines.append("(failed): marked failed, (down): not running; 'pi-edge inventory HOST' says why")
    return lines


def unreachable_lines(known: list[HostInfo] | None, answering: set[str]) -> list[str]:
    """The hosts the hub lost the link of (and that did not answer anyway), with when they were last seen."""
    lost = [h for h in known or [] if h.get("state") == "unreachable" and h.get("name") not in answering]
    if not lost:
        return []
    lines = ["unreachable (the hub lost their link):"]
    for h in sorted(lost, key=lambda h: str(h.get("name"))):
        since = h.get("since")
        seen = (f"last seen {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))} "
                f"({max(0.0, time.time() - since):.0f} s ago)") if isinstance(since, (int, float)) else "never seen"
        lines.append(f"  {h.get('name')}  {seen}" + (f": {h['reason']}" if h.get("reason") else ""))
    return lines


def cmd_hosts(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice_client(args) as lattice:
            hosts, known = await asyncio.gather(lattice.ping(), lattice.hub_hosts())
        lost = unreachable_lines(known, {str(h.get("name")) for h in hosts})
        if not hosts:
            out(f"no hosts answered in lattice {args.lattice!r}")
        else:
            for line in hosts_table(hosts):
                out(line)
        for line in lost:
            out(line)
        return 0 if hosts else 1

    return asyncio.run(main())


def cmd_inventory(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice_client(args) as lattice:
            inv = await lattice.control(args.name, "inventory", {})
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
            expired = f", expired {a['expired']}" if a.get("expired") else ""
            out(f"  {name:<20} x{a['scale']}  digest {a['digest'][:12]}…  handled {a['handled']}, "
                f"failed {a['failed']}{expired}")
            if a.get("failed_reason"):
                out(f"  {'':<20} MARKED FAILED: {a['failed_reason']}")
        for name, d in down.items():
            out(f"  {name:<20} {'REFUSED' if d.get('refused') else 'NOT RUNNING'}: {d.get('reason')}")
        if inv.get("expired_requests"):
            out(f"expired   {inv['expired_requests']} control or display request(s) dropped unrun: their "
                "senders had given up (delivered late, as after a partition)")
        for damage in inv.get("state_damaged", []):
            out(f"DAMAGED   {damage}")
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
    if kind == "actor-scaled":
        return f"{data.get('actor')} x{data.get('previous')} -> x{data.get('scale')}"
    if kind == "deploy":
        percent = f" {data['percent']}%" if "percent" in data else ""
        return f"{data.get('actor')} {data.get('phase')}{percent}"
    if kind == "log":
        return f"{len(data.get('lines', []))} line(s)"
    if kind == "provider-health":
        return "display healthy" if data.get("healthy") else f"display UNHEALTHY: {data.get('reason')}"
    if kind in ("heartbeat", "host-started"):
        return f"up {float(data.get('uptime_s', 0)):.0f}s, actors {_actors(data)}"
    if kind == "frame":
        screen = dict(data.get("screen", {}))
        return f"{screen.get('width')}x{screen.get('height')} frame on the panel"
    if kind == "state-damaged":
        return str(data.get("reason", ""))
    if kind == "host-unreachable":
        return f"the hub lost its link: {data.get('reason', '?')}"
    if kind == "host-back":
        return "its link to the hub is back"
    return ""


def cmd_events(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice_client(args, name="pi-edge-events", reconnect=True) as lattice, \
                lattice.events(args.host, args.kind) as events:
            # With --json, stdout carries only events (one JSON object a line) for whatever reads it.
            out(f"following events on {events.subject} (Ctrl-C stops)", sys.stderr if args.json else None)
            seen = 0
            while args.count is None or seen < args.count:
                event = await anext(events)
                seen += 1
                if args.json:
                    out(json.dumps(event))
                else:
                    at = time.strftime("%H:%M:%S", time.localtime(float(event.get("at", time.time()))))
                    out(f"{at} {event.get('host', '?'):<16} {event.get('kind', '?'):<16} {_summary(event)}")
        return 0

    return until_interrupted(main)


def _log_line(line: dict[str, Any]) -> str:
    if "dropped" in line:
        return (f"... {line['dropped']} line(s) not sent: over the host's rate of {line.get('lines_per_s')} lines "
                "a second (its own log has them all)")
    at = time.strftime("%m-%d %H:%M:%S", time.localtime(float(line.get("at", 0))))
    return f"{at} {line.get('level', '?')!s:<8} {line.get('logger', '?')}: {line.get('text', '')}"


def cmd_logs(args: argparse.Namespace) -> int:
    if args.lines > MAX_ANSWER_LINES:
        raise ConfigError(f"--lines {args.lines}: a host answers with at most {MAX_ANSWER_LINES} lines")
    since = time.time() - args.since if args.since is not None else None

    async def main() -> int:
        async with lattice_client(args, name="pi-edge-logs", reconnect=args.follow) as lattice:
            if not args.follow:
                lines = await lattice.logs(args.name, since, args.actor, args.lines)
                for line in lines:
                    out(_log_line(line))
                if not lines:
                    out(f"no log lines from {args.name}" + (f" about actor {args.actor}" if args.actor else "")
                        + (" in that time" if since is not None else ""), sys.stderr)
                return 0
            async with lattice.follow_logs(args.name, since, args.actor, args.lines) as feed:
                out(f"following {args.name}'s log (Ctrl-C stops)", sys.stderr)
                async for line in feed:
                    out(_log_line(line))
        return 0

    return until_interrupted(main)


def add_commands(sub: Subcommands) -> None:
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

    p = sub.add_parser("logs", help="a host's recent log lines, and new ones as they come (-f)",
                       description="Print the recent lines of HOST's log (it keeps the newest 2000), from the "
                                   "laptop; -f then follows new ones live, at most 50 lines a second (a count "
                                   "says how many were held back). Ctrl-C stops.")
    p.add_argument("name", metavar="HOST", type=name_arg("host"), help="the host's name (see 'pi-edge hosts')")
    p.add_argument("-f", "--follow", action="store_true", help="then print new lines as they come")
    p.add_argument("--actor", type=name_arg("actor"), help="only the lines about this actor")
    p.add_argument("--since", type=duration_arg, metavar="DURATION",
                   help="only lines from this long ago on: 30s, 10m, 2h, 1d (default: every line kept)")
    p.add_argument("-n", "--lines", type=positive_int, default=200,
                   help=f"at most this many recent lines (default %(default)s, at most {MAX_ANSWER_LINES})")
    lattice_args(p)
    p.set_defaults(func=cmd_logs)
