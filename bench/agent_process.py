"""A benchmark agent: the real Agent with a panel on the fake SSD1306 bus.

It also answers, on the same leaf connection, ``bench-plain-echo`` with a plain
nats-py echo (the transport alone) and ``bench-plain-direct`` with oled-text's work
done in plain Python inside a nats-py responder on a panel of its own (the
same drawing with no sandbox and no agent around it): the two baselines the
actor path is compared against.  With ``--echo-actor`` it also runs an actor
that only echoes (the agent and sandbox with no drawing).  Prints READY once serving (with ``--scale N``
instances of the actor); stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

import common  # noqa: F401  (puts the repository on the path)
from plain_sign import show

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.host.supervision import SupervisionPolicy
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import subscriptions_live
from pi_edge.agent.wasm.limits import Limits
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus

#: The baselines' names: plain nats-py responders on the agent's connection, no actor behind them.
PLAIN_ECHO, PLAIN_DIRECT = "bench-plain-echo", "bench-plain-direct"


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hub", required=True)
    p.add_argument("--hub-credentials", type=Path, help="this host's NAME.creds (enrolled on the hub)")
    p.add_argument("--actor", type=Path, required=True)
    p.add_argument("--cache-dir", type=Path, required=True)
    p.add_argument("--name", default="bench-pi", help="host name in the lattice")
    p.add_argument("--scale", type=int, default=1, help="instances of the actor")
    p.add_argument("--echo-actor", type=Path, help="also run this component as actor 'echo'")
    p.add_argument("--misbehave-actor", type=Path, help="also run this component as actor 'misbehave' (soak)")
    p.add_argument("--deadline-ms", type=int, default=Limits().deadline_ms)
    p.add_argument("--memory-mb", type=int, default=Limits().memory_bytes // 2**20)
    p.add_argument("--max-traps", type=int, default=SupervisionPolicy().max_traps,
                   help="traps within a minute before an actor is marked failed")
    args = p.parse_args()
    actors = [ActorSpec("oled-text", args.actor)]
    if args.echo_actor is not None:
        actors.append(ActorSpec("echo", args.echo_actor))
    if args.misbehave_actor is not None:
        actors.append(ActorSpec("misbehave", args.misbehave_actor))
    provider = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())
    service = Agent(AgentOptions(name=args.name, hub=args.hub, hub_credentials=args.hub_credentials, port=0,
                                 cache_dir=args.cache_dir, allow_unsigned=True, state_dir=Path(tempfile.mkdtemp()),
                                 actors=actors,
                                 limits=Limits(deadline_ms=args.deadline_ms, memory_bytes=args.memory_mb * 2**20),
                                 supervision=SupervisionPolicy(max_traps=args.max_traps, first_backoff_s=0)),
                    provider)
    await service.start()
    assert service.nc is not None and service.host is not None
    if args.scale != 1:
        await service.host.scale_actor("oled-text", args.scale)

    async def echo(msg) -> None:  # type: ignore[no-untyped-def]
        await msg.respond(msg.data)

    direct_panel = OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus())

    async def direct(msg) -> None:  # type: ignore[no-untyped-def]
        await msg.respond(show(direct_panel, msg.data.decode()))

    # On actor-shaped subjects, which a host may serve and the laptop may ask: the same path as the actors'.
    await service.nc.subscribe(subjects.actor(subjects.DEFAULT_LATTICE, PLAIN_ECHO), cb=echo)
    await service.nc.subscribe(subjects.actor(subjects.DEFAULT_LATTICE, PLAIN_DIRECT), cb=direct)
    await subscriptions_live(service.nc)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await service.stop()
    direct_panel.close()


if __name__ == "__main__":
    asyncio.run(main())
