"""The agent as systemd runs it: configuration precedence and errors, the notify protocol,
a graceful SIGTERM with a message in flight, and SIGHUP reloading without a reconnect."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pi_edge.agent.errors import EX_CONFIG, ConfigFileError
from pi_edge.agent.host.config import resolve
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import ping, request
from pi_edge.agent.lattice.connection import connect
from tests.processes import CliProcess, alive, children, exited, run_cli


def flags(**given: object) -> argparse.Namespace:
    from pi_edge.agent.host.config import KEYS

    ns = argparse.Namespace(**{k.dest: None for k in KEYS})
    for key, value in given.items():
        setattr(ns, key, value)
    return ns


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text('[agent]\nname = "from-file"\nport = 5000\nheartbeat = 12\nlabels = { node = "pi-01" }\n'
                    '[display]\nrotate = 2\ni2c_address = "0x3D"\n')
    env = {"PI_EDGE_PORT": "6000", "PI_EDGE_HEARTBEAT": "7"}
    args, _ = resolve(flags(config=conf, heartbeat=3.0), env)
    assert args.name == "from-file"  # file only
    assert args.port == 6000  # environment beats the file
    assert args.heartbeat == 3.0  # the flag beats both
    assert args.rotate == 2 and args.i2c_address == 0x3D and args.label == {"node": "pi-01"}
    assert args.deadline_ms == 2000 and args.lattice == "default"  # defaults
    assert args.config_file == conf


@pytest.mark.parametrize(("text", "message"), [
    ('[agent\nname = "x"\n', "not valid TOML: .*line 1"),
    ('[agent]\nname = "x"\ncolour = "red"\n', r"agent.toml, line 3: unknown key 'colour' in \[agent\]; known keys:"),
    ('[agent]\nhost = "0.0.0.0"\n', r"agent.toml, line 2: unknown key 'host' in \[agent\] \('host' is now 'listen'\)"),
    ('[agent]\n\nport = "4222"\n', r"agent.toml, line 3: \[agent\] port must be a whole number, got '4222'"),
    ('[displai]\nwidth = 128\n', r"agent.toml, line 1: unknown section \[displai\]; the sections are:"),
    ('[agent]\nlabels = ["node=pi"]\n', r"line 2: \[agent\] labels must be a table of strings"),
    ('[display]\ni2c_address = "sixty"\n', r"line 2: \[display\] i2c_address must be an address"),
])
def test_each_bad_file_names_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text(text)
    with pytest.raises(ConfigFileError, match=message):
        resolve(flags(config=conf), {})


async def test_bad_config_stops_the_agent_with_exit_78(tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text("[agent]\nport = -\n")
    code, out, err = await run_cli("agent", "--config", str(conf), "--display", "emulator")
    assert code == EX_CONFIG and out == ""
    assert err.strip().splitlines() == [err.strip()] and str(conf) in err


async def test_bad_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="PI_EDGE_PORT='many' is not a valid int"):
        resolve(flags(), {"PI_EDGE_PORT": "many"})


@pytest.fixture
def agent_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``pi-edge agent ARGS`` through the real entry point, in this process, with only ``env`` set.

    Starting is stubbed: a value the checks miss returns 0 at once instead of running an agent.
    """
    from pi_edge.agent.cli.main import main
    from pi_edge.agent.host.config import KEYS
    from pi_edge.agent.host.process import AgentProcess

    async def started(self: AgentProcess) -> int:
        self.provider.close()
        return 0

    monkeypatch.setattr(AgentProcess, "run", started)

    def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        for name in ["PI_EDGE_CONFIG", *(key.env for key in KEYS)]:
            monkeypatch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        code = main(["agent", "--display", "emulator", *argv])
        return code, capsys.readouterr().err

    return run


MISSING = "/nonexistent/pi-edge/file"
NO_DIR = "/proc/nope"  # cannot be created, not even by root
NO_DIR_WHY = f"pi-edge can create and write to, got '{NO_DIR}' (No such file or directory)"
FILE_VALUES = [
    # (the file's text, the key as written, the line it is on, part of what the message says is allowed)
    ('[limits]\ndeadline_ms = -5\n', "[limits] deadline_ms", 2, "must be at least 10 milliseconds, got -5"),
    ('[limits]\n# small\nmemory_mb = 1\n', "[limits] memory_mb", 3, "must be at least 16 MiB, got 1"),
    ('[limits]\nmax_message_kb = 0\n', "[limits] max_message_kb", 2, "must be at least 1 KiB, got 0"),
    ('[agent]\ntrust = ["x"]\n', "[agent] trust", 2, "must list account public keys"),
    (f'[agent]\nhub_credentials = "{MISSING}"\n', "[agent] hub_credentials", 2, "must name a readable file"),
    (f'[agent]\nhub_ca = "{MISSING}"\n', "[agent] hub_ca", 2, "must name a readable file"),
    (f'[display]\nfonts = ["{MISSING}.ttf"]\n', "[display] fonts", 2, "must name a readable file"),
    ('[agent]\nname = "pi.01"\n', "[agent] name", 2, "must use letters, digits, '-' and '_' only"),
    ('[agent]\nlattice = "a.b"\n', "[agent] lattice", 2, "must use letters, digits, '-' and '_' only"),
    ('[agent]\nheartbeat = -1\n', "[agent] heartbeat", 2, "must be 0 (heartbeats off) or at least 1 second, got -1"),
    ('[agent]\nheartbeat = 0.001\n', "[agent] heartbeat", 2, "must be 0 (heartbeats off) or at least 1 second, got 0.001"),
    ('[agent]\nheartbeat = inf\n', "[agent] heartbeat", 2, "must be 0 (heartbeats off) or at least 1 second, got inf"),
    ('[shutdown]\ngrace_s = -1\n', "[shutdown] grace_s", 2, "must be at least 0 seconds"),
    ('[agent]\nlabels = { "a b" = "x" }\n', "[agent] labels", 2, "must be KEY=VALUE"),
    ('[agent]\nactors = { "a.b" = "builtin" }\n', "[agent] actors", 2, "must have names of letters"),
    (f'[agent]\nactors = {{ x = "{MISSING}.wasm" }}\n', "[agent] actors", 2, "does not exist"),
    ('[agent]\nport = 70000\n', "[agent] port", 2, "must be a port number 0..65535"),
    ('[agent]\nlisten = ""\n', "[agent] listen", 2, "must be an address to listen on"),
    ('[agent]\nhub = "laptop.local:7422"\n', "[agent] hub", 2, "must be the hub's leafnode URL, like nats-leaf:"),
    ('[agent]\nnats_url = "garbage"\n', "[agent] nats_url", 2,
     "must be a NATS server's client URL with scheme nats, tls, ws or wss and a host, like nats://127.0.0.1:4222"),
    ('[agent]\nnats_url = "http://pi:secret@laptop:4222"\n', "[agent] nats_url", 2, "got 'http://***@laptop:4222'"),
    ('[agent]\nlisten = "not an ip"\n', "[agent] listen", 2, "must be an address to listen on"),
    (f'[agent]\nstate_dir = "{NO_DIR}"\n', "[agent] state_dir", 2, f"must name a directory {NO_DIR_WHY}"),
    (f'[agent]\n\ncache_dir = "{NO_DIR}"\n', "[agent] cache_dir", 3, f"must name a directory {NO_DIR_WHY}"),
]


@pytest.mark.parametrize(("text", "key", "line", "allowed"), FILE_VALUES, ids=[v[1].split()[1] + str(i)
                                                                      for i, v in enumerate(FILE_VALUES)])
def test_each_impossible_value_in_the_file_exits_78_naming_file_line_and_key(
        agent_cli, tmp_path: Path, text: str, key: str, line: int, allowed: str) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text(text)
    code, err = agent_cli("--config", str(conf))
    assert code == EX_CONFIG, err
    assert err.startswith(f"pi-edge: error: {conf}, line {line}: {key} "), err
    assert allowed in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_memory_is_reported_as_the_user_wrote_it(agent_cli, tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text("[limits]\nmemory_mb = 1\n")
    code, err = agent_cli("--config", str(conf))
    assert code == EX_CONFIG and "memory_bytes" not in err and "1048576" not in err, err


@pytest.mark.parametrize(("contents", "says"), [
    ("not credentials\n", "does not hold pi-edge credentials"),
    ("pi-edge:c2VjcmV0\n", "is a leaf password from an older pi-edge hub; the hub now gives each Pi its own key"),
])
def test_unreadable_leaf_credentials_contents_exit_78(agent_cli, tmp_path: Path, contents: str, says: str) -> None:
    creds = tmp_path / "leaf.creds"
    creds.write_text(contents)
    conf = tmp_path / "agent.toml"
    conf.write_text(f'[agent]\nhub_credentials = "{creds}"\n')
    code, err = agent_cli("--config", str(conf))
    assert code == EX_CONFIG, err
    assert "line 2: [agent] hub_credentials must name the NAME.creds file 'pi-edge hub enroll NAME' wrote" in err, err
    assert says in err, err


def test_a_name_in_the_file_that_is_not_the_credentials_exits_78(agent_cli, tmp_path: Path) -> None:
    from pi_edge.agent.trust.credentials import Credentials

    creds = tmp_path / "pi-01.creds"
    Credentials.generate("host", "pi-01").write(creds)
    conf = tmp_path / "agent.toml"
    conf.write_text(f'[agent]\nname = "pi-02"\nhub_credentials = "{creds}"\n')
    code, err = agent_cli("--config", str(conf))
    assert code == EX_CONFIG, err
    assert f"line 2: [agent] name 'pi-02' does not match its credentials: {creds} is the key of host 'pi-01'" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--heartbeat", "-1"], "--heartbeat must be 0 (heartbeats off) or at least 1 second, got -1"),
    (["--heartbeat", "0.5"], "--heartbeat must be 0 (heartbeats off) or at least 1 second, got 0.5"),
    (["--grace", "-1"], "--grace must be at least 0 seconds, got -1"),
    (["--label", "nolabel"], "--label must be KEY=VALUE"),
    (["--label", "room=hall", "--label", "bogus"], "got 'bogus'"),
    (["--label", "name=spoof"], "--label must not set arch, os, display, name: the agent sets those itself"),
    (["--memory-mb", "1"], "--memory-mb must be at least 16 MiB, got 1"),
    (["--deadline-ms", "-5"], "--deadline-ms must be at least 10 milliseconds"),
    (["--trust", "x"], "--trust must list account public keys"),
    (["--hub", "laptop:7422"], "--hub must be the hub's leafnode URL, like nats-leaf://laptop.local:7422"),
    (["--hub", "nats-leaf://pi:secret@:7422"], "got 'nats-leaf://***@:7422'"),
    (["--nats-url", "garbage"], "--nats-url must be a NATS server's client URL with scheme nats, tls, ws or wss"),
    (["--nats-url", "nats://pi:secret@:4222"], "got 'nats://***@:4222'"),
    (["--nats-url", "nats://laptop:port"], "got 'nats://laptop:port'"),
    (["--name", "pi.01"], "--name must use letters, digits, '-' and '_' only"),
    (["--lattice", "a.b"], "--lattice must use letters, digits, '-' and '_' only"),
    (["--hub-credentials", MISSING], "--hub-credentials must name a readable file"),
    (["--hub-ca", MISSING], "--hub-ca must name a readable file"),
    (["--state-dir", NO_DIR], f"--state-dir must name a directory {NO_DIR_WHY}"),
    (["--cache-dir", NO_DIR], f"--cache-dir must name a directory {NO_DIR_WHY}"),
])
def test_the_same_values_as_flags_exit_2_naming_the_flag(agent_cli, argv: list[str], message: str) -> None:
    code, err = agent_cli(*argv)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PI_EDGE_MEMORY_MB", "1", "must be at least 16 MiB, got 1"),
    ("PI_EDGE_DEADLINE_MS", "-5", "must be at least 10 milliseconds"),
    ("PI_EDGE_HEARTBEAT", "-1", "must be 0 (heartbeats off) or at least 1 second, got -1"),
    ("PI_EDGE_HEARTBEAT", "0.001", "must be 0 (heartbeats off) or at least 1 second, got 0.001"),
    ("PI_EDGE_GRACE_S", "-1", "must be at least 0 seconds"),
    ("PI_EDGE_NAME", "pi.01", "must use letters, digits, '-' and '_' only"),
    ("PI_EDGE_LATTICE", "a.b", "must use letters, digits, '-' and '_' only"),
    ("PI_EDGE_TRUST", "x", "must list account public keys"),
    ("PI_EDGE_HUB", "laptop.local", "must be the hub's leafnode URL"),
    ("PI_EDGE_NATS_URL", "localhost:4222", "must be a NATS server's client URL"),
    ("PI_EDGE_LABELS", "a b=c", "must be KEY=VALUE"),
    ("PI_EDGE_HUB_CREDENTIALS", MISSING, "must name a readable file"),
    ("PI_EDGE_CACHE_DIR", NO_DIR, f"must name a directory {NO_DIR_WHY}"),
])
def test_the_same_values_from_the_environment_name_the_variable(agent_cli, name: str, value: str,
                                                                 message: str) -> None:
    code, err = agent_cli(env={name: value})
    assert code == EX_CONFIG, err
    assert f"environment variable {name} {message}" in err and err.count("\n") == 1, err


def test_good_values_pass_the_checks(tmp_path: Path) -> None:
    from pi_edge.agent.trust import claims
    from pi_edge.agent.trust.credentials import Credentials

    account = claims.generate_key("account").public_key.decode()
    creds = tmp_path / "pi_01-a.creds"
    Credentials.generate("host", "pi_01-a").write(creds)
    conf = tmp_path / "agent.toml"
    conf.write_text(f'[agent]\nname = "pi_01-a"\ntrust = ["{account}"]\nhub_credentials = "{creds}"\n'
                    'heartbeat = 0\nlabels = { "node.kind/x" = "a b" }\n[limits]\nmemory_mb = 16\n')
    args, _ = resolve(flags(config=conf, grace_s=0.0, label=["room=hall"]), {})
    assert (args.name, args.trust, args.hub_credentials, args.heartbeat) == ("pi_01-a", [account], creds, 0.0)
    assert args.label == {"room": "hall"} and args.memory_mb == 16 and args.grace_s == 0.0


@pytest.mark.parametrize("url", ["nats://127.0.0.1:9", "tls://pi:secret@laptop.local:4222", "ws://[::1]:8080",
                                 "wss://nowhere.invalid"])
def test_a_well_formed_nats_url_passes_the_checks_even_if_nothing_answers_there(agent_cli, url: str) -> None:
    """Whether the server answers is the start's business (exit 1, restarted): it may come up later."""
    assert agent_cli("--nats-url", url) == (0, "")
    assert agent_cli(env={"PI_EDGE_NATS_URL": url}) == (0, "")


@pytest.mark.parametrize("kind", ["host", "typo"])
def test_trust_refuses_keys_that_are_not_account_keys(kind: str) -> None:
    from pi_edge.agent.trust import claims

    key = claims.generate_key("host" if kind == "host" else "account").public_key.decode()
    if kind == "typo":  # one character changed: the checksum catches it
        key = key[:30] + ("B" if key[30] != "B" else "C") + key[31:]
    with pytest.raises(ConfigFileError, match="PI_EDGE_TRUST must list account public keys"):
        resolve(flags(), {"PI_EDGE_TRUST": key})


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    try:
        yield sock, path
    finally:
        sock.close()


async def next_datagram(sock: socket.socket, timeout: float = 30) -> list[str]:
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 4096), timeout)
    return data.decode().splitlines()


async def test_systemd_hears_ready_status_watchdog_stopping_in_order(notify_socket, built, tmp_path) -> None:
    sock, path = notify_socket
    # WatchdogSec=0.4: a WATCHDOG=1 every 0.2 s
    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--allow-unsigned",
                                   "--actor", f"oled-text={built['oled-text']}",
                                   "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["oled-text"].parent.parent),
                                   env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
    try:
        seen: list[str] = []
        while "WATCHDOG=1" not in seen:
            seen += await next_datagram(sock)
        ready = seen.index("READY=1")
        # Before READY: the start timeout extended at each step, with what the step is.
        starting = [line for line in seen[:ready] if line.startswith("STATUS=")]
        assert seen[0] == "EXTEND_TIMEOUT_USEC=30000000", seen
        assert seen[:ready].count("EXTEND_TIMEOUT_USEC=30000000") == len(starting), seen
        phases = [line.removeprefix("STATUS=starting: ") for line in starting]
        assert phases[:2] == ["reading the state directory", "starting the leaf nats-server"], phases
        assert "loading actor oled-text (compiled once, then cached)" in phases, phases
        assert any(s.startswith("STATUS=1 actor instance(s) running") for s in seen[ready:])
        assert ready < seen.index("WATCHDOG=1")
        agent.proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in seen:
            seen += await next_datagram(sock)
        assert await agent.wait(30) == 0
    finally:
        await agent.kill()


async def answered_across(agent: CliProcess, url: str, stop: Callable[[], None]) -> None:
    """A slow message is running on the misbehave actor when ``stop`` signals the agent: its reply must come."""
    nc = await connect(url, name="test")
    try:
        reply = asyncio.ensure_future(
            request(nc, subjects.actor("default", "misbehave"), b"spin:3000000", None, 30, what="misbehave"))
        await agent.wait_line(r"actor=misbehave context=misbehave spinning", stream="stderr")
        stop()
        try:
            answer = await reply
        except Exception as exc:
            raise AssertionError(f"the in-flight message was not answered: {exc}\n{agent.transcript()}") from None
        assert answer.body == b"ok:spun"
    finally:
        await nc.close()


async def test_sigterm_lets_the_message_in_flight_finish(built, tmp_path) -> None:
    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--allow-unsigned",
                                   "--actor", f"misbehave={built['misbehave']}", "--deadline-ms", "20000",
                                   "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["misbehave"].parent.parent))
    try:
        url = (await agent.wait_line(r"via (nats://\S+);"))[1]
        servers = children(agent.proc.pid)
        await answered_across(agent, url, lambda: agent.proc.send_signal(signal.SIGTERM))
        assert await agent.wait(30) == 0, agent.transcript()
        await agent.wait_line(r"letting 1 in-flight message\(s\) finish", stream="stderr")
        assert servers and not [pid for pid in servers if alive(pid)], "a nats-server outlived the agent"
    finally:
        await agent.kill()


def clean_exit_problems(agent: CliProcess) -> list[str]:
    """What a stop must never print: tracebacks, or asyncio's "Task was destroyed but it is pending!"."""
    return [line for line in agent.lines["stderr"] if "Traceback" in line or "Task was destroyed" in line]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_to_the_whole_process_group_still_stops_gracefully(built, tmp_path, sig) -> None:
    """Ctrl-C at a terminal, and systemd without KillMode=mixed, signal every process of the agent's
    group: the leaf server must still carry the in-flight message's reply, then go when the agent is done."""
    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--allow-unsigned",
                                   "--actor", f"misbehave={built['misbehave']}", "--deadline-ms", "20000",
                                   "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["misbehave"].parent.parent), new_session=True)
    try:
        url = (await agent.wait_line(r"via (nats://\S+);"))[1]
        servers = children(agent.proc.pid)
        assert os.getpgid(agent.proc.pid) == agent.proc.pid  # killpg below reaches the agent's group only
        await answered_across(agent, url, lambda: os.killpg(agent.proc.pid, sig))
        assert await agent.wait(30) == 0, agent.transcript()
        assert clean_exit_problems(agent) == [], agent.transcript()
        assert servers and all([await exited(pid, 10) for pid in servers]), "a nats-server outlived the agent"
    finally:
        await agent.kill()


async def test_stop_is_prompt_when_the_leaf_server_dies_while_the_agent_drains(built, tmp_path) -> None:
    """The server goes away after the agent's drain asked it for a PONG: that PONG never comes, and
    the stop must not wait out nats-py's 10 s flush timeout for it (nor leave tasks pending)."""
    agent = await CliProcess.start("-v", "agent", "--port", "0", "--display", "emulator", "--allow-unsigned",
                                   "--actor", f"oled-text={built['oled-text']}",
                                   "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["oled-text"].parent.parent))
    server = 0
    try:
        await agent.wait_line(r"via (nats://\S+);")
        [server] = children(agent.proc.pid)
        os.kill(server, signal.SIGSTOP)  # alive but deaf: the drain's PING waits in its socket
        agent.proc.send_signal(signal.SIGTERM)
        await agent.wait_line(r"actor=oled-text stops taking messages", stream="stderr")
        os.kill(server, signal.SIGKILL)
        assert await agent.wait(30) == 0, agent.transcript()
        # The drain's wait ends because the connection dropped, not because its 10 s ran out.
        log = "\n".join(agent.lines["stderr"])
        assert "draining a subscription failed: nats: connection closed" in log, agent.transcript()
        assert "flush timeout" not in log, agent.transcript()
        assert clean_exit_problems(agent) == [], agent.transcript()
    finally:
        if server and alive(server):
            os.kill(server, signal.SIGKILL)
        await agent.kill()


async def test_the_leaf_server_exits_when_the_agent_is_killed(built, tmp_path) -> None:
    """SIGKILL gives the agent no chance to stop its server: the server must notice by itself."""
    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--allow-unsigned",
                                   "--actor", f"oled-text={built['oled-text']}",
                                   "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["oled-text"].parent.parent))
    servers: list[int] = []
    try:
        await agent.wait_line(r"via (nats://\S+);")
        servers = children(agent.proc.pid)
        assert servers
        agent.proc.kill()
        assert await agent.wait(30) == -signal.SIGKILL
        assert all([await exited(pid, 10) for pid in servers]), "the leaf server outlived its SIGKILLed agent"
    finally:
        for pid in servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        await agent.kill()


async def test_a_sighup_while_stopping_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It would reconfigure a host on its way out and tell systemd READY after STOPPING."""
    from pi_edge.agent.cli.main import build_parser
    from pi_edge.agent.host.process import AgentProcess

    flags = build_parser().parse_args(["agent", "--display", "emulator", "--port", "0",
                                       "--state-dir", str(tmp_path / "state")])
    agent = AgentProcess(flags, lambda line: None)
    try:
        reloaded = []

        async def reload_now() -> None:
            reloaded.append(True)

        agent._reload = reload_now  # type: ignore[method-assign]
        agent.started.set()
        await agent.reload()
        assert reloaded == [True]
        agent.stopping.set()
        with caplog.at_level("INFO", logger="pi_edge.daemon"):
            await agent.reload()
        assert reloaded == [True] and "reload: ignored, the agent is stopping" in caplog.text
    finally:
        agent.provider.close()


async def test_sighup_reloads_labels_without_reconnecting(built, tmp_path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text('[agent]\nlabels = { room = "hall" }\n')
    agent = await CliProcess.start("agent", "--config", str(conf), "--port", "0", "--display", "emulator",
                                   "--allow-unsigned", "--actor", f"oled-text={built['oled-text']}",
                                   "--name", "pi-hup", "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["oled-text"].parent.parent))
    try:
        url = (await agent.wait_line(r"via (nats://\S+);"))[1]
        nc = await connect(url, name="test")
        try:
            [host] = await ping(nc, "default", window=0.5)
            assert host["labels"]["room"] == "hall"
            conf.write_text('[agent]\nlabels = { room = "kitchen" }\n')
            agent.proc.send_signal(signal.SIGHUP)
            await agent.wait_line(r"reload: configuration applied", stream="stderr")
            [again] = await ping(nc, "default", window=0.5)
            assert again["labels"]["room"] == "kitchen" and again["id"] == host["id"]
            assert float(again["uptime_s"]) >= float(host["uptime_s"]), "the agent restarted instead of reloading"
            conf.write_text('[agent]\nlabels = "broken"\n')
            agent.proc.send_signal(signal.SIGHUP)
            await agent.wait_line(r"reload: keeping the running configuration: .*labels must be a table",
                                  stream="stderr")
            reply = await request(nc, subjects.actor("default", "oled-text"), b"still fine", None, 10, what="x")
            assert reply.body.startswith(b"shown:")
        finally:
            await nc.close()
        assert await agent.stop() == 0
    finally:
        await agent.kill()


async def test_sighup_names_every_change_that_needs_a_restart(built, tmp_path) -> None:
    """Fonts, the cache directory and the hub's CA are read once at start: a reload must say so."""
    from tests.fonts import block_font

    conf = tmp_path / "agent.toml"
    conf.write_text(f'[agent]\ncache_dir = "{built["oled-text"].parent.parent}"\n')
    agent = await CliProcess.start("agent", "--config", str(conf), "--port", "0", "--display", "emulator",
                                   "--allow-unsigned", "--actor", f"oled-text={built['oled-text']}",
                                   "--name", "pi-hup2", "--state-dir", str(tmp_path / "state"))
    try:
        await agent.wait_line(r"via (nats://\S+);")
        font = block_font(tmp_path / "font.ttf", {"\u00fc": (50, 0, 550, 700)})
        ca = tmp_path / "ca.pem"
        ca.write_text("-----BEGIN CERTIFICATE-----\n")
        conf.write_text(f'[agent]\ncache_dir = "{tmp_path / "other-cache"}"\nhub_ca = "{ca}"\n'
                        f'[display]\nfonts = ["{font}"]\n')
        agent.proc.send_signal(signal.SIGHUP)
        await agent.wait_line(r"reload: configuration applied", stream="stderr")
        log = "\n".join(agent.lines["stderr"])
        assert "reload: cache_dir changed; restart the agent to apply it" in log, agent.transcript()
        assert "reload: hub_ca changed; restart the agent to apply it" in log, agent.transcript()
        assert "reload: display settings changed; restart the agent to apply them" in log, agent.transcript()
        assert await agent.stop() == 0
    finally:
        await agent.kill()


async def test_sighup_refuses_a_display_setting_the_restart_would_refuse(built, tmp_path) -> None:
    """Display settings apply at the next start, but are checked at the reload: accepting them would
    only turn the next restart into an exit 78."""
    conf = tmp_path / "agent.toml"
    conf.write_text('[display]\ndisplay = "emulator"\nwidth = 128\n')
    agent = await CliProcess.start("agent", "--config", str(conf), "--port", "0", "--allow-unsigned",
                                   "--actor", f"oled-text={built['oled-text']}", "--name", "pi-hup3",
                                   "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["oled-text"].parent.parent))
    try:
        await agent.wait_line(r"via (nats://\S+);")
        conf.write_text('[display]\ndisplay = "emulator"\n# wider than an emulated panel may be\nwidth = 4096\n')
        agent.proc.send_signal(signal.SIGHUP)
        await agent.wait_line(rf"reload: keeping the running configuration: {conf}, line 4: \[display\] "
                              r"an emulated panel of 4096x64 is not possible", stream="stderr")
        assert not any("configuration applied" in line for line in agent.lines["stderr"]), agent.transcript()
        conf.write_text('[display]\ndisplay = "emulator"\nwidth = 256\n')
        agent.proc.send_signal(signal.SIGHUP)
        await agent.wait_line(r"reload: configuration applied", stream="stderr")
        assert any("display settings changed; restart" in line for line in agent.lines["stderr"]), agent.transcript()
        assert await agent.stop() == 0
    finally:
        await agent.kill()


async def test_sighup_while_starting_waits_for_the_start(tmp_path) -> None:
    """A reload during the first build must not build and start the configured actor a second time."""
    from tests.processes import ROOT

    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--name", "pi-early",
                                   "--actor", f"oled-text={ROOT / 'actors' / 'oled_text'}",
                                   "--state-dir", str(tmp_path / "state"), "--cache-dir", str(tmp_path / "cache"))
    try:
        await agent.wait_line(r"build: compiling", stream="stderr")
        agent.proc.send_signal(signal.SIGHUP)
        await agent.wait_line(r"via (nats://\S+);", timeout=120)
        await agent.wait_line(r"reload: configuration applied", stream="stderr")
        log = agent.lines["stderr"]
        assert sum("build: compiling" in line for line in log) == 1, agent.transcript()
        assert sum("actor=oled-text started" in line for line in log) == 1, agent.transcript()
        assert await agent.stop() == 0
    finally:
        await agent.kill()


async def test_stopping_during_the_first_build_stops_the_build(tmp_path) -> None:
    """componentize-py takes minutes on a Pi, longer than systemd waits for a stop: it is killed, not
    waited for, and leaves neither a cache entry nor its work directory behind."""
    from tests.processes import ROOT

    scratch, cache = tmp_path / "tmp", tmp_path / "cache"
    scratch.mkdir()
    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--name", "pi-stop-build",
                                   "--actor", f"oled-text={ROOT / 'actors' / 'oled_text'}",
                                   "--state-dir", str(tmp_path / "state"), "--cache-dir", str(cache),
                                   env={"TMPDIR": str(scratch)})
    try:
        await agent.wait_line(r"build: compiling", stream="stderr")
        assert await agent.stop() == 0, agent.transcript()
        assert any("stopped before it finished" in line for line in agent.lines["stderr"]), agent.transcript()
        assert not list((cache / "actors").glob("*.wasm")), "the build ran to the end"
        assert not [p for p in scratch.iterdir() if p.name.startswith("pi-edge-build-")], list(scratch.iterdir())
    finally:
        await agent.kill()


def test_a_font_file_that_is_no_font_is_named_with_where_it_was_set(agent_cli, tmp_path: Path) -> None:
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_text("hello\n")
    conf = tmp_path / "agent.toml"
    conf.write_text(f'[display]\ndisplay = "emulator"\nfonts = ["{not_a_font}"]\n')
    refusal = f"font {not_a_font} cannot be read as a TrueType or OpenType font"
    code, err = agent_cli("--config", str(conf))
    assert code == EX_CONFIG and f"{conf}, line 3: [display] {refusal}" in err, err
    code, err = agent_cli("--display", "emulator", env={"PI_EDGE_FONTS": str(not_a_font)})
    assert code == EX_CONFIG and f"environment variable PI_EDGE_FONTS: {refusal}" in err, err
    code, err = agent_cli("--display", "emulator", "--font", str(not_a_font))
    assert code == 2 and refusal in err and err.count("\n") == 1, err


async def test_an_empty_listen_address_is_refused_naming_the_flag_not_a_traceback(tmp_path: Path) -> None:
    code, _, err = await run_cli("agent", "--listen", "", "--port", "0", "--display", "emulator",
                                 "--state-dir", str(tmp_path / "state"))
    assert code == 2 and "--listen must be an address to listen on" in err, err
    assert "Traceback" not in err and err.count("\n") == 1, err


async def test_a_display_refusal_names_the_key_and_where_it_was_set(tmp_path: Path) -> None:
    """The line of the refused key, not of [display]; a flag or variable next to a file is not the file's fault."""
    conf = tmp_path / "agent.toml"
    conf.write_text('[agent]\nname = "x"\n\n[display]\ndisplay = "emulator"\nwidth = 128\nrotate = 7\n')
    code, _, err = await run_cli("agent", "--config", str(conf), "--port", "0")
    assert code == EX_CONFIG and f"{conf}, line 7: [display] rotate must be 0, 1, 2 or 3" in err, err
    conf.write_text('[display]\ndisplay = "emulator"\n')
    too_high = "an emulated panel of 128x60 is not possible"
    code, _, err = await run_cli("agent", "--config", str(conf), "--port", "0", "--height", "60")
    assert code == 2 and too_high in err and str(conf) not in err, err
    code, err = await _run_cli_env({"PI_EDGE_HEIGHT": "60"}, "agent", "--config", str(conf), "--port", "0")
    assert code == EX_CONFIG and f"environment variable PI_EDGE_HEIGHT: {too_high}" in err, err


async def _run_cli_env(env: dict[str, str], *args: str) -> tuple[int, str]:
    """``run_cli`` with extra environment variables: (exit code, stderr)."""
    from tests.processes import CLI, ENV

    proc = await asyncio.create_subprocess_exec(*CLI, *args, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE, env={**ENV, **env})
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, err.decode()


def test_fonts_empty_in_the_file_means_the_built_in_font_only(tmp_path: Path, caplog) -> None:  # type: ignore
    from pi_edge.providers.oled import OledProvider
    from pi_edge.providers.oled.config import config_from_args
    from pi_edge.providers.oled.fonts import BUILT_IN, system_chain

    conf = tmp_path / "agent.toml"
    conf.write_text('[display]\ndisplay = "emulator"\nfonts = []\n')
    args, _ = resolve(flags(config=conf), {})
    assert args.font == [] and config_from_args(args).fonts == ()
    with caplog.at_level("INFO", logger="pi_edge.providers.oled.provider"):
        provider = OledProvider(config_from_args(args))
    try:
        assert provider.fonts is BUILT_IN and "fonts for characters beyond ASCII: none, as configured" in caplog.text
    finally:
        provider.close()
    conf.write_text('[display]\ndisplay = "emulator"\n')
    args, _ = resolve(flags(config=conf), {})
    assert args.font is None and config_from_args(args).fonts is None  # not set: the host's fonts
    provider = OledProvider(config_from_args(args))
    try:
        assert provider.fonts is system_chain()
    finally:
        provider.close()


def test_a_bad_font_flag_is_blamed_on_the_flag_not_on_other_display_settings(agent_cli, tmp_path: Path) -> None:
    """Other [display] values from the file or the environment are fine; only --font is wrong."""
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_text("hello\n")
    conf = tmp_path / "agent.toml"
    conf.write_text('[display]\nwidth = 128\n')
    refusal = f"font {not_a_font} cannot be read as a TrueType or OpenType font"
    code, err = agent_cli("--config", str(conf), "--font", str(not_a_font))
    assert code == 2 and refusal in err and str(conf) not in err, err
    code, err = agent_cli("--font", str(not_a_font), env={"PI_EDGE_ROTATE": "0"})
    assert code == 2 and refusal in err and "PI_EDGE_ROTATE" not in err, err


async def test_impossible_display_from_the_file_is_a_config_error_too(tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text('[display]\ndisplay = "sh1107"\nwidth = 128\nheight = 64\n')
    code, _, err = await run_cli("agent", "--config", str(conf), "--port", "0")
    assert code == EX_CONFIG, err
    assert f"{conf}, line 2: [display] sh1107 does not drive a 128x64 panel; its sizes are 64x128, 80x128, 128x128" in err
    code, _, err = await run_cli("agent", "--display", "sh1107", "--width", "128", "--height", "64", "--port", "0")
    assert code == 2 and "sh1107 does not drive a 128x64 panel" in err  # a typo on the command line: not 78
