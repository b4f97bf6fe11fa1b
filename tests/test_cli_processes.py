"""``pi-edge hub`` and ``pi-edge agent`` as a person runs them: separate processes,
announced addresses, and a clean stop on SIGTERM with no nats-server left behind.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from pi_edge.agent.trust.credentials import Credentials
from tests.processes import CliProcess, alive, children, exited, run_cli

AGENT_READY = r"pi-edge agent (\S+): lattice 'default' via (nats://\S+); actors: (.*)"


@pytest.fixture
async def processes():
    """Every CliProcess a test starts; whatever is still running at the end is killed."""
    started: list[CliProcess] = []

    async def start(*args: str) -> CliProcess:
        proc = await CliProcess.start(*args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        await proc.kill()


async def stop_cleanly(proc: CliProcess, prog: str) -> None:
    servers = children(proc.proc.pid)
    assert servers, f"{prog} runs no nats-server child"
    assert await proc.stop(signal.SIGTERM) == 0, proc.transcript()
    await proc.wait_line(rf"^{prog}: stopped$")
    assert not [pid for pid in servers if alive(pid)], f"{prog} left its nats-server running"


async def test_hub_and_agent_processes_serve_the_laptop_and_stop_on_sigterm(processes, built, cache_dir,
                                                                         tmp_path) -> None:
    hub = await processes("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port", "0",
                          "--state-dir", str(tmp_path / "hub"))
    m = await hub.wait_line(r"pi-edge hub: clients on 127\.0\.0\.1:(\d+), leaf nodes on 127\.0\.0\.1:(\d+)")
    hub_url, leaf_port = f"nats://127.0.0.1:{m[1]}", m[2]
    operator = (await hub.wait_line(r"operator credentials: (\S+) "))[1]
    assert operator == str(tmp_path / "hub" / "operator.creds")
    creds = tmp_path / "pi-under-test.creds"
    code, out, err = await run_cli("hub", "enroll", "pi-under-test", "--state-dir", str(tmp_path / "hub"),
                                   "-o", str(creds))
    assert code == 0 and "nats-leaf://" in out and f":{leaf_port} --hub-credentials {creds.name}" in out, out + err

    agent = await processes("agent", "--hub", f"nats-leaf://127.0.0.1:{leaf_port}", "--port", "0",
                            "--hub-credentials", str(creds), "--state-dir", str(tmp_path / "pi"),
                            "--display", "emulator",
                            "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned", "--cache-dir", str(cache_dir))
    ready = await agent.wait_line(AGENT_READY)
    assert ready[1] == "pi-under-test" and ready[3] == "oled-text"  # its name from its credentials
    await agent.wait_line(r"leafnode connection up", stream="stderr")

    code, out, err = await run_cli("display", "--nats-url", hub_url, "--creds", operator, "via the hub")
    assert code == 0 and out.startswith("shown: 11 chars"), err
    code, out, err = await run_cli("display", "--nats-url", ready[2], "on the Pi itself")
    assert code == 0 and out.startswith("shown: 16 chars"), err

    await stop_cleanly(agent, "pi-edge agent")
    code, _, err = await run_cli("display", "--nats-url", hub_url, "--creds", operator, "--timeout", "2", "gone")
    assert code != 0 and "no actor 'oled-text' is running" in err
    await stop_cleanly(hub, "pi-edge hub")


async def test_sigkill_leaves_no_secret_in_tmp(processes, built, cache_dir, tmp_path) -> None:
    """Each killed hub or agent left a /tmp/pi-edge-nats-* directory; the hub's held the leaf password."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    hub = await CliProcess.start("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port", "0",
                                 "--state-dir", str(tmp_path / "hub"), env=env)
    agent = None
    try:
        leaf_port = (await hub.wait_line(r"leaf nodes on 127\.0\.0\.1:(\d+)"))[1]
        code, _, err = await run_cli("hub", "enroll", "pi-k", "--state-dir", str(tmp_path / "hub"),
                                     "-o", str(tmp_path / "pi-k.creds"))
        assert code == 0, err
        agent = await CliProcess.start("agent", "--hub", f"nats-leaf://127.0.0.1:{leaf_port}", "--port", "0",
                                       "--hub-credentials", str(tmp_path / "pi-k.creds"),
                                       "--state-dir", str(tmp_path / "pi"), "--display", "emulator",
                                       "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned",
                                       "--cache-dir", str(cache_dir), env=env)
        await agent.wait_line(AGENT_READY)
        await agent.wait_line(r"leafnode connection up", stream="stderr")
        servers = children(agent.proc.pid) + children(hub.proc.pid)
        for proc in (agent, hub):
            proc.proc.kill()
            await proc.proc.wait()
        assert all([await exited(pid, 10) for pid in servers]), "a nats-server outlived its SIGKILLed parent"
        assert list(scratch.iterdir()) == [], "left in the temporary directory"
        seed = Credentials.read(tmp_path / "pi-k.creds").seed
        for config in (tmp_path / "hub" / "nats" / "nats-server.conf", tmp_path / "pi" / "nats" / "nats-server.conf"):
            assert config.stat().st_mode & 0o077 == 0, f"{config} is readable by others"
            assert config.parent.stat().st_mode & 0o077 == 0
        assert seed not in (tmp_path / "hub" / "nats" / "nats-server.conf").read_text(), "the hub holds only public keys"
    finally:
        for proc in (agent, hub):
            if proc is not None:
                await proc.kill()


async def exits_1_when_its_server_is_killed(proc: CliProcess, prog: str) -> None:
    """SIGKILL the command's own nats-server: it must say so in one ERROR line, stop by itself (no
    hang, no traceback) and exit 1, so that systemd's Restart=on-failure starts it again."""
    [server] = children(proc.proc.pid)
    os.kill(server, signal.SIGKILL)
    assert await proc.wait(30) == 1, proc.transcript()
    errors = [line for line in proc.lines["stderr"] if " ERROR " in line]
    assert len(errors) == 1, proc.transcript()
    assert "exited unexpectedly (killed by SIGKILL)" in errors[0], proc.transcript()
    assert not [line for line in proc.lines["stderr"] if "Traceback" in line or "Task was destroyed" in line]
    await proc.wait_line(rf"^{prog}: stopped$")
    assert not alive(server)


async def test_agent_exits_1_when_its_leaf_server_dies(processes, built, cache_dir, tmp_path) -> None:
    agent = await processes("agent", "--port", "0", "--state-dir", str(tmp_path / "pi"), "--display", "emulator",
                            "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned", "--cache-dir",
                            str(cache_dir))
    await agent.wait_line(AGENT_READY)
    await exits_1_when_its_server_is_killed(agent, "pi-edge agent")


async def test_hub_exits_1_when_its_server_dies(processes, tmp_path) -> None:
    hub = await processes("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port", "0", "--http", "0",
                          "--state-dir", str(tmp_path / "hub"))
    await hub.wait_line(r"HTTP gateway: http://127\.0\.0\.1:\d+/")
    await exits_1_when_its_server_is_killed(hub, "pi-edge hub")


async def test_agent_on_an_existing_server_with_nats_url(processes, existing_server, built, cache_dir) -> None:
    hub = existing_server
    agent = await processes("agent", "--nats-url", hub.url, "--display", "emulator",
                            "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned", "--cache-dir", str(cache_dir))
    ready = await agent.wait_line(AGENT_READY)
    assert ready[2] == hub.url
    assert children(agent.proc.pid) == [], "--nats-url must not start a server of its own"
    code, out, err = await run_cli("clear", "--nats-url", hub.url)
    assert code == 0 and out.startswith("cleared"), err
    assert await agent.stop() == 0


async def test_text_that_is_not_utf8_reaches_the_actor_instead_of_a_traceback(processes, existing_server, built,
                                                                              cache_dir) -> None:
    """A Latin-1 terminal types "Grüße" as bytes Python can only hold as surrogate escapes."""
    hub = existing_server
    agent = await processes("agent", "--nats-url", hub.url, "--display", "emulator",
                            "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned", "--cache-dir", str(cache_dir))
    await agent.wait_line(AGENT_READY)
    latin1 = b"Gr\xfc\xdfe".decode("utf-8", "surrogateescape")
    for argv in (["display", latin1], ["display", "--all", latin1]):
        code, out, err = await run_cli(*argv, "--nats-url", hub.url)
        assert code == 1 and "Traceback" not in err, err
        assert "message body is not UTF-8 text (invalid start byte at byte 2)" in out + err
    assert await agent.stop() == 0


async def test_sigterm_while_compiling_still_stops_the_leaf_server(processes, built, tmp_path: Path) -> None:
    # An empty cache directory: the agent has to compile, which takes seconds.
    agent = await processes("agent", "--port", "0", "--display", "emulator",
                            "--actor", f"oled-text={built['oled-text']}", "--allow-unsigned", "--cache-dir", str(tmp_path))
    await agent.wait_line(r"nats-server \S+ ready", stream="stderr")
    servers = children(agent.proc.pid)
    assert servers
    assert await agent.stop(signal.SIGTERM) == 0, agent.transcript()
    assert not any("pi-edge agent" in line and "via" in line for line in agent.lines["stdout"])
    assert not [pid for pid in servers if alive(pid)]


async def test_explicit_hardware_display_without_a_bus_is_one_line(tmp_path: Path) -> None:
    code, out, err = await run_cli("agent", "--port", "0", "--display", "ssd1306", "--i2c-port", "99")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert "cannot open /dev/i2c-99" in err and "--display emulator" in err


async def test_build_command_reuses_the_cached_component(built, cache_dir, tmp_path: Path) -> None:
    from tests.conftest import ROOT

    copy = tmp_path / "oled-text.wasm"
    code, out, err = await run_cli("build", str(ROOT / "actors" / "oled_text"), "--cache-dir", str(cache_dir),
                                   "-o", str(copy))
    assert code == 0, err
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()  # the file's, as deploy and sha256sum show it
    assert out.startswith(f"reused {copy} (sha256 {digest[:16]}")
    assert copy.read_bytes() == built["oled-text"].read_bytes()


async def test_help_explains_every_command() -> None:
    code, out, _ = await run_cli("--help")
    assert code == 0
    for command in ("hub", "agent", "display", "clear", "hosts", "build", "demo"):
        assert f"    {command}" in out
    code, out, _ = await run_cli("agent", "--help")
    assert code == 0 and "--hub" in out and "--display" in out and "--i2c-address" in out


def test_help_lists_the_commands_by_family() -> None:
    """The processes first, then the laptop's commands grouped as the modules of agent/cli/ are."""
    import argparse

    from pi_edge.agent.cli.main import build_parser

    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(commands.choices) == ["hub", "agent", "display", "clear", "snapshot", "watch", "hosts", "inventory",
                                      "events", "logs", "deploy", "stop", "scale", "compile", "link", "links", "keys",
                                      "sign", "inspect", "trust", "new", "build", "demo", "install-service"]


def test_every_command_has_a_description_and_every_positional_a_help() -> None:
    """'pi-edge COMMAND --help' must say what the command does and what each bare argument is."""
    import argparse

    from pi_edge.agent.cli.main import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    if not listed.get(name):
                        missing.append(f"{path} {name}: no help in the command list")
                    if not sub.description:
                        missing.append(f"{path} {name}: no description")
                    walk(sub, f"{path} {name}")
            elif not action.option_strings and not action.help:
                missing.append(f"{path} {action.metavar or action.dest}: no help")

    walk(build_parser(), "pi-edge")
    assert missing == []


async def test_agent_help_states_the_display_defaults() -> None:
    """The agent's display flags default to None (the config file may set them): the help must still say."""
    code, out, _ = await run_cli("agent", "--help")
    text = " ".join(out.split())
    assert code == 0 and "(default None)" not in text, out
    for flag, default in (("--width WIDTH", "128"), ("--height HEIGHT", "64"), ("--rotate {0,1,2,3}", "0"),
                          ("--i2c-port I2C_PORT", "1"), ("--i2c-address I2C_ADDRESS", "0x3C")):
        described = text.split(f"{flag} ", 1)[1].split(" --", 1)[0]
        assert f"(default {default})" in described, (flag, described)


@pytest.mark.parametrize(("cert", "key", "message"), [
    ("missing.pem", "missing.key", "--tls-cert must name a readable file, got '{dir}/missing.pem' (No such file"),
    ("text.pem", "text.pem", "--tls-cert must name a PEM file with a '-----BEGIN CERTIFICATE-----' line"),
    ("cert.pem", "cert.pem", "--tls-key must name a PEM file with a '-----BEGIN PRIVATE KEY-----' line"),
])
async def test_unusable_tls_files_are_one_line_naming_the_flag(tmp_path: Path, cert: str, key: str,
                                                               message: str) -> None:
    (tmp_path / "text.pem").write_text("not a certificate\n")
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    code, out, err = await run_cli("hub", "--port", "0", "--leafnode-port", "0", "--state-dir", str(tmp_path / "hub"),
                                   "--tls-cert", str(tmp_path / cert), "--tls-key", str(tmp_path / key))
    assert code == 2 and out == "", err
    assert err.startswith("pi-edge: error: " + message.format(dir=tmp_path)) and err.count("\n") == 1, err
    assert not (tmp_path / "hub").exists(), "nothing is written before the flags are checked"


@pytest.mark.parametrize(("argv", "message"), [
    (["hub", "--port", "0", "--leafnode-port", "0", "--state-dir", "/proc/nope"],
     "--state-dir must name a directory pi-edge can create and write to, got '/proc/nope' (No such file or directory)"),
    (["hub", "--port", "0", "--leafnode-port", "0", "--state-dir", "{file}"],
     "--state-dir must name a directory pi-edge can create and write to, got '{file}' (it is a file, not a directory)"),
    (["agent", "--port", "0", "--display", "emulator", "--state-dir", "{tmp}/pi", "--cache-dir", "/proc/nope"],
     "--cache-dir must name a directory pi-edge can create and write to, got '/proc/nope'"),
    (["agent", "--port", "0", "--display", "emulator", "--state-dir", "{file}"],
     "--state-dir must name a directory pi-edge can create and write to, got '{file}' (it is a file, not a directory)"),
    (["build", "{actor}", "--cache-dir", "/proc/nope"],
     "--cache-dir must name a directory pi-edge can create and write to, got '/proc/nope'"),
], ids=["hub-state-proc", "hub-state-file", "agent-cache-proc", "agent-state-file", "build-cache-proc"])
async def test_unusable_directories_are_one_line_naming_the_flag(tmp_path: Path, argv: list[str],
                                                                  message: str) -> None:
    from tests.conftest import ROOT

    places = {"file": tmp_path / "a-file", "tmp": tmp_path, "actor": ROOT / "actors" / "oled_text"}
    places["file"].write_text("not a directory\n")
    code, _out, err = await run_cli(*(arg.format(**places) for arg in argv))
    assert code == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("pi-edge: error: " + message.format(**places)), err
    assert [line for line in err.splitlines() if "error" in line.lower()] == [err.splitlines()[-1]], err
