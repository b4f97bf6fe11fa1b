"""Every NATS subject pi-edge uses is built here and nowhere else."""

from __future__ import annotations

import re

from pi_edge.agent.errors import InvalidNameError

DEFAULT_LATTICE = "default"
PREFIX = "pe"

#: The hub's JetStream domain: clients on a leaf server reach the hub's stores by it, across the leaf link.
JETSTREAM_DOMAIN = "hub"
#: The hub's object store of deployed components, and its key-value bucket of links.
COMPONENT_BUCKET = "pi-edge-actors"
LINKS_BUCKET = "pi-edge-links"

# A subject token: no dots, wildcards or whitespace, so names can't escape
# their place in the hierarchy.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
TOKEN_RULE = "letters, digits, '-' and '_' only"


def is_token(value: str) -> bool:
    """Whether ``value`` can stand as one subject token (the configuration checks names with this too)."""
    return bool(_TOKEN.fullmatch(value or ""))


def check_token(kind: str, value: str) -> str:
    """Refuse names that would change a subject's shape."""
    if not is_token(value):
        raise InvalidNameError(f"{kind} name {value!r} is not allowed: use {TOKEN_RULE}")
    return value


def actor(lattice: str, name: str) -> str:
    """Requests to actor NAME; its instances share the queue group NAME."""
    return f"{PREFIX}.{check_token('lattice', lattice)}.actor.{check_token('actor', name)}"


def actor_all(lattice: str, name: str) -> str:
    """Broadcast to actor NAME: every host running it gets the message (see ``broadcast_queue``)."""
    return f"{PREFIX}.{check_token('lattice', lattice)}.all.actor.{check_token('actor', name)}"


def actor_on(lattice: str, host: str, name: str) -> str:
    """Requests to actor NAME on host HOST only: its instances there share the queue group NAME."""
    on_host = f"{PREFIX}.{check_token('lattice', lattice)}.host.{check_token('host', host)}"
    return f"{on_host}.actor.{check_token('actor', name)}"


def actor_target(lattice: str, name: str, host: str | None = None) -> tuple[str, str]:
    """Where a request to actor NAME goes (any host, or only HOST), and how errors name it."""
    if host is None:
        return actor(lattice, name), f"actor {name!r}"
    return actor_on(lattice, host, name), f"actor {name!r} on host {host!r}"


def broadcast_queue(name: str, token: str) -> str:
    """The queue group of one agent's instances of NAME on the broadcast subject: one per agent answers."""
    return f"{check_token('actor', name)}.{check_token('agent token', token)}"


def ctl_ping(lattice: str) -> str:
    return f"{PREFIX}.{check_token('lattice', lattice)}.ctl.ping"


def ctl(lattice: str, host: str, op: str) -> str:
    return f"{PREFIX}.{check_token('lattice', lattice)}.ctl.{check_token('host', host)}.{check_token('operation', op)}"


def event(lattice: str, host: str, kind: str) -> str:
    return f"{PREFIX}.{check_token('lattice', lattice)}.evt.{check_token('host', host)}.{check_token('event', kind)}"


def events_of(lattice: str, host: str | None = None, kind: str | None = None) -> str:
    """What a follower subscribes to: the events of ``host`` (default: every host), of ``kind`` (default: all).

    Of every host it is all their events, whatever ``kind``: a hub passes a
    subscription's interest on to a Pi only if that Pi may publish there, and
    it does not see ``evt.*.deploy`` within a Pi's ``evt.<host>.*`` (it does
    see ``evt.>``), so the follower picks the kind out itself.
    """
    of_lattice = f"{PREFIX}.{check_token('lattice', lattice)}.evt"
    if host is None:
        return f"{of_lattice}.>"
    return f"{of_lattice}.{check_token('host', host) if host else '*'}.{check_token('event', kind) if kind else '*'}"


def provider_instance(host: str) -> str:
    """The name a host's own display provider is reachable by (``<host>-display``)."""
    return f"{check_token('host', host)}-display"


def provider(lattice: str, name: str, op: str) -> str:
    of_provider = f"{PREFIX}.{check_token('lattice', lattice)}.prov.{check_token('provider', name)}"
    return f"{of_provider}.{check_token('operation', op)}"


def hub_service(lattice: str, op: str) -> str:
    """What the hub process itself answers (``hosts``: which hosts it knows, and which are unreachable since when)."""
    return f"{PREFIX}.{check_token('lattice', lattice)}.hub.{check_token('operation', op)}"


# -- inboxes: where replies come back ------------------------------------------------------------


def inbox_prefix(host: str) -> str:
    """A host's own inbox prefix: the hub forwards to a Pi only the replies addressed under it, so one Pi
    never reads the replies meant for another."""
    return f"_INBOX.{check_token('host', host)}"


# -- patterns: what the servers' permissions match (subscribed to by nobody, published to by nobody) ----------

#: Any one token.
ANY = "*"
_L = f"{PREFIX}.{ANY}"  # any lattice


def any_actor_request() -> tuple[str, ...]:
    """Every subject a request to an actor can travel on: any host, one host, every host."""
    return f"{_L}.actor.{ANY}", f"{_L}.host.{ANY}.actor.{ANY}", f"{_L}.all.actor.{ANY}"


def any_actor_request_tree() -> tuple[str, ...]:
    """``any_actor_request`` with ``>`` tails: what nobody but a host may subscribe to, whatever the shape."""
    return f"{_L}.actor.>", f"{_L}.host.{ANY}.actor.>", f"{_L}.all.actor.>"


def actor_requests_for(host: str) -> tuple[str, ...]:
    """What ``host`` serves: actors on any host, on it, and broadcasts."""
    return f"{_L}.actor.{ANY}", f"{_L}.host.{check_token('host', host)}.actor.{ANY}", f"{_L}.all.actor.{ANY}"


def any_ping() -> str:
    return f"{_L}.ctl.ping"


def any_control() -> str:
    return f"{_L}.ctl.>"


def control_of(host: str) -> str:
    return f"{_L}.ctl.{check_token('host', host)}.{ANY}"


def any_event() -> str:
    return f"{_L}.evt.>"


def events_by(host: str) -> str:
    return f"{_L}.evt.{check_token('host', host)}.{ANY}"


def any_host_event(kind: str) -> str:
    return f"{_L}.evt.{ANY}.{check_token('event', kind)}"


def actor_requests_to(actor_name: str) -> tuple[str, ...]:
    """Requests to one actor, on any host or on one named host (what the HTTP gateway forwards)."""
    name = check_token("actor", actor_name)
    return f"{_L}.actor.{name}", f"{_L}.host.{ANY}.actor.{name}"


def any_provider() -> str:
    return f"{_L}.prov.{ANY}.{ANY}"


def provider_ops(name: str) -> str:
    return f"{_L}.prov.{check_token('provider', name)}.{ANY}"


def any_hub_service() -> str:
    return f"{_L}.hub.{ANY}"


def any_inbox() -> str:
    return "_INBOX.>"


def inbox_of(host: str) -> str:
    return f"{inbox_prefix(host)}.>"


# -- JetStream and the server's system account ------------------------------------------------------------


def js_api(op: str, domain: str | None = None) -> str:
    """A JetStream API subject (``STREAM.INFO.OBJ_x``...): ``$JS.API`` on the hub itself, ``$JS.<domain>.API``
    as seen from across a leaf link."""
    return f"$JS.{domain}.API.{op}" if domain else f"$JS.API.{op}"


def js_stream_reads(stream: str, domain: str | None = None) -> tuple[str, ...]:
    """Read one stream without creating anything: its info and single messages (no consumers: a consumer's
    deliver subject could be aimed at another host's control subject)."""
    return js_api(f"STREAM.INFO.{stream}", domain), js_api(f"STREAM.MSG.GET.{stream}", domain)


def js_flow_control() -> str:
    return "$JS.FC.>"


def object_store_tree(bucket: str) -> str:
    return f"$O.{bucket}.>"


def object_meta(bucket: str, encoded_name: str) -> str:
    """Where an object store keeps an object's description (``encoded_name``: base64url of the name)."""
    return f"$O.{bucket}.M.{encoded_name}"


def object_chunks(bucket: str, nuid: str) -> str:
    return f"$O.{bucket}.C.{nuid}"


def kv_tree(bucket: str) -> str:
    return f"$KV.{bucket}.>"


def kv_prefix(bucket: str) -> str:
    return f"$KV.{bucket}."


def sys_client_events() -> tuple[str, str]:
    """The system account's connect and disconnect events, of every account (leaf links included)."""
    return "$SYS.ACCOUNT.*.CONNECT", "$SYS.ACCOUNT.*.DISCONNECT"


def sys_server_request(server_id: str, op: str) -> str:
    """A request to one server through its system account (``KICK``, ``LEAFZ``)."""
    return f"$SYS.REQ.SERVER.{check_token('server id', server_id)}.{check_token('operation', op)}"
