"""``pi-edge trust add|remove|list``: which accounts' signed actors hosts run, changed while they run.

Sent over the control subjects (operation ``trust``), so only who may control
hosts may change it; each host saves the change in its state directory before
applying it (``host/trust_store.py``).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pi_edge.agent.cli.arguments import Subcommands, lattice_args, lattice_client, name_arg
from pi_edge.agent.cli.output import report
from pi_edge.agent.trust import claims

#: Seconds each host may take to apply a change: what it starts may need compiling.
START_TIMEOUT = 180.0


def issuer_arg(value: str) -> str:
    """An account public key, checked before anything connects (a seed is refused: it must stay secret)."""
    key = value.strip()
    if not claims.is_public_key(key, "account"):
        hint = ("that is a seed, which stays secret: give its public key ('pi-edge keys gen' printed it)"
                if key.startswith("S") else "an account public key is 56 characters starting with 'A' "
                "(from 'pi-edge keys gen account')")
        raise argparse.ArgumentTypeError(f"{key[:16]}{'…' if len(key) > 16 else ''} is not an account public key: "
                                         f"{hint}")
    return key


def _changed(verb: str, r: dict[str, Any]) -> str:
    parts = [f"{verb}; trusts {len(r['issuers'])} issuer(s)"]
    if r.get("started"):
        parts.append(f"started {', '.join(r['started'])}")
    if r.get("stopped"):
        parts.append(f"stopped {', '.join(r['stopped'])} (signed by an issuer it no longer trusts)")
    return "; ".join(parts)


def cmd_trust(args: argparse.Namespace) -> int:
    body = {args.action: args.issuer} if args.action in ("add", "remove") else {}

    async def main() -> int:
        async with lattice_client(args) as lattice:
            hosts = [str(h["name"]) for h in await lattice.select_hosts(args.host, {})]
            # Trusting an issuer starts what it signed: a first compile takes minutes on a small Pi.
            timeout = max(args.timeout, START_TIMEOUT) if body else None
            answers = await lattice.control_each(hosts, "trust", body, timeout)
        if args.action == "list":
            return report(answers, lambda r: "".join(f"\n    {key}  ({why})" for key, why in r["issuers"].items()))
        return report(answers, lambda r: _changed("added" if args.action == "add" else "removed", r))

    return asyncio.run(main())


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("trust", help="trust or distrust an account's signed actors on running hosts",
                       description="Change which account keys (issuers) hosts accept signed actors from, while "
                                   "they run: no restart. Each host saves the change in its state directory "
                                   "(it outlasts restarts and reloads; its --trust flags and agent.toml stay the "
                                   "start) and applies it at once: actors signed by a trusted issuer that were "
                                   "refused start, those signed by a removed one stop (they stay wanted). Sent "
                                   "over the control subjects: whoever may control hosts may use it.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("add", "trust ISSUER's signed actors"), ("remove", "trust ISSUER no more")):
        a = actions.add_parser(action, help=text, description=f"{text[0].upper()}{text[1:]} on the chosen hosts.")
        a.add_argument("issuer", metavar="ISSUER", type=issuer_arg,
                       help="the account's public key (A..., as 'pi-edge keys gen account' printed it)")
        which = a.add_mutually_exclusive_group(required=True)
        which.add_argument("--host", type=name_arg("host"), help="only this host")
        which.add_argument("--all", action="store_true", help="every host that answers")
        lattice_args(a, f"seconds to wait for each host to apply it: never less than {START_TIMEOUT:g} (what "
                        "it starts may compile for minutes on a small Pi); longer if given")
        a.set_defaults(func=cmd_trust)
    a = actions.add_parser("list", help="the issuers each host trusts, and why",
                           description="Every issuer each host trusts: from its configuration, from "
                                       "'pi-edge trust add', or its own key (for what it builds itself).")
    a.add_argument("--host", type=name_arg("host"), help="only this host (default: every host)")
    lattice_args(a)
    a.set_defaults(func=cmd_trust)
