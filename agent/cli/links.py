"""``pi-edge link put|del`` and ``links``: which provider an actor's display calls go to."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pi_edge.agent.cli.arguments import Subcommands, lattice_args, lattice_client, name_arg
from pi_edge.agent.cli.output import out, report
from pi_edge.agent.errors import PiEdgeError


def cmd_link(args: argparse.Namespace) -> int:
    actor = args.actor
    provider = args.provider if args.action == "put" else None

    def describe(r: dict[str, Any]) -> str:
        return f"{r['actor']} draws on {r['provider']}"

    async def main() -> int:
        async with lattice_client(args) as lattice:
            hosts = sorted(await lattice.ping(), key=lambda h: str(h.get("name")))
            offered = sorted(str(h.get("provider")) for h in hosts)
            if provider is not None and provider not in offered:
                out(f"warning: no host offers display provider {provider!r} right now "
                    f"(offered: {', '.join(offered) or 'none'}); calls fail until it appears")
            if provider is not None and not any(actor in dict(h.get("actors", {})) for h in hosts):
                out(f"warning: no host runs actor {actor!r} yet; the link applies when one starts it")
            before = await lattice.write_link(actor, provider)
            answers = await lattice.control_each([str(h["name"]) for h in hosts], "link",
                                                 {"actor": actor, "provider": provider})
            if provider is not None:
                out(f"link {actor} -> {provider}")
                return report(answers, describe)
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
            return report(answers, describe)

    return asyncio.run(main())


def cmd_links(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with lattice_client(args) as lattice:
            links = await lattice.links()
        if not links:
            out("no links: every actor draws on its own host's display")
            return 0
        for actor, provider in sorted(links.items()):
            out(f"{actor:<24} -> {provider}")
        return 0

    return asyncio.run(main())


def add_commands(sub: Subcommands) -> None:
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
