"""``pi-edge hub``: its flags, checked; the hub itself is ``pi_edge.agent.hub.hub``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pi_edge.agent.cli.arguments import Subcommands, dir_flag, pem_file
from pi_edge.agent.cli.output import out
from pi_edge.agent.errors import ConfigError


def cmd_hub(args: argparse.Namespace) -> int:
    from pi_edge.agent.hub.hub import HubOptions, run_hub

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if args.tls_cert:
        pem_file("--tls-cert", args.tls_cert, "CERTIFICATE")
        pem_file("--tls-key", args.tls_key, "PRIVATE KEY")
    dir_flag("--state-dir", args.state_dir)
    return run_hub(HubOptions(listen=args.listen, port=args.port, leafnode_port=args.leafnode_port,
                              state_dir=args.state_dir, auth=not args.no_auth, tls_cert=args.tls_cert,
                              tls_key=args.tls_key, http_port=args.http, http_listen=args.http_listen), out)


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("hub", help="laptop: run the lattice's hub nats-server",
                       description="Start the hub nats-server that Pis join as leaf nodes. Runs until Ctrl-C.")
    p.add_argument("--listen", default="0.0.0.0", metavar="ADDRESS",
                   help="address the hub listens on for clients and leaf nodes (default %(default)s)")
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
    p.add_argument("--http-listen", default="127.0.0.1", metavar="ADDRESS",
                   help="address the HTTP gateway listens on; 0.0.0.0 lets other machines in "
                        "(default %(default)s)")
    p.set_defaults(func=cmd_hub)
