"""``pi-edge agent`` as a long-running process: settings resolved, systemd told the truth,
signals handled (TERM/INT stop gracefully, HUP re-reads the configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import signal
from collections.abc import Callable

from pi_edge.agent.display.plugins import ProviderPlugin
from pi_edge.agent.display.provider import DisplayProvider
from pi_edge.agent.errors import ConfigFileError, PiEdgeError, ProviderConfigError
from pi_edge.agent.host.agent import Agent
from pi_edge.agent.host.config import KEYS, resolve
from pi_edge.agent.host.options import options_from
from pi_edge.agent.host.sdnotify import Notifier
from pi_edge.agent.signals import start_unless_stopped, stop_on_signals, stop_when
from pi_edge.agent.tasks import TaskScope

log = logging.getLogger("pi_edge.daemon")

#: Each "still starting" message to systemd extends the start timeout by this much (sent every third of it).
START_EXTEND_S = 30


def _status(agent: Agent) -> str:
    host = agent.host
    if host is None:
        return "not running"
    count = sum(group.scale for group in host.actors.values())
    down = f"; {len(host.not_running)} actor(s) not running" if host.not_running else ""
    hub = ""
    if agent.options.hub and agent.server is not None:
        hub = "; hub connected" if agent.server.leaf_connected.is_set() else "; hub not connected"
    health = agent.provider.health()
    display = "display ok" if health.healthy else f"display UNHEALTHY: {health.reason}"
    return f"{count} actor instance(s) running{down}{hub}; {display}"


class AgentProcess:
    """One agent process: the agent plus everything the operating system talks to."""

    def __init__(self, flags: argparse.Namespace, out: Callable[[str], None]) -> None:
        self.flags = copy.copy(flags)  # as given on the command line: re-resolved on SIGHUP
        self.out = out
        self.args, self.origins = resolve(copy.copy(flags))
        self.options = options_from(self.args)
        self.notifier = Notifier()
        self.provider: DisplayProvider = self._provider()
        self.agent = Agent(self.options, self.provider)
        self._tasks = TaskScope("agent process")  # reloads, the watchdog, the start-up keep-alive
        #: Set once the agent serves: a SIGHUP before that waits, or it would start the actors a second time.
        self.started = asyncio.Event()
        self._reloading = asyncio.Lock()  # one reload at a time, however fast the SIGHUPs come
        self.stopping = asyncio.Event()  # replaced by the signal-driven one when run() starts

    def _provider(self) -> DisplayProvider:
        try:
            plugin: ProviderPlugin = self.args.plugin
            return plugin.create(self.args)
        except ProviderConfigError as exc:
            raise _placed(exc, self.origins, self.args.config_where) from None

    async def run(self) -> int:
        """0 after a stop signal; 1 if the leaf server died under the agent (systemd restarts it)."""
        stopping = self.stopping = stop_on_signals()
        lost = self.agent.server_exited
        relay = stop_when(lost, stopping)
        # Each SIGHUP's reload is a task of this process's scope: kept until it ends, cancelled at the stop.
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: self._tasks.spawn(self.reload(), "reload"))
        keeper: asyncio.Task[None] | None = None
        if self.notifier.enabled:
            self.agent.on_phase = self._starting
            keeper = self._tasks.spawn(self._keep_starting(), "keep-starting")
        started = False
        try:
            try:
                started, host = await start_unless_stopped(self.agent.start(), stopping)
            finally:
                self.agent.on_phase = None
                if keeper is not None:
                    keeper.cancel()
            if not started or host is None:
                return 1 if lost.is_set() else 0
            down = f"; not running: {', '.join(sorted(host.not_running))} (see the log)" if host.not_running else ""
            self.out(f"pi-edge agent {host.name}: lattice {self.options.lattice!r} via {self.agent.url}; "
                     f"actors: {', '.join(sorted(host.actors)) or 'none'}{down}")
            self.notifier.ready(_status(self.agent))
            self.started.set()
            if self.notifier.watchdog_interval:
                self._tasks.spawn(self._watchdog(self.notifier.watchdog_interval), "watchdog")
            await stopping.wait()
            if lost.is_set():
                self.notifier.stopping("stopping: the leaf nats-server exited")
                return 1
            self.notifier.stopping(f"stopping: in-flight messages get {self.args.grace_s:g} s")
            return 0
        finally:
            relay.cancel()
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await self._tasks.close()  # the watchdog, and a reload still running: the agent is stopping
            if lost.is_set():
                # No reply can leave without the server: waiting for in-flight messages would only delay the restart.
                log.info("agent: stopping because its leaf nats-server is gone; exit code 1 so that systemd "
                         "(Restart=on-failure) starts it again")
            grace = 0.0 if lost.is_set() else self.args.grace_s
            await self.agent.stop(grace=grace, blank_display=self.args.blank_display)
            self.provider.close()
            if started:
                self.out("pi-edge agent: stopped")

    def _starting(self, phase: str) -> None:
        """Until READY, at each new phase and every START_EXTEND_S / 3: the start is alive, and what it is doing.

        The unit's start timeout is short; each message buys START_EXTEND_S more,
        so a first start may build and compile for as long as it needs while a
        start whose event loop is stuck still fails in time.
        """
        self.notifier.send(f"EXTEND_TIMEOUT_USEC={START_EXTEND_S * 1_000_000}", f"STATUS=starting: {phase}")

    async def _keep_starting(self) -> None:
        while True:
            await asyncio.sleep(START_EXTEND_S / 3)  # a period, not synchronisation
            self._starting(self.agent.phase)

    async def _watchdog(self, every: float) -> None:
        """Pets systemd's watchdog from the event loop itself, so a wedged loop gets restarted."""
        last = ""
        while True:
            self.notifier.watchdog()
            status = _status(self.agent)
            if status != last:
                self.notifier.status(status)
                last = status
            await asyncio.sleep(every)  # a period, not synchronisation

    async def reload(self) -> None:
        """SIGHUP: apply what can change live; say which changes need a restart.

        One that comes while the agent is still starting (building, compiling) waits for the start to
        finish: applying it at once would start the configured actors a second time beside the first.
        """
        if not self.started.is_set():
            log.info("reload: the agent is still starting; the configuration is read again once it serves")
            await self.started.wait()
        async with self._reloading:
            if self.stopping.is_set():  # it would reconfigure a host on its way out, and say READY after STOPPING
                log.info("reload: ignored, the agent is stopping")
                return
            await self._reload()

    async def _reload(self) -> None:
        self.notifier.reloading()
        try:
            args, origins = resolve(copy.copy(self.flags))
            new = options_from(args)
            display_changed = _display_settings(args) != _display_settings(self.args)
            if display_changed and hasattr(self.args.plugin, "check"):
                # Not applied until a restart, but checked now: a reload must not accept what the restart refuses.
                try:
                    self.args.plugin.check(args)
                except ProviderConfigError as exc:
                    raise _placed(exc, origins, args.config_where) from None
        except PiEdgeError as exc:
            log.error("reload: keeping the running configuration: %s", exc)
            self.notifier.status(f"reload failed: {exc}; {_status(self.agent)}")
            self.notifier.send("READY=1")
            return
        await self.agent.reconfigure(new)
        # Read once at start (the leaf server, the runtime's cache, the provider): said, not silently ignored.
        for field in ("hub", "nats_url", "listen", "port", "name", "lattice", "state_dir", "cache_dir",
                      "hub_credentials", "hub_ca"):
            if getattr(new, field) != getattr(self.options, field):
                log.warning("reload: %s changed; restart the agent to apply it", field)
        if display_changed:
            log.warning("reload: display settings changed; restart the agent to apply them")
        self.options, self.args.grace_s, self.args.blank_display = new, args.grace_s, args.blank_display
        log.info("reload: configuration applied")
        self.notifier.send("READY=1", f"STATUS={_status(self.agent)}")


def _display_settings(args: argparse.Namespace) -> tuple[object, ...]:
    return tuple(getattr(args, key.dest) for key in KEYS if key.section == args.plugin.section)


def _placed(exc: ProviderConfigError, origins: list[str], where: Callable[[str, str], str]) -> PiEdgeError:
    """The provider's refusal, named where the refused settings were set (all display settings when it
    does not say which): a flag is a typo at the terminal (exit 2); a value from the environment or the
    file would be just as wrong after a restart (78). A flag given next to a file is not the file's."""
    given = {key.rsplit("=", 1)[0].removeprefix("display."): key.rsplit("=", 1)[1] for key in origins
             if key.startswith("display.")}
    involved = [name for name in (exc.keys or given) if given.get(name, "default") != "default"]
    if any(given[name] == "flag" for name in involved):
        return exc
    names = [f"PI_EDGE_{name.upper()}" for name in involved if given[name] == "env"]
    if names:
        return ConfigFileError(f"environment variable{'s' * (len(names) > 1)} {', '.join(names)}: {exc}")
    if involved:
        return ConfigFileError(f"{where('display', involved[0])}: [display] {exc}")
    return exc


def run_agent(flags: argparse.Namespace, out: Callable[[str], None]) -> int:
    """Run until a stop signal; ``out`` gets the lines meant for the person at the terminal."""
    return asyncio.run(AgentProcess(flags, out).run())
