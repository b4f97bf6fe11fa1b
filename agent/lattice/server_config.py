"""What a nats-server is told to be: the hub (clients, leaf port, JetStream, who may do what) or a Pi's leaf.

Every user is an nkey: the config holds public keys only, except a leaf's
remote, which holds the seed the Pi proves itself to the hub with (so the file
is written 0600 into the owner's state directory, see ``nats_server``).

Both sides ping every 2 s and give up after 2 missed pongs, so a cut link is
noticed within about 6 s on each side (nats-server has no per-leaf setting:
``ping_interval`` is server-wide; its default of 2 minutes hid a cut for that long).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pi_edge.agent.lattice import permissions
from pi_edge.agent.lattice.permissions import Permissions
from pi_edge.agent.lattice.subjects import JETSTREAM_DOMAIN
from pi_edge.agent.lattice.urls import address_port

__all__ = ["JETSTREAM_DOMAIN", "HubAccess", "ServerConfig", "User", "hub_config", "leaf_config"]

#: How often each side pings the other, and how many pongs may be missed before the link counts as lost.
PING_INTERVAL = "2s"
PING_MAX = 2

#: The account of the hub's own watcher (leaf connects and disconnects, and kicking a revoked Pi).
SYSTEM_ACCOUNT = "SYS"


@dataclass(frozen=True)
class User:
    """One nkey user; ``kinds`` limits how it may connect (``STANDARD`` clients, ``LEAFNODE`` links)."""

    key: str
    permissions: Permissions | None = None
    kinds: tuple[str, ...] = ()
    comment: str = ""

    def render(self) -> str:
        parts = [f"nkey: {json.dumps(self.key)}"]
        if self.kinds:
            parts.append(f"allowed_connection_types: {json.dumps(list(self.kinds))}")
        if self.permissions is not None:
            parts.append(f"permissions: {self.permissions.render()}")
        comment = f"  # {self.comment}" if self.comment else ""
        return "    { " + ", ".join(parts) + " }" + comment


@dataclass(frozen=True)
class HubAccess:
    """Who may use the hub: the public keys of each role, and every enrolled Pi's by name.

    ``open`` (``--no-auth``) lets anyone in with every right; the hub's own
    watcher still has its system-account user.
    """

    operator: str
    gateway: str
    hub: str
    system: str
    hosts: dict[str, str] = field(default_factory=dict)
    open: bool = False
    open_user: str = ""  # with ``open``: the key anonymous clients are let in as (its seed is thrown away)

    def users(self) -> list[User]:
        if self.open:  # the known keys still get in (a Pi with credentials, the operator), with every right
            return [User(self.open_user, comment="--no-auth: anyone, every right"),
                    *(User(key) for key in (self.operator, self.gateway, self.hub, *self.hosts.values()))]
        return [
            User(self.operator, permissions.operator(), ("STANDARD",), "operator (laptop commands)"),
            User(self.gateway, permissions.gateway(), ("STANDARD",), "the HTTP gateway"),
            User(self.hub, permissions.hub(), ("STANDARD",), "the hub process"),
            *(User(key, permissions.host(name), ("LEAFNODE",), f"host {name}") for name, key in sorted(
                self.hosts.items())),
        ]


@dataclass
class ServerConfig:
    """What goes into the server's config file; ``port=0`` picks a free port."""

    name: str
    listen: str = "127.0.0.1"  # the address clients connect to
    port: int = 4222
    leafnode_listen: str = "0.0.0.0"
    leafnode_port: int | None = None  # hub: accept leaf connections here
    remotes: list[str] = field(default_factory=list)  # leaf: hub URLs
    jetstream_dir: str | None = None  # hub: JetStream on, storing here (deployed components)
    jetstream_domain: str = JETSTREAM_DOMAIN
    users: list[User] = field(default_factory=list)  # who may connect (none: anyone, with every right)
    no_auth_user: str | None = None  # a client that presents nothing is this user
    system_users: list[str] = field(default_factory=list)  # keys in the system account
    remote_seed: str | None = field(default=None, repr=False)  # leaf: the key it presents to the hub (secret)
    tls_cert: str | None = None  # hub: leaf port speaks TLS with this certificate...
    tls_key: str | None = None  # ...and key
    tls_ca: str | None = None  # leaf: verify the hub's certificate against this CA

    def render(self) -> str:
        def port(p: int) -> int:
            return -1 if p == 0 else p

        lines = [
            f"server_name: {json.dumps(self.name)}",
            f"listen: {json.dumps(address_port(self.listen, port(self.port)))}",
            f"ping_interval: {json.dumps(PING_INTERVAL)}",
            f"ping_max: {PING_MAX}",
        ]
        if self.jetstream_dir is not None:
            lines.append(f"jetstream {{ store_dir: {json.dumps(self.jetstream_dir)}, "
                         f"domain: {json.dumps(self.jetstream_domain)} }}")
        if self.users:
            lines += ["authorization { users: [", *(u.render() for u in self.users), "] }"]
        if self.no_auth_user:
            lines.append(f"no_auth_user: {json.dumps(self.no_auth_user)}")
        if self.system_users:
            users = ", ".join(f"{{ nkey: {json.dumps(k)} }}" for k in self.system_users)
            lines += [f"accounts {{ {SYSTEM_ACCOUNT}: {{ users: [ {users} ] }} }}",
                      f"system_account: {SYSTEM_ACCOUNT}"]
        if self.leafnode_port is not None or self.remotes:
            lines.append("leafnodes {")
            if self.leafnode_port is not None:
                # No leafnodes.authorization: leaf links are checked against the users above (their
                # allowed_connection_types says which may come in as a leaf).
                lines.append(f"  listen: {json.dumps(address_port(self.leafnode_listen, port(self.leafnode_port)))}")
                if self.tls_cert and self.tls_key:
                    lines.append(f"  tls {{ cert_file: {json.dumps(self.tls_cert)}, "
                                 f"key_file: {json.dumps(self.tls_key)} }}")
            if self.remotes:
                urls = ", ".join(json.dumps(u) for u in self.remotes)
                key = f", nkey: {json.dumps(self.remote_seed)}" if self.remote_seed else ""
                tls = f", tls: {{ ca_file: {json.dumps(self.tls_ca)} }}" if self.tls_ca else ""
                lines.append(f"  remotes: [ {{ urls: [ {urls} ]{key}{tls} }} ]")
                # Retry the hub often: a Pi should rejoin soon after the laptop wakes.
                lines.append('  reconnect: "1s"')
            lines.append("}")
        return "\n".join(lines) + "\n"


def hub_config(listen: str, port: int, leafnode_port: int, access: HubAccess, name: str = "pi-edge-hub",
               store_dir: str | None = None, tls_cert: str | None = None, tls_key: str | None = None) -> ServerConfig:
    """The laptop's hub, clients and leaf nodes both on ``listen``; with ``store_dir`` it runs JetStream
    (domain ``hub``) for deployments.

    Leaf servers run without JetStream: their clients reach the hub's by
    asking for its domain, across the leaf connection.
    """
    return ServerConfig(name=name, listen=listen, port=port, leafnode_listen=listen, leafnode_port=leafnode_port,
                        jetstream_dir=store_dir, jetstream_domain=JETSTREAM_DOMAIN, users=access.users(),
                        no_auth_user=access.open_user if access.open else None, system_users=[access.system],
                        tls_cert=tls_cert, tls_key=tls_key)


def leaf_config(name: str, port: int, hub: str | None, agent_key: str, anonymous_key: str,
                listen: str = "127.0.0.1", hub_seed: str | None = None, tls_ca: str | None = None) -> ServerConfig:
    """A Pi's leaf server: clients on ``listen``, joined to ``hub`` (a leafnode URL) if given.

    The agent's own connections come in as ``agent_key`` with every right on
    this server (the hub restricts what crosses the link); anyone else who
    connects is ``anonymous_key``, who may ask actors and read events but not
    control anything.
    """
    return ServerConfig(name=name, listen=listen, port=port, remotes=[hub] if hub else [],
                        users=[User(agent_key, comment="the agent"),
                               User(anonymous_key, permissions.pi_local(name), comment="anyone else on this machine")],
                        no_auth_user=anonymous_key, remote_seed=hub_seed if hub else None, tls_ca=tls_ca)
