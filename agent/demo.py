"""``pi-edge demo``: the whole path on one machine, as a person would run it.

Hub and agent get free loopback ports, the display is emulated, and the text
travels laptop client -> hub -> leaf -> agent -> Wasm actor -> provider.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pi_edge.actors import DEFAULT_ACTOR, builtin_actor, builtin_actor_dir, prebuilt_actor
from pi_edge.agent.cli.arguments import typed
from pi_edge.agent.display.plugins import ProviderPlugin
from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.hub.hub import Hub, HubOptions
from pi_edge.agent.lattice.client import LatticeClient
from pi_edge.agent.paths import default_state_dir
from pi_edge.agent.progress import NO_PROGRESS, Progress
from pi_edge.agent.wasm.build import build_actor_async


async def run_demo(text: str, png: Path, plugin: ProviderPlugin, cache_dir: Path | None,
                   say: Callable[[str], None], progress: Progress = NO_PROGRESS) -> int:
    if (prebuilt := prebuilt_actor()) is not None:
        say(f"pi-edge demo: the oled-text actor as this installation ships it ({prebuilt.name})")
    else:
        say("pi-edge demo: building the oled-text actor (cached after the first time)...")
        progress.step("building the oled-text actor (cached after the first time)")
        built = await build_actor_async(builtin_actor_dir(), cache_dir)
        say(f"  actor: {built.path.name} ({'from cache' if built.cached else f'built in {built.seconds:.1f} s'})")

    # A hub and a Pi of its own, with keys like any other (auth is on): under the state directory, not /tmp,
    # so that even a killed demo leaves no credentials where every user can look.
    parent = default_state_dir()
    parent.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="demo-", dir=parent))
    hub = Hub(HubOptions(listen="127.0.0.1", port=0, leafnode_port=0, state_dir=state / "hub"))
    provider = plugin.create(argparse.Namespace(**{**plugin_defaults(plugin), "display": "emulator"}))
    agent: Agent | None = None
    try:
        progress.step("starting the hub")
        await hub.start()
        creds = await hub.enroll("demo-pi")  # as 'pi-edge hub enroll demo-pi' does
        say(f"  hub on {hub.url}, leaf nodes on port {hub.leafnode_port}; demo-pi enrolled")
        agent = Agent(
            AgentOptions(hub=f"nats-leaf://127.0.0.1:{hub.leafnode_port}", hub_credentials=creds, port=0,
                         actors=[ActorSpec(DEFAULT_ACTOR, builtin_actor())], cache_dir=cache_dir,
                         state_dir=state / "pi"),
            provider,
        )
        say("  starting the agent (first start compiles the actor, about 10 s; then cached)...")
        agent.on_phase = lambda phase: progress.step(f"agent: {phase}")  # its first compile is the long one
        await agent.start()
        async with LatticeClient(hub.url, name="pi-edge-demo-laptop", credentials=hub.operator) as laptop:
            progress.step("waiting for the agent to join the hub")
            await laptop.wait_for_actor(DEFAULT_ACTOR, timeout=15)
            progress.step(f"sending {text!r}")
            say(f"  agent joined the hub; sending {text!r}")
            reply = await laptop.send(DEFAULT_ACTOR, typed(text))
        progress.step("drawing the panel")
        say(f"  reply: {reply.body.decode()} ({reply.seconds * 1000:.1f} ms round trip)")
        screen = provider.snapshot()
        say(screen.halfblocks())
        screen.write_png(png, scale=4)
        say(f"  panel saved as {png}")
    finally:
        if agent is not None:
            await agent.stop()
        provider.close()
        await hub.stop()
        shutil.rmtree(state, ignore_errors=True)
    return 0


def plugin_defaults(plugin: ProviderPlugin) -> dict[str, object]:
    """The plugin's flag defaults, as if the user gave no display flags."""
    parser = argparse.ArgumentParser(add_help=False)
    plugin.add_arguments(parser)
    return vars(parser.parse_args([]))
