"""Who may do what on the lattice: each role's subject permissions, as nats-server enforces them.

The hub's server holds one nkey user per role (see ``server_config``); these are
their permissions.  A Pi's are written as if the Pi were a client of the hub:
for a leaf connection the hub reads ``publish`` as what the leaf may send in and
``subscribe`` as what the hub forwards to it, and checks both on its side too,
so a tampered Pi is held to them as well as an honest one.

=========  ==========================================================================================
operator   request actors, publish control operations, write the component and link stores, read
           events and ask the hub; never subscribe to an actor's requests
host NAME  serve actors (any, its own, broadcasts), answer its own control subjects and pings, offer
           its own display, publish its own events and replies, call displays (links), read the two
           stores through their info and single-message subjects only
gateway    request actors, on any host or one named host (what its URLs name)
hub        the hub process: answer ``pe.*.hub.*``, publish host-unreachable / host-back, learn which
           lattice a host is in from its start and heartbeat events
Pi-local   (anonymous clients of a Pi's own leaf server) request actors, ping, read events
=========  ==========================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.events import HEARTBEAT, HOST_BACK, HOST_STARTED, HOST_UNREACHABLE
from pi_edge.agent.lattice.subjects import COMPONENT_BUCKET, JETSTREAM_DOMAIN, LINKS_BUCKET


@dataclass(frozen=True)
class Permissions:
    """Allow and deny lists for publishing and subscribing (an empty allow list allows nothing)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    publish_deny: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()

    def render(self) -> str:
        """The nats-server config value (JSON is a subset of its format)."""
        def side(allow: Iterable[str], deny: Iterable[str]) -> dict[str, list[str]]:
            rules = {"allow": list(allow)}
            if deny:
                rules["deny"] = list(deny)
            return rules

        return json.dumps({"publish": side(self.publish, self.publish_deny),
                           "subscribe": side(self.subscribe, self.subscribe_deny)})


def _stores(domain: str | None) -> tuple[str, ...]:
    """Read-only access to the component store and the links, without consumers."""
    return (*subjects.js_stream_reads(f"OBJ_{COMPONENT_BUCKET}", domain),
            *subjects.js_stream_reads(f"KV_{LINKS_BUCKET}", domain))


def _hub_events() -> tuple[str, ...]:
    """The events only the hub may publish, about any host."""
    return subjects.any_host_event(HOST_UNREACHABLE), subjects.any_host_event(HOST_BACK)


def operator() -> Permissions:
    return Permissions(
        publish=(*subjects.any_actor_request(), subjects.any_control(), subjects.any_hub_service(),
                 subjects.any_inbox(),  # a probe to its own inbox proves its subscriptions are live
                 # On the hub itself its own domain is $JS.API (checked after the hub maps it).
                 subjects.js_api(">"), subjects.js_flow_control(), subjects.object_store_tree(COMPONENT_BUCKET),
                 subjects.kv_tree(LINKS_BUCKET)),
        subscribe=(subjects.any_inbox(), subjects.any_event()),
        subscribe_deny=subjects.any_actor_request_tree(),
    )


def host(name: str) -> Permissions:
    """One enrolled Pi: everything named after it is its own, and nothing named after another host is."""
    return Permissions(
        publish=(subjects.events_by(name), subjects.any_inbox(), subjects.any_provider(),
                 *_stores(JETSTREAM_DOMAIN)),
        subscribe=(subjects.any_ping(), subjects.control_of(name), *subjects.actor_requests_for(name),
                   subjects.provider_ops(subjects.provider_instance(name)), subjects.inbox_of(name)),
        publish_deny=_hub_events(),
    )


def gateway() -> Permissions:
    """The HTTP gateway forwards to any actor a URL names (``/actors/NAME``, ``?host=``), and to nothing else."""
    return Permissions(publish=subjects.any_actor_request()[:2], subscribe=(subjects.any_inbox(),))


def hub() -> Permissions:
    return Permissions(
        publish=(*_hub_events(), subjects.any_inbox()),
        subscribe=(subjects.any_hub_service(), subjects.any_host_event(HOST_STARTED),
                   subjects.any_host_event(HEARTBEAT), subjects.any_inbox()),
    )


def pi_local(host: str) -> Permissions:
    """Anonymous clients of a Pi's own leaf server: the display works from the Pi itself, control does not,
    and nobody there can slip the agent a forged reply (its inbox is its own)."""
    return Permissions(publish=(*subjects.any_actor_request(), subjects.any_ping(), subjects.any_inbox()),
                       subscribe=(subjects.any_inbox(), subjects.any_event()),
                       publish_deny=(subjects.inbox_of(host),))

