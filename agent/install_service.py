"""``pi-edge install-service``: install the agent (or, with ``--hub``, the hub) as a systemd service.

It writes the unit to /etc/systemd/system with the real ``pi-edge`` executable
and the service user filled in, writes the commented config skeleton to
/etc/pi-edge/agent.toml unless one is there already, creates the system user
(and puts it in the ``i2c`` group), and prints every action and the next
steps. A second run changes nothing and says so. ``--root DIR`` installs under
DIR instead of / (packaging, tests) and then, like ``--dry-run``, only prints
the user commands it would run.
"""

from __future__ import annotations

import difflib
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pi_edge.agent.errors import ConfigError, PiEdgeError
from pi_edge.agent.host.config_skeleton import SKELETON

#: The ExecStart= executable in the unit templates; replaced by the real one.
PLACEHOLDER = "/opt/pi-edge/bin/pi-edge"
#: The unit templates, in the source tree.
SOURCE_UNITS = Path(__file__).resolve().parent.parent / "systemd"
#: The same templates when installed as package data (see the report for pyproject.toml).
PACKAGE_UNITS = "pi_edge.systemd"
I2C_GROUP = "i2c"
CONFIG = Path("etc/pi-edge/agent.toml")
UNIT_DIR = Path("etc/systemd/system")
# useradd's own rule for portable names; also keeps newlines and '%' out of the unit.
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Target:
    service: str  # the unit's name without .service
    user: str  # the default service user
    config: bool  # write /etc/pi-edge/agent.toml
    i2c: bool  # the user needs the i2c group

    @property
    def unit(self) -> str:
        return f"{self.service}.service"


AGENT = Target("pi-edge-agent", "pi-edge", config=True, i2c=True)
HUB = Target("pi-edge-hub", "pi-edge-hub", config=False, i2c=False)


def install(*, hub: bool = False, user: str | None = None, root: Path = Path("/"), dry_run: bool = False,
            executable: Path | None = None) -> list[str]:
    """Install one unit; returns (and prints) the lines describing what was done."""
    target = HUB if hub else AGENT
    name = user or target.user
    if not _USER_NAME.fullmatch(name):
        raise ConfigError(f"--user {name!r} is not a valid system user name (lower-case letters, digits, "
                          "'_' and '-', starting with a letter or '_', at most 32)")
    live = Path(os.path.abspath(root)) == Path("/")  # users and groups of this machine are the target's
    if live and not dry_run and os.geteuid() != 0:
        raise ConfigError(f"install-service writes to /etc and creates the user {name!r}: run it as root "
                          f"(sudo {_executable_hint()} install-service), or see what it would do with --dry-run")
    exe = check_outside_homes(executable) if executable else find_executable()
    report = _Report()

    _ensure_user(report, name, target, live=live, dry_run=dry_run)
    keep_i2c = True
    if target.i2c and live and not _group_exists(I2C_GROUP):
        keep_i2c = False  # systemd refuses to start a unit whose SupplementaryGroups= names a missing group
        report.add(f"no group '{I2C_GROUP}' on this machine (I2C not enabled?): the unit goes without "
                   f"SupplementaryGroups={I2C_GROUP}; enable I2C (raspi-config nonint do_i2c 0) and run "
                   "install-service again")
    unit = render_unit(target, exe, name, i2c=keep_i2c)
    _write(report, root, UNIT_DIR / target.unit, unit, dry_run=dry_run)
    if target.config:
        _write_config(report, root, dry_run=dry_run)

    report.add("next steps:")
    if target.config:
        report.add(f"  edit /{CONFIG} (hub, hub_credentials, display ...)")
    report.add("  systemctl daemon-reload")
    report.add(f"  systemctl enable --now {target.service}")
    report.add(f"  journalctl -u {target.service} -f")
    if target is HUB:
        report.add("  for each Pi: sudo -u pi-edge-hub pi-edge hub enroll NAME --state-dir /var/lib/pi-edge-hub, "
                   "then copy NAME.creds to that Pi's /etc/pi-edge/hub.creds")
    return report.lines


def render_unit(target: Target, exe: Path, user: str, *, i2c: bool = True) -> str:
    """The unit template with the executable and the user filled in."""
    text = unit_template(target.unit)
    text, found = re.subn(rf"^(ExecStart=){re.escape(PLACEHOLDER)}(?=\s|$)",
                          lambda m: m.group(1) + _exec_path(exe), text, flags=re.M)
    if found != 1:
        raise PiEdgeError(f"the {target.unit} template has no 'ExecStart={PLACEHOLDER}' line")
    text = re.sub(r"^User=.*$", f"User={user}", text, flags=re.M)
    text = re.sub(r"^Group=.*$", f"Group={user}", text, flags=re.M)
    if not i2c:
        text = re.sub(rf"^SupplementaryGroups={I2C_GROUP}\n", "", text, flags=re.M)
    return text


def unit_template(unit: str) -> str:
    """A unit template: from the source tree's systemd/ folder, else from the installed package data."""
    path = SOURCE_UNITS / unit
    if path.is_file():
        return path.read_text()
    try:
        return resources.files(PACKAGE_UNITS).joinpath(unit).read_text()
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        raise PiEdgeError(f"cannot find the unit template {unit} (looked in {SOURCE_UNITS} and the "
                          f"{PACKAGE_UNITS} package data); reinstall pi-edge") from None


def find_executable() -> Path:
    """The pi-edge executable running now, else the one in this Python's environment, else the one on PATH.

    The running one comes first so ``sudo /opt/pi-edge/bin/pi-edge install-service`` installs
    /opt/pi-edge/bin/pi-edge even when root's PATH finds another pi-edge.
    """
    argv0 = Path(sys.argv[0])
    candidates = []
    if argv0.name == "pi-edge":
        candidates.append(argv0.resolve())
    candidates.append(Path(sys.prefix) / "bin" / "pi-edge")  # a venv's bin, even when run with python -m
    if found := shutil.which("pi-edge"):
        candidates.append(Path(found).resolve())
    for exe in candidates:
        if exe.is_file() and os.access(exe, os.X_OK):
            return check_outside_homes(Path(os.path.abspath(exe)))
    raise ConfigError("cannot find the pi-edge executable (not on PATH, not next to this Python); "
                      "run install-service with the pi-edge you want the service to start")


def check_outside_homes(exe: Path) -> Path:
    """``exe``, unless it lives where the service cannot reach it (ProtectHome=yes hides homes)."""
    if any(exe.is_relative_to(home) for home in ("/home", "/root", "/run/user")):
        raise ConfigError(
            f"the pi-edge executable {exe} is in a home directory, which the service cannot read "
            "(ProtectHome=yes, and the service user has no access); install pi-edge outside homes, e.g. "
            "sudo python3 -m venv /opt/pi-edge && sudo /opt/pi-edge/bin/pip install './pi-edge[dev]', "
            "then run sudo /opt/pi-edge/bin/pi-edge install-service")
    return exe


class _Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _executable_hint() -> str:
    try:
        return str(find_executable())
    except ConfigError:
        return "pi-edge"


def _exec_path(exe: Path) -> str:
    """``exe`` as systemd's ExecStart= reads it: '%' doubled, quoted if it has spaces."""
    text = str(exe).replace("%", "%%")
    if any(c in text for c in "\"\\\n"):
        raise ConfigError(f"the pi-edge executable path {str(exe)!r} cannot be written into a unit file")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _ensure_user(report: _Report, name: str, target: Target, *, live: bool, dry_run: bool) -> None:
    act = live and not dry_run
    if not live:  # another root: this machine's users say nothing about it
        report.add(f"would run: useradd --system --no-create-home --shell /usr/sbin/nologin --user-group {name}")
        if target.i2c:
            report.add(f"would run: usermod -aG {I2C_GROUP} {name}  (if group {I2C_GROUP} exists)")
        return
    if _user_exists(name):
        report.add(f"kept existing user {name}")
    else:
        # --user-group fails when a group of that name is already there; join it instead.
        group = ["--gid", name] if _group_exists(name) else ["--user-group"]
        _run(report, ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", *group, name],
             act=act)
    if target.i2c and _group_exists(I2C_GROUP):
        if _in_group(name, I2C_GROUP):
            report.add(f"kept user {name} in group {I2C_GROUP}")
        else:
            _run(report, ["usermod", "-aG", I2C_GROUP, name], act=act)


def _in_group(user: str, group: str) -> bool:
    try:
        return user in grp.getgrnam(group).gr_mem
    except KeyError:
        return False


def _run(report: _Report, cmd: list[str], *, act: bool) -> None:
    line = " ".join(cmd)
    if not act:
        report.add(f"would run: {line}")
        return
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PiEdgeError(f"{cmd[0]} not found; create the user yourself: {line}") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise PiEdgeError(f"{line} failed (exit {done.returncode}): {why[-1] if why else 'no message'}")
    report.add(f"ran: {line}")


def _write(report: _Report, root: Path, rel: Path, text: str, *, dry_run: bool, mode: int = 0o644) -> None:
    path = root / rel
    shown = f"/{rel}" if Path(os.path.abspath(root)) == Path("/") else str(path)
    try:
        current = path.read_text() if path.exists() else None
    except OSError as exc:
        raise PiEdgeError(f"cannot read {shown}: {exc.strerror}") from None
    if current == text:
        report.add(f"unchanged {shown}")
        return
    if dry_run:  # what it would write, whole, or what would change in the one there
        if current is None:
            report.add(f"would write {shown}:")
            shown_lines = text.splitlines()
        else:
            report.add(f"would write {shown} (replacing the one there), changing:")
            shown_lines = list(difflib.unified_diff(current.splitlines(), text.splitlines(), "now", "then",
                                                    lineterm=""))[2:]
        for line in shown_lines:
            report.add(f"    {line}".rstrip())
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        raise PiEdgeError(f"cannot write {shown}: {exc.strerror}") from None
    report.add(f"wrote {shown}" + (" (replacing a different version)" if current is not None else ""))


def _write_config(report: _Report, root: Path, *, dry_run: bool) -> None:
    """The skeleton, only where there is no config yet: a user's settings are never overwritten."""
    path = root / CONFIG
    shown = f"/{CONFIG}" if Path(os.path.abspath(root)) == Path("/") else str(path)
    if path.exists():
        try:
            same = path.read_text() == SKELETON
        except (OSError, UnicodeDecodeError):
            same = False
        report.add(f"unchanged {shown}" if same else f"kept existing {shown} (your settings)")
        return
    _write(report, root, CONFIG, SKELETON, dry_run=dry_run)
