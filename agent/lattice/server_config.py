"""What a nats-server is told to be: the hub (clients, leaf port, JetStream) or a Pi's leaf."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pi_edge.agent.lattice.credentials import LeafCredentials
from pi_edge.agent.lattice.urls import address_port

#: The hub's JetStream domain: clients on a leaf server reach the hub's stores by it, across the leaf link.
JETSTREAM_DOMAIN = "hub"


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
    leaf_credentials: LeafCredentials | None = None  # hub: required of leaf nodes; leaf: presented to the hub
    tls_cert: str | None = None  # hub: leaf port speaks TLS with this certificate...
    tls_key: str | None = None  # ...and key
    tls_ca: str | None = None  # leaf: verify the hub's certificate against this CA

    def render(self) -> str:
        def port(p: int) -> int:
            return -1 if p == 0 else p

        lines = [
            f"server_name: {json.dumps(self.name)}",
            f"listen: {json.dumps(address_port(self.listen, port(self.port)))}",
        ]
        if self.jetstream_dir is not None:
            lines.append(f"jetstream {{ store_dir: {json.dumps(self.jetstream_dir)}, "
                         f"domain: {json.dumps(self.jetstream_domain)} }}")
        creds = self.leaf_credentials
        if self.leafnode_port is not None or self.remotes:
            lines.append("leafnodes {")
            if self.leafnode_port is not None:
                lines.append(f"  listen: {json.dumps(address_port(self.leafnode_listen, port(self.leafnode_port)))}")
                if creds is not None:
                    lines.append(f"  authorization {{ user: {json.dumps(creds.user)}, "
                                 f"password: {json.dumps(creds.password)} }}")
                if self.tls_cert and self.tls_key:
                    lines.append(f"  tls {{ cert_file: {json.dumps(self.tls_cert)}, "
                                 f"key_file: {json.dumps(self.tls_key)} }}")
            if self.remotes:
                urls = ", ".join(json.dumps(creds.into(u) if creds else u) for u in self.remotes)
                tls = f", tls: {{ ca_file: {json.dumps(self.tls_ca)} }}" if self.tls_ca else ""
                lines.append(f"  remotes: [ {{ urls: [ {urls} ]{tls} }} ]")
                # Retry the hub often: a Pi should rejoin soon after the laptop wakes.
                lines.append('  reconnect: "1s"')
            lines.append("}")
        return "\n".join(lines) + "\n"


def hub_config(listen: str, port: int, leafnode_port: int, name: str = "pi-edge-hub",
               store_dir: str | None = None, credentials: LeafCredentials | None = None,
               tls_cert: str | None = None, tls_key: str | None = None) -> ServerConfig:
    """The laptop's hub, clients and leaf nodes both on ``listen``; with ``store_dir`` it runs JetStream
    (domain ``hub``) for deployments.

    Leaf servers run without JetStream: their clients reach the hub's by
    asking for its domain, across the leaf connection.
    """
    return ServerConfig(name=name, listen=listen, port=port, leafnode_listen=listen, leafnode_port=leafnode_port,
                        jetstream_dir=store_dir, jetstream_domain=JETSTREAM_DOMAIN,
                        leaf_credentials=credentials, tls_cert=tls_cert, tls_key=tls_key)


def leaf_config(name: str, port: int, hub: str | None, listen: str = "127.0.0.1",
                credentials: LeafCredentials | None = None, tls_ca: str | None = None) -> ServerConfig:
    """A Pi's leaf server: clients on ``listen``, joined to ``hub`` (a leafnode URL) if given."""
    return ServerConfig(name=name, listen=listen, port=port, remotes=[hub] if hub else [],
                        leaf_credentials=credentials if hub else None, tls_ca=tls_ca)
