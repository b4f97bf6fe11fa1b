"""Fixtures that start real things and always stop them.

Actors are built once per session with the real componentize-py (cached by
source digest under ``.build/test-cache``, so a rerun reuses them), nats-server
processes pick their own free ports, and the only stand-in is the I2C bus.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.options import ActorSpec, AgentOptions
from pi_edge.agent.host.supervision import SupervisionPolicy
from pi_edge.agent.hub.hub import Hub, HubOptions
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.nats_server import NatsServer
from pi_edge.agent.lattice.server_config import ServerConfig, leaf_config
from pi_edge.agent.trust.credentials import Credentials
from pi_edge.agent.wasm.build import build_actor
from pi_edge.agent.wasm.instance import ComponentInstance
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.agent.wasm.wit import WORLD, wit_dir
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus

ROOT = Path(__file__).resolve().parent.parent
TEST_ACTORS = Path(__file__).resolve().parent / "actors"


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    path = Path(os.environ.get("PI_EDGE_TEST_CACHE", ROOT / ".build" / "test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def built(cache_dir: Path) -> dict[str, Path]:
    """The actors, built in parallel: oled_text (the real one), misbehave (fails on request) and crash (whose
    bugs are exceptions it does not catch)."""
    sources = {"oled-text": ROOT / "actors" / "oled_text", "misbehave": TEST_ACTORS / "misbehave",
               "crash": TEST_ACTORS / "crash"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(build_actor, src, cache_dir) for name, src in sources.items()}
        return {name: f.result().path for name, f in futures.items()}


@pytest.fixture(scope="session")
def wasi_actor(cache_dir: Path) -> Path:
    """oled_text built the way people forget: without --stub-wasi, so it imports WASI."""
    out = cache_dir / "oled-text-with-wasi.wasm"
    if not out.exists():
        subprocess.run(
            [sys.executable, "-c", "import sys, componentize_py; sys.exit(componentize_py.script())",
             "-q", "-d", str(wit_dir()), "-w", WORLD, "componentize", "app",
             "-p", str(ROOT / "actors" / "oled_text"), "-o", str(out)],
            check=True, cwd=cache_dir, env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
    return out


async def start_hub(state_dir: Path, **options: Any) -> Hub:
    """A hub as ``pi-edge hub`` runs one (auth on, JetStream, its watcher), on free loopback ports."""
    hub = Hub(HubOptions(**{"listen": "127.0.0.1", "port": 0, "leafnode_port": 0, "state_dir": state_dir,
                            "name": "test-hub", **options}))
    try:
        await hub.start()
    except BaseException:
        await hub.stop()
        raise
    return hub


@pytest.fixture
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    """A hub with auth and JetStream (the component store), on free loopback ports; ``hub.operator`` are the
    laptop's credentials, ``await hub.enroll(NAME)`` gives a Pi its own."""
    server = await start_hub(tmp_path_factory.mktemp("hub"))
    try:
        yield server
    finally:
        await server.stop()


def endpoint(target: str | Hub | RunningAgent) -> tuple[str, Credentials | None]:
    """Where a test's client connects and as whom: a hub as its operator, an agent's own server as anyone
    on that Pi (anonymous), a bare URL as anonymous."""
    if isinstance(target, str):
        return target, None
    if isinstance(target, Hub):
        return target.url, target.operator
    return target.url, None


@asynccontextmanager
async def stand_in_host(hub: Hub, name: str, state_dir: Path) -> AsyncIterator[Client]:
    """A client on a leaf server enrolled as host ``name`` and joined to ``hub``: it may serve actor subjects,
    as a real host does, without an agent (the operator may not)."""
    creds = Credentials.read(await credentials_for(hub, name))
    own = Credentials.generate("agent", name)
    config = leaf_config(name, 0, f"nats-leaf://127.0.0.1:{hub.leafnode_port}", agent_key=own.public_key,
                         anonymous_key=Credentials.generate("agent", "anyone").public_key, hub_seed=creds.seed)
    server = NatsServer(config, state_dir)
    await server.start_async()
    try:
        assert await asyncio.to_thread(server.leaf_connected.wait, 20), "the stand-in host did not join the hub"
        nc = await connect(server.url, name=f"stand-in-{name}", credentials=own)
        try:
            yield nc
        finally:
            await nc.close()
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
def existing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A NATS server of the user's own, with JetStream (domain hub) and no users: what ``--nats-url`` is for."""
    state = tmp_path_factory.mktemp("existing-server")
    server = NatsServer(ServerConfig("existing", port=0, jetstream_dir=str(state / "js")), state).start()
    try:
        yield server
    finally:
        server.stop()


async def credentials_for(hub: Hub, name: str) -> Path:
    """``name``'s credentials on ``hub``: enrolled now, or the file from when it was."""
    path = hub.state_dir / "hosts" / f"{name}.creds"
    return path if path.exists() else await hub.enroll(name)


@dataclass
class RunningAgent:
    service: Agent
    provider: OledProvider
    bus: FakeSSD1306Bus

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def credentials(self) -> Credentials | None:
        """The agent's own key on its own leaf server: what control on the Pi itself needs."""
        return self.service.credentials

    @property
    def creds_path(self) -> Path:
        """Where the agent keeps its own key: ``--creds`` for a command run on the Pi itself."""
        assert self.service.state_dir is not None
        return self.service.state_dir / "agent.creds"


@pytest.fixture
async def start_agent(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator:
    """Factory: an in-process agent with its own leaf server (or ``nats_url``'s) and a panel on a fake bus."""
    running: list[RunningAgent] = []

    async def start(actors: dict[str, Path], hub: Hub | None = None, name: str = "test-pi",
                    limits: Limits | None = None, bus: FakeSSD1306Bus | None = None,
                    state_dir: Path | None = None, labels: dict[str, str] | None = None,
                    hub_credentials: Path | None = None, hub_ca: Path | None = None,
                    trusted: list[str] | None = None, allow_unsigned: bool = True,
                    supervision: SupervisionPolicy | None = None, nats_url: str | None = None,
                    own_cache: Path | None = None, trusted_compiled: list[str] | None = None,
                    compile_memory_mb: int = 0, enrolled: bool = True, **display: object) -> RunningAgent:
        if hub is not None and hub_credentials is None and hub.options.auth and enrolled:
            hub_credentials = await credentials_for(hub, name)  # as a user would: enrolled, then given the file
        bus = bus or FakeSSD1306Bus(width=int(display.get("width", 128)), height=int(display.get("height", 64)))
        provider = OledProvider(DisplayConfig(display="ssd1306", **display), bus=bus)
        options = AgentOptions(
            name=name, port=0, cache_dir=own_cache or cache_dir, limits=limits or Limits(),
            hub=f"nats-leaf://127.0.0.1:{hub.leafnode_port}" if hub else None,
            actors=[ActorSpec(n, p) for n, p in actors.items()],
            state_dir=state_dir or tmp_path_factory.mktemp(f"state-{name}"), labels=labels or {},
            hub_credentials=hub_credentials, hub_ca=hub_ca, trusted=trusted or [], allow_unsigned=allow_unsigned,
            supervision=supervision or SupervisionPolicy(), nats_url=nats_url,
            trusted_compiled=trusted_compiled or [], compile_memory_mb=compile_memory_mb,
        )
        service = Agent(options, provider)
        agent = RunningAgent(service, provider, bus)
        running.append(agent)
        await service.start()
        return agent

    yield start
    for agent in running:
        await agent.service.stop()
        agent.provider.close()


@pytest.fixture
def runtime(cache_dir: Path) -> Iterator[Runtime]:
    rt = Runtime(cache_dir=cache_dir)
    yield rt
    rt.close()


@pytest.fixture
def make_instance(runtime: Runtime, built: dict[str, Path]) -> Iterator[Callable[..., ComponentInstance]]:
    """A built actor as an ComponentInstance on a panel of its own, the panel closed afterwards."""
    providers: list[OledProvider] = []

    def make(actor: str, limits: Limits | None = None) -> ComponentInstance:
        providers.append(OledProvider(DisplayConfig(display="ssd1306"), bus=FakeSSD1306Bus()))
        return ComponentInstance(runtime, runtime.load_file(actor, built[actor]), providers[-1], limits or Limits())

    yield make
    for provider in providers:
        provider.close()
