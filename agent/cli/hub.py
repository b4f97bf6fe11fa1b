"""``pi-edge hub``, ``hub enroll NAME`` and ``hub revoke NAME``: their flags, checked; the hub itself is
``pi_edge.agent.hub.hub``, the enrolment table ``pi_edge.agent.trust.enrolment``."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

from pi_edge.agent.cli.arguments import Subcommands, dir_flag, name_arg, pem_file
from pi_edge.agent.cli.output import out
from pi_edge.agent.errors import ConfigError


def cmd_hub(args: argparse.Namespace) -> int:
    from pi_edge.agent.hub.hub import HubOptions, run_hub

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if args.tls and args.tls_cert:
        raise ConfigError("--tls makes the hub's own certificate; leave it out to use --tls-cert and --tls-key")
    if args.tls_cert:
        pem_file("--tls-cert", args.tls_cert, "CERTIFICATE")
        pem_file("--tls-key", args.tls_key, "PRIVATE KEY")
    dir_flag("--state-dir", args.state_dir)
    return run_hub(HubOptions(listen=args.listen, port=args.port, leafnode_port=args.leafnode_port,
                              state_dir=args.state_dir, auth=not args.no_auth, tls=args.tls,
                              tls_names=tuple(args.tls_name or ()), tls_cert=args.tls_cert, tls_key=args.tls_key,
                              http_port=args.http, http_listen=args.http_listen), out)


def _running_hub_says(state_dir: Path) -> tuple[str, int | None]:
    """What the running hub did with the new table (and its leaf port), or that none runs."""
    from pi_edge.agent.hub.admin import ask_hub

    answer = asyncio.run(ask_hub(state_dir, {"op": "apply"}))
    if answer is None:
        return "the hub is not running; it reads the change at its next start", None
    port = answer.get("leafnode_port")
    return str(answer.get("message", "")), int(port) if isinstance(port, int) else None


def cmd_enroll(args: argparse.Namespace) -> int:
    from pi_edge.agent.hub.hub import hub_state_dir
    from pi_edge.agent.trust.enrolment import Enrolment

    state = hub_state_dir(args.state_dir)
    target = args.output or Path(f"{args.name}.creds")
    creds = Enrolment(state).enroll(args.name, target)
    said, port = _running_hub_says(state)
    host = f"{socket.gethostname().split('.')[0]}.local"
    out(f"pi-edge hub: enrolled {creds.name}; its credentials are in {target} (secret: whoever holds the file can "
        f"join as {creds.name}; delete copies you no longer need)")
    out(f"  {said}")
    out(f"  on {creds.name}:  scp {target} {creds.name}.local: && ssh {creds.name}.local pi-edge agent --hub "
        f"nats-leaf://{host}:{port or 7422} --hub-credentials {target.name}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from pi_edge.agent.hub.hub import hub_state_dir
    from pi_edge.agent.trust.enrolment import Enrolment

    state = hub_state_dir(args.state_dir)
    gone = Enrolment(state).revoke(args.name)
    said, _ = _running_hub_says(state)
    out(f"pi-edge hub: revoked {gone.name} (key {gone.key[:8]}…): it can no longer join, across hub restarts too")
    out(f"  {said}")
    return 0


def _state_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path,
                   help="the hub's state: enrolled Pis, operator.creds, deployed components (default "
                        "$PI_EDGE_STATE_DIR/hub or ~/.local/state/pi-edge/hub)")


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("hub", help="laptop: run the lattice's hub nats-server; enrol and revoke Pis",
                       description="Start the hub nats-server that Pis join as leaf nodes. Runs until Ctrl-C. "
                                   "Only enrolled Pis ('pi-edge hub enroll NAME') and the operator (the "
                                   "operator.creds it writes) get in.")
    p.add_argument("--listen", default="0.0.0.0", metavar="ADDRESS",
                   help="address the hub listens on for clients and leaf nodes (default %(default)s)")
    p.add_argument("--port", type=int, default=4222, help="client port; 0 picks a free one (default %(default)s)")
    p.add_argument("--leafnode-port", type=int, default=7422,
                   help="port Pis connect to as leaf nodes; 0 picks a free one (default %(default)s)")
    _state_dir_arg(p)
    p.add_argument("--no-auth", action="store_true",
                   help="let anyone in with every right (development on a trusted network only; warned about at "
                        "every start)")
    p.add_argument("--tls", action="store_true",
                   help="TLS on the leaf port with a private CA and certificate made on first start (needs "
                        "'pi-edge[hub]'); 'hub enroll' puts the CA into what it writes")
    p.add_argument("--tls-name", action="append", metavar="NAME",
                   help="with --tls: another name or address Pis reach this machine by (repeatable; the hostname, "
                        "HOSTNAME.local and its addresses are in already)")
    p.add_argument("--tls-cert", help="your own certificate for TLS on the leaf port (with --tls-key)")
    p.add_argument("--tls-key", help="private key for --tls-cert")
    p.add_argument("--http", type=int, metavar="PORT",
                   help="also serve an HTTP gateway to the display actor on PORT (curl -d 'Hello' "
                        "http://127.0.0.1:PORT/); 0 picks a free one (default: off)")
    p.add_argument("--http-listen", default="127.0.0.1", metavar="ADDRESS",
                   help="address the HTTP gateway listens on; 0.0.0.0 lets other machines in "
                        "(default %(default)s)")
    p.set_defaults(func=cmd_hub)
    hub_sub = p.add_subparsers(dest="hub_command", metavar="SUBCOMMAND")
    e = hub_sub.add_parser("enroll", help="give a Pi its own key: writes NAME.creds and lets it in",
                           description="Make a key for host NAME, let it in (at once if the hub runs), and write "
                                       "NAME.creds for the Pi; prints the line that copies it there and uses it.")
    e.add_argument("name", type=name_arg("host"), metavar="NAME", help="the Pi's host name in the lattice")
    e.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to write it (default ./NAME.creds)")
    _state_dir_arg(e)
    e.set_defaults(func=cmd_enroll)
    r = hub_sub.add_parser("revoke", help="lock a Pi out: disconnects it now and at every later start",
                           description="Forget host NAME's key: a running hub disconnects it at once, and it "
                                       "stays out across hub restarts. 'hub enroll NAME' gives it a new key.")
    r.add_argument("name", type=name_arg("host"), metavar="NAME", help="the enrolled host to lock out")
    _state_dir_arg(r)
    r.set_defaults(func=cmd_revoke)
