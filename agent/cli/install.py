"""``pi-edge install-service``: its flags; the installer is ``pi_edge.agent.install_service``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pi_edge.agent.cli.arguments import Subcommands
from pi_edge.agent.install_service import AGENT, HUB, install


def cmd_install_service(args: argparse.Namespace) -> int:
    install(hub=args.hub, user=args.user, root=args.root, dry_run=args.dry_run)
    return 0


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser(
        "install-service", help="Pi: install the agent as a systemd service (run as root)",
        description="Install pi-edge-agent.service (or pi-edge-hub.service with --hub) in "
                    "/etc/systemd/system, running this pi-edge executable as its own system user; write "
                    "the commented config /etc/pi-edge/agent.toml unless it exists; create the user and "
                    "add it to the 'i2c' group. Prints every action, then the systemctl commands to run. "
                    "Running it again changes nothing.")
    p.add_argument("--user", metavar="NAME",
                   help=f"system user the service runs as (default {AGENT.user}; {HUB.user} with --hub)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done and change nothing")
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                   help="install under DIR instead of / (packaging, tests); users are then not created, "
                        "only the commands printed (default %(default)s)")
    p.add_argument("--hub", action="store_true",
                   help="install the hub (pi-edge-hub.service, for a Linux laptop or gateway) instead of the agent")
    p.set_defaults(func=cmd_install_service)
