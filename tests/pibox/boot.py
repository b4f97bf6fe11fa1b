"""A rootfs booted with systemd as PID 1 (``systemd-nspawn --boot``), and commands run inside it.

This machine's PID 1 is not systemd, so nspawn registers nothing and keeps to
cgroups this makes for it (``--register=no --keep-unit``).  With ``unified``
the box gets a pure cgroup v2 tree, as Raspberry Pi OS has, where its systemd
enforces device rules with BPF; else it boots cgroup v1/v2 hybrid like this
machine, whose memory controller is on v1: the box's processes can then see a
v1 memory limit (``memory.UnitMemoryLimit``).  A ``systemctl reboot`` inside
makes nspawn exit 133: the box is booted again, as a Pi comes back up.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.pibox.run import BOX_ENV, BoxError, run, say, stop_process

#: What nspawn exits with when the box asks to be rebooted.
REBOOT = 133


class Box:
    def __init__(self, root: Path, name: str, log_dir: Path, *, private_network: bool, unified: bool,
                 bpf: bool = True) -> None:
        self.unified = unified
        #: The box's own cgroups on this machine: the unified one (systemd's tree inside) and v1 memory (limits).
        self.cgroups = [Path(f"/sys/fs/cgroup/unified/pibox-{name}"), Path(f"/sys/fs/cgroup/memory/pibox-{name}")]
        self.root = root
        self.name = name
        self.log_dir = log_dir
        self.private_network = private_network
        self.bpf = bpf
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0
        self.boots = 0

    def command(self) -> list[str]:
        args = ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no", "--keep-unit", "-M", self.name,
                "--console=read-only"]
        if self.private_network:  # the box's 4222/7422 do not clash with this machine's
            args.append("--private-network")
        if self.bpf:
            # nspawn's own seccomp filter refuses bpf() to the box by default; its systemd then enforces no
            # DevicePolicy=/DeviceAllow= at all, silently. A Pi's PID 1 runs under no such filter.
            args.append("--system-call-filter=bpf")
        return args

    def boot(self, timeout: float = 600) -> float:
        """Boot (again) and wait until systemd says the system is up; the seconds it took."""
        started = time.monotonic()
        self.boots += 1
        log = (self.log_dir / f"nspawn-{self.name}-{self.boots}.log").open("wb")
        procs = []
        for cgroup in self.cgroups:
            if cgroup.parent.is_dir():
                cgroup.mkdir(exist_ok=True)
                procs.append(str(cgroup / "cgroup.procs"))

        def own_cgroups() -> None:
            # nspawn's own cgroups, so the box's systemd builds its tree there and not in this machine's root.
            for path in procs:
                Path(path).write_text(str(os.getpid()))

        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"} if self.unified else None
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=own_cgroups, env=env)
        log.close()
        self.leader = 0
        state = ""
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise BoxError(f"the box exited {self.proc.returncode} while booting; see {log.name}")
            # Asked again each time: while it sets up, nspawn's child is a helper that goes away.
            self.leader = _child_of(self.proc.pid)
            if self.leader and (state := self.run("systemctl", "is-system-running", check=False,
                                                  quiet=True).stdout.strip()) in ("running", "degraded"):
                return time.monotonic() - started
            time.sleep(0.5)
        raise BoxError(f"the box did not finish booting within {timeout:g} s (state {state!r})")

    def run(self, *command: str, check: bool = True, quiet: bool = False, timeout: float = 900,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """``command`` inside the booted box, in all of its PID 1's namespaces, with a clean environment."""
        if not self.leader:
            raise BoxError("the box is not booted")
        return run(["nsenter", "-t", str(self.leader), "-a", "/usr/bin/env", "-i", *BOX_ENV, *command],
                   check=check, quiet=quiet, timeout=timeout, input=input)

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("sh", "-c", script, **kwargs)  # type: ignore[arg-type]

    def reboot(self, timeout: float = 600) -> float:
        """``systemctl reboot`` inside; nspawn exits 133 and the box is booted again. Seconds until it is up."""
        assert self.proc is not None
        started = time.monotonic()
        self.run("systemctl", "reboot", check=False, quiet=True)
        code = self.proc.wait(timeout)
        if code != REBOOT:
            raise BoxError(f"systemd-nspawn exited {code} on a reboot, not {REBOOT}")
        say(f"box: rebooted (nspawn exited {REBOOT}); booting it again")
        self.boot(timeout)
        return time.monotonic() - started

    def poweroff(self, timeout: float = 180) -> None:
        """Power the box off; if it does not go, stop nspawn (only the process this started)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.leader = _child_of(self.proc.pid)
        if not self.leader or self.run("systemctl", "poweroff", check=False, quiet=True).returncode != 0:
            timeout = 5
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say("box: did not power off in time; stopping nspawn")
            stop_process(self.proc)
        self.leader = 0
        for cgroup in self.cgroups:  # what nspawn and the box's systemd left, deepest first
            for folder in sorted((p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                folder.rmdir()
            if cgroup.is_dir():
                cgroup.rmdir()

    def unit_cgroup(self, unit: str) -> Path | None:
        """The unified cgroup of ``unit`` inside the box, as this machine sees it (None while it has none)."""
        return next((p for p in self.cgroups[0].rglob(unit) if p.is_dir()), None)


def _child_of(pid: int) -> int:
    """The box's PID 1 as this machine sees it: nspawn's child."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        if children:
            return int(children[0])
    return 0


