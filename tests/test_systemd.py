"""The systemd units and ``pi-edge install-service``.

The units are checked three ways: by reading them (the settings the agent's
lifecycle and the I2C bus depend on), by ``systemd-analyze verify`` (which
exits 0 on unknown keys and only warns on stderr, so stderr must be empty), and
by ``systemd-analyze security --offline=yes`` (an exposure score). install-service
installs into a temporary --root; it never touches this machine's /etc or users.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pi_edge.agent import install_service
from pi_edge.agent.errors import ConfigError, PiEdgeError
from pi_edge.agent.host.config import KEYS
from pi_edge.agent.host.config_skeleton import SKELETON
from pi_edge.agent.install_service import AGENT, PLACEHOLDER, find_executable, install, render_unit
from tests.processes import run_cli

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "systemd"
AGENT_UNIT = "pi-edge-agent.service"
HUB_UNIT = "pi-edge-hub.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

# Measured with systemd 252: agent 1.6, hub 1.2 (0 = locked down, 10 = unprotected). Dropping the
# empty CapabilityBoundingSet= (3.6) or the SystemCallFilter= (3.0) alone pushes the agent past
# 2.0; the rest of the sandbox is pinned line by line in test_agent_unit_settings.
EXPOSURE_LIMIT = 2.0


def _analyze_supports(flag: str) -> bool:
    if SYSTEMD_ANALYZE is None:
        return False
    done = subprocess.run([SYSTEMD_ANALYZE, "--help"], capture_output=True, text=True, timeout=30)
    return flag in done.stdout


needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
needs_offline_security = pytest.mark.skipif(
    not _analyze_supports("--offline"),
    reason="systemd-analyze without 'security --offline' (systemd < 250) or not installed")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values in order (keys may repeat); comments and blank lines dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    """A systemd time span as used in our units: '20', '20s', '10min'."""
    m = re.fullmatch(r"(\d+)\s*(s|sec|min)?", value)
    assert m, f"unexpected time span {value!r}"
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


def installed(root: Path, unit: str) -> Path:
    return root / "etc" / "systemd" / "system" / unit


def foreign_lines(stderr: str) -> list[str]:
    """stderr lines that are not about the host's own unit files.

    verify also loads what our units name (network-online.target, multi-user.target), so a host
    whose distribution units draw warnings would print them too; those are not ours to fix.
    Everything else, including any line about our file, counts.
    """
    host_units = re.compile(r"^(/usr)?/lib/systemd/|^/etc/systemd/|^/run/systemd/")
    return [line for line in stderr.splitlines() if line.strip() and not host_units.match(line)]


# -- the unit files as written ------------------------------------------------------------------

def test_agent_unit_settings() -> None:
    unit = parse_unit((UNITS / AGENT_UNIT).read_text())
    svc, head = unit["Service"], unit["Unit"]

    def one(key: str) -> str:
        assert len(svc.get(key, [])) == 1, f"{key}= should appear exactly once in [Service]: {svc.get(key)}"
        return svc[key][0]

    # Lifecycle: the agent's sd_notify protocol, reload on SIGHUP, no restart loop on a bad config.
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("ExecStart") == f"{PLACEHOLDER} agent --config /etc/pi-edge/agent.toml"
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert seconds(one("WatchdogSec")) == 30
    assert one("Restart") == "on-failure"
    assert seconds(one("RestartSec")) == 2
    assert "78" in one("RestartPreventExitStatus").split()
    grace = float(re.search(r"grace_s = (\d+)", SKELETON).group(1))  # the agent's default grace
    assert grace < seconds(one("TimeoutStopSec")) <= grace + 30
    # SIGTERM to the agent alone: it stops its leaf server after the in-flight replies went out.
    assert one("KillMode") == "mixed"
    assert "StartLimitIntervalSec" in head and "StartLimitBurst" in head  # [Unit], where systemd reads them
    assert "StartLimitIntervalSec" not in svc and "StartLimitBurst" not in svc
    # Identity and places.
    assert one("User") == "pi-edge" and one("Group") == "pi-edge"
    assert one("SupplementaryGroups") == "i2c"
    assert one("StateDirectory") == "pi-edge"
    assert one("CacheDirectory") == "pi-edge"
    assert one("ConfigurationDirectory") == "pi-edge"
    env = " ".join(svc["Environment"]).split()
    assert "PI_EDGE_STATE_DIR=/var/lib/pi-edge" in env and "PYTHONUNBUFFERED=1" in env
    assert "StandardOutput" not in svc and "StandardError" not in svc  # the journal, by default
    # Sandbox that still reaches /dev/i2c-*.
    assert one("DevicePolicy") == "closed"
    assert one("DeviceAllow") == "char-i2c rw"
    assert svc.get("PrivateDevices", ["no"]) == ["no"], "PrivateDevices=yes hides /dev/i2c-*"
    assert svc.get("MemoryDenyWriteExecute", ["no"]) == ["no"], "wasmtime needs executable memory"
    assert svc.get("PrivateUsers", ["no"]) == ["no"], "the i2c group would be unmapped"
    assert one("CapabilityBoundingSet") == ""
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    for key, value in {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes", "RestrictNamespaces": "yes", "LockPersonality": "yes",
        "RestrictRealtime": "yes", "SystemCallArchitectures": "native",
    }.items():
        assert one(key) == value, key
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_hub_unit_settings() -> None:
    unit = parse_unit((UNITS / HUB_UNIT).read_text())
    svc = unit["Service"]
    assert svc["Type"] in (["exec"], ["simple"])  # the hub does not speak sd_notify
    assert "NotifyAccess" not in svc and "WatchdogSec" not in svc
    assert svc["ExecStart"] == [f"{PLACEHOLDER} hub --state-dir /var/lib/pi-edge-hub"]
    assert svc["StateDirectory"] == ["pi-edge-hub"]
    assert svc["User"] == ["pi-edge-hub"] and svc["Group"] == ["pi-edge-hub"]
    assert svc["Restart"] == ["on-failure"]
    assert svc["KillMode"] == ["mixed"]  # SIGTERM to the hub alone: it stops its gateway, then its server
    assert "SupplementaryGroups" not in svc and "DeviceAllow" not in svc
    assert svc["CapabilityBoundingSet"] == [""]
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "PrivateDevices": "yes", "NoNewPrivileges": "yes"}.items():
        assert svc[key] == [value], key
    assert "StartLimitIntervalSec" in unit["Unit"]


# -- systemd-analyze ------------------------------------------------------------------------------

@needs_analyze
@pytest.mark.parametrize("hub", [False, True], ids=["agent", "hub"])
def test_systemd_analyze_verify_is_clean(tmp_path: Path, hub: bool) -> None:
    # The installed copy: its ExecStart is this venv's real pi-edge (verify insists the binary exists);
    # the User= need not exist for verify.
    install(root=tmp_path, hub=hub)
    path = installed(tmp_path, HUB_UNIT if hub else AGENT_UNIT)
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert foreign_lines(done.stderr) == []


@needs_analyze
def test_systemd_analyze_verify_warnings_show_on_stderr_only(tmp_path: Path) -> None:
    """Why the test above reads stderr: an unknown key still exits 0."""
    install(root=tmp_path)
    path = installed(tmp_path, AGENT_UNIT)
    path.write_text(path.read_text().replace("[Service]\n", "[Service]\nWatchdogSecs=30\n"))
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert any("WatchdogSecs" in line for line in foreign_lines(done.stderr)), done.stderr


@needs_analyze
def test_verify_accepts_an_executable_path_with_spaces_and_percent(tmp_path: Path) -> None:
    exe = tmp_path / "my apps" / "100%" / "pi-edge"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    install(root=tmp_path / "root", executable=exe)
    path = installed(tmp_path / "root", AGENT_UNIT)
    assert f'ExecStart="{str(exe).replace("%", "%%")}" agent' in path.read_text()
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and foreign_lines(done.stderr) == [], done.stderr


@needs_offline_security
@pytest.mark.parametrize("hub", [False, True], ids=["agent", "hub"])
def test_security_exposure_is_low(tmp_path: Path, hub: bool) -> None:
    install(root=tmp_path, hub=hub)
    path = installed(tmp_path, HUB_UNIT if hub else AGENT_UNIT)
    # --threshold is in tenths: exit status non-zero when the exposure is above it.
    done = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager",
                           f"--threshold={round(EXPOSURE_LIMIT * 10)}", str(path)],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", done.stdout)
    assert m, done.stdout + done.stderr
    assert float(m.group(1)) <= EXPOSURE_LIMIT, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""


# -- install-service ------------------------------------------------------------------------------

def test_install_writes_unit_and_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = find_executable()
    assert exe.is_absolute() and os.access(exe, os.X_OK)
    install(root=tmp_path)
    out = capsys.readouterr().out

    unit = installed(tmp_path, AGENT_UNIT).read_text()
    template = (UNITS / AGENT_UNIT).read_text()
    changed = [(a, b) for a, b in zip(template.splitlines(), unit.splitlines(), strict=False) if a != b]
    assert changed == [(f"ExecStart={PLACEHOLDER} agent --config /etc/pi-edge/agent.toml",
                        f"ExecStart={exe} agent --config /etc/pi-edge/agent.toml")]
    assert len(unit.splitlines()) == len(template.splitlines())
    config = tmp_path / "etc" / "pi-edge" / "agent.toml"
    assert config.read_text() == SKELETON
    for path in (installed(tmp_path, AGENT_UNIT), config):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(tmp_path.rglob(".*.tmp"))

    assert f"wrote {installed(tmp_path, AGENT_UNIT)}" in out
    assert f"wrote {config}" in out
    # Another root: the user is not created, only shown.
    assert "would run: useradd --system --no-create-home --shell /usr/sbin/nologin --user-group pi-edge" in out
    assert "would run: usermod -aG i2c pi-edge" in out
    for step in ("systemctl daemon-reload", "systemctl enable --now pi-edge-agent",
                 "journalctl -u pi-edge-agent -f"):
        assert step in out


def test_install_with_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(root=tmp_path, user="oled")
    svc = parse_unit(installed(tmp_path, AGENT_UNIT).read_text())["Service"]
    assert svc["User"] == ["oled"] and svc["Group"] == ["oled"]
    assert svc["StateDirectory"] == ["pi-edge"]  # directories keep their names
    assert "--user-group oled" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["Root", "a b", "x\nExecStartPre=/bin/sh", "-rf", "a" * 33, "100%"])
def test_install_refuses_bad_user_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid system user name"):
        install(root=tmp_path, user=name)
    assert not any(tmp_path.iterdir())


def test_second_install_changes_nothing_and_keeps_a_modified_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(root=tmp_path)
    unit, config = installed(tmp_path, AGENT_UNIT), tmp_path / "etc" / "pi-edge" / "agent.toml"
    before = {p: p.stat().st_mtime_ns for p in (unit, config)}
    capsys.readouterr()

    install(root=tmp_path)
    out = capsys.readouterr().out
    assert f"unchanged {unit}" in out and f"unchanged {config}" in out
    assert "wrote" not in out
    assert {p: p.stat().st_mtime_ns for p in (unit, config)} == before

    mine = SKELETON.replace('# hub = "nats-leaf://laptop.local:7422"', 'hub = "nats-leaf://hub.lan:7422"')
    config.write_text(mine)
    unit.write_text(unit.read_text().replace("WatchdogSec=30", "WatchdogSec=5"))
    install(root=tmp_path)
    out = capsys.readouterr().out
    assert f"kept existing {config}" in out
    assert config.read_text() == mine  # never overwritten
    assert f"wrote {unit} (replacing a different version)" in out
    assert "WatchdogSec=30" in unit.read_text()


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(root=tmp_path, dry_run=True)
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert f"would write {installed(tmp_path, AGENT_UNIT)}:" in out
    assert f"would write {tmp_path / 'etc' / 'pi-edge' / 'agent.toml'}:" in out
    assert "would run: useradd" in out
    # ... and shows what it would write: the unit and the config, whole.
    unit = render_unit(AGENT, find_executable(), AGENT.user)
    assert "\n".join(f"    {line}".rstrip() for line in unit.splitlines()) in out
    assert "\n".join(f"    {line}".rstrip() for line in SKELETON.splitlines()) in out


def test_dry_run_shows_what_would_change_in_a_unit_already_there(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    install(root=tmp_path)
    unit = installed(tmp_path, AGENT_UNIT)
    unit.write_text(unit.read_text().replace("WatchdogSec=30", "WatchdogSec=60"))
    capsys.readouterr()
    install(root=tmp_path, dry_run=True)
    out = capsys.readouterr().out
    assert f"would write {unit} (replacing the one there), changing:" in out
    assert "    -WatchdogSec=60\n    +WatchdogSec=30" in out


def test_install_hub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(root=tmp_path, hub=True)
    out = capsys.readouterr().out
    svc = parse_unit(installed(tmp_path, HUB_UNIT).read_text())["Service"]
    assert svc["ExecStart"] == [f"{find_executable()} hub --state-dir /var/lib/pi-edge-hub"]
    assert svc["User"] == ["pi-edge-hub"]
    assert not (tmp_path / "etc" / "pi-edge").exists()  # the hub has no agent.toml
    assert not installed(tmp_path, AGENT_UNIT).exists()
    assert "--user-group pi-edge-hub" in out and "usermod" not in out
    assert "systemctl enable --now pi-edge-hub" in out


def test_refuses_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError) as caught:
        install(root=Path("/"))
    message = str(caught.value)
    assert "run it as root" in message and "--dry-run" in message and "\n" not in message


def test_dry_run_on_this_machine_needs_no_root(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(install_service.subprocess, "run", lambda *a, **k: pytest.fail("ran a command in a dry run"))
    monkeypatch.setattr(install_service, "_user_exists", lambda name: False)
    install(root=Path("/"), dry_run=True)
    out = capsys.readouterr().out
    assert "would run: useradd --system --no-create-home --shell /usr/sbin/nologin" in out
    assert "/etc/systemd/system/pi-edge-agent.service" in out


def test_missing_i2c_group_drops_supplementary_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # On this machine (root "/") without an i2c group, SupplementaryGroups=i2c would stop the unit from starting.
    lines = []
    monkeypatch.setattr(install_service, "_group_exists", lambda name: False)
    monkeypatch.setattr(install_service, "_user_exists", lambda name: True)
    monkeypatch.setattr(install_service, "_write", lambda report, root, rel, text, **kw: lines.append(text))
    monkeypatch.setattr(install_service, "_write_config", lambda *a, **k: None)
    out = install(root=Path("/"), dry_run=True)
    assert "SupplementaryGroups" not in lines[0] and "DeviceAllow=char-i2c rw" in lines[0]
    assert any("no group 'i2c'" in line for line in out)


def test_live_install_runs_useradd_then_usermod(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Root "/" as root: the commands really run (recorded here, not run: this machine keeps its users)."""
    ran: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    groups = {"i2c"}
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(install_service.subprocess, "run", fake_run)
    monkeypatch.setattr(install_service, "_user_exists", lambda name: False)
    monkeypatch.setattr(install_service, "_group_exists", lambda name: name in groups)
    monkeypatch.setattr(install_service, "_in_group", lambda user, group: False)
    monkeypatch.setattr(install_service, "_write", lambda *a, **k: None)
    monkeypatch.setattr(install_service, "_write_config", lambda *a, **k: None)
    install(root=Path("/"))
    assert ran == [["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group",
                    "pi-edge"], ["usermod", "-aG", "i2c", "pi-edge"]]
    out = capsys.readouterr().out
    assert "ran: useradd" in out and "ran: usermod -aG i2c pi-edge" in out

    # A group of that name already there: useradd --user-group would fail, so join it.
    ran.clear()
    groups.add("pi-edge")
    install(root=Path("/"))
    assert ran[0][-3:] == ["--gid", "pi-edge", "pi-edge"]

    # A failing command is one line naming it.
    monkeypatch.setattr(install_service.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 9, "", "useradd: user 'pi-edge' already exists\n"))
    with pytest.raises(PiEdgeError) as caught:
        install(root=Path("/"))
    assert str(caught.value).startswith("useradd --system") and "already exists" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_refuses_an_executable_in_a_home_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="home directory"):
        install(root=tmp_path, executable=Path("/home/pi/pi-edge/bin/pi-edge"))
    assert not any(tmp_path.iterdir())


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pi_edge.agent.cli.install import add_commands

    parser = argparse.ArgumentParser(prog="pi-edge")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["install-service", "--root", str(tmp_path), "--user", "hubber", "--hub"])
    assert args.func(args) == 0
    assert parse_unit(installed(tmp_path, HUB_UNIT).read_text())["Service"]["User"] == ["hubber"]
    args = parser.parse_args(["install-service", "--root", str(tmp_path / "dry"), "--dry-run"])
    assert args.func(args) == 0
    assert not (tmp_path / "dry").exists()


async def test_real_command(tmp_path: Path) -> None:
    code, out, _ = await run_cli("--help")
    if "install-service" not in out:
        pytest.skip("install-service is not registered in agent/cli.py yet")
    code, out, err = await run_cli("install-service", "--root", str(tmp_path))
    assert code == 0, err
    assert "wrote" in out and (tmp_path / "etc" / "pi-edge" / "agent.toml").read_text() == SKELETON
    code, out, err = await run_cli("install-service", "--root", str(tmp_path))
    assert code == 0 and "wrote" not in out and out.count("unchanged") == 2


def test_the_config_skeleton_names_every_key_in_its_section() -> None:
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", SKELETON, re.S | re.M))
    missing = [f"[{k.section}] {k.name}" for k in KEYS if not re.search(rf"^# {k.name} = ", sections[k.section], re.M)]
    assert missing == []
