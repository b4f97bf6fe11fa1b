"""One run of the box: a fresh copy of the cached rootfs, pi-edge installed as the README says, the
README's service steps, then the checks; the box powered off and every process this started stopped.

``arm64`` (``dev.py pibox``): the Pi stand-in under qemu-user, on this machine's network, joined to an x86
hub run here; the agent runs under a 384 MiB memory limit (a 512 MB Pi) and gets its compiled code from the
hub.  ``x86`` (``dev.py x86box``): native, on a private network, where seccomp and device rules are enforced.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.pibox import readme
from tests.pibox.boot import Box
from tests.pibox.memory import UnitMemoryLimit
from tests.pibox.report import Report
from tests.pibox.rootfs import FreshCopy, cached_rootfs
from tests.pibox.run import BoxError, ChrootMounts, in_chroot, run, say, stop_process

CHECKOUT = Path(__file__).resolve().parents[2]
BUILD = CHECKOUT / ".build" / "pibox"
X86 = CHECKOUT / ".venv" / "bin"
UNIT = "pi-edge-agent.service"
#: A Raspberry Pi Zero 2 W has 512 MB; its agent and leaf server get this much (a MemoryMax= drop-in).
LIMIT_MIB = 384
MESSAGES = 10_000
PROBE = '''
import errno, os
def status():
    keep = ("NoNewPrivs", "Seccomp", "Seccomp_filters", "CapEff")
    return " ".join(l.replace(chr(9), " ").strip() for l in open("/proc/self/status") if l.split(":")[0] in keep)
print("probe", status())
for d in ("/dev/i2c-1", "/dev/net/tun", "/dev/mem", "/dev/null"):
    try:
        os.close(os.open(d, os.O_RDWR))
        print("probe open", d, "OK")
    except OSError as e:
        print("probe open", d, errno.errorcode.get(e.errno, e.errno))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    """The laptop's hub, from this checkout's .venv, on free ports; stopped by ``stop``."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port, self.leaf_port = free_port(), free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Hub:
        self.state.mkdir(parents=True, exist_ok=True)
        log = self.state / "hub.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen([X86 / "pi-edge", "hub", "--listen", "127.0.0.1", "--port", str(self.port),
                                          "--leafnode-port", str(self.leaf_port), "--state-dir", self.state],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while "Ctrl-C stops the hub" not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BoxError(f"the hub did not start: {log.read_text(errors='replace')[-1500:]}")
            time.sleep(0.1)
        say(f"hub: {self.url}, leaf nodes on {self.leaf_port}")
        return self

    @property
    def operator(self) -> Path:
        """The laptop commands' credentials, which 'pi-edge hub' wrote into its state directory."""
        return self.state / "operator.creds"

    def enroll(self, name: str) -> Path:
        """``name``'s own credentials, as the README has the laptop make them for each Pi."""
        path = self.state / f"{name}.creds"
        x86("hub", "enroll", name, "--state-dir", self.state, "-o", path, quiet=True)
        return path

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc)


def x86(*args: str | Path, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """The laptop's pi-edge."""
    return run([X86 / "pi-edge", *args], check=check, quiet=quiet, timeout=600)


class Session:
    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.emulated = arch == "arm64"
        self.name = "pi-01" if self.emulated else "x86box"
        self.report = Report(f"dev.py {'pibox' if self.emulated else 'x86box'}: Debian 12 {arch} booted with "
                             f"systemd{' under qemu-user' if self.emulated else ' (native)'}")
        self.work = BUILD / f"run-{arch}"
        self.hub: Hub | None = None
        self.box: Box | None = None
        self.agent_port = free_port() if self.emulated else 4222
        self.wheel: Path | None = None
        self.limit: UnitMemoryLimit | None = None

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> int:
        self.preflight()
        lower = cached_rootfs(BUILD, "arm64" if self.emulated else "amd64", self.name)
        self.wheel = self.build_wheel()
        copy = FreshCopy(lower, self.work)
        try:
            root = copy.__enter__()
            self.install(root)
            if self.emulated:
                self.hub = Hub(self.work / "hub").start()
                self.publish_compiled_code(root)
            # arm64: hybrid cgroups, to hold the agent to a memory limit here (qemu enforces no seccomp or device
            # rules anyway); x86: pure cgroup v2 as on Raspberry Pi OS, where device rules are enforced
            self.box = Box(root, self.name, self.work, private_network=not self.emulated, unified=not self.emulated)
            self.report.number("box boot to is-system-running", f"{self.box.boot():.1f} s")
            self.service_steps(root)
            self.checks()
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            self.report._add("FAIL", "the run", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            import traceback
            traceback.print_exc()
        finally:
            if self.limit is not None:
                self.limit.__exit__()
            if self.box is not None:
                self.box.poweroff()
            if self.hub is not None:
                self.hub.stop()
            copy.close()
        self.report.write(BUILD / f"report-{self.arch}.txt")
        sys.stdout.write("\n" + self.report.text())
        return 1 if self.report.failed else 0

    def preflight(self) -> None:
        missing = [tool for tool in ("debootstrap", "systemd-nspawn", "nsenter", "chroot") if not shutil.which(tool)]
        if missing:
            raise SystemExit(f"dev.py: {', '.join(missing)} missing: sudo apt-get install debootstrap "
                             "systemd-container util-linux")
        if self.emulated:
            binfmt = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
            if not binfmt.exists() or "enabled" not in binfmt.read_text() or "F" not in binfmt.read_text():
                raise SystemExit("dev.py: arm64 binaries do not run here: sudo apt-get install qemu-user-static "
                                 "binfmt-support (qemu-aarch64 registered with flag F)")

    def build_wheel(self) -> Path:
        """As the README's laptop step says: ``python3 dev.py wheel``."""
        done = run([sys.executable, CHECKOUT / "dev.py", "wheel"], quiet=True)
        wheel = Path(done.stdout.strip().splitlines()[-1])
        self.report.number("wheel", f"{wheel.name}, {wheel.stat().st_size / 2**20:.1f} MiB")
        return wheel

    def install(self, root: Path) -> None:
        """Step 2 of the README's service steps, in the rootfs before it boots (the x86 box has no network)."""
        assert self.wheel is not None
        shutil.copyfile(self.wheel, root / "root" / self.wheel.name)
        pip_cache = BUILD / f"pip-cache-{self.arch}"
        pip_cache.mkdir(exist_ok=True)
        (root / "root" / ".cache" / "pip").mkdir(parents=True, exist_ok=True)
        run(["mount", "--bind", pip_cache, root / "root" / ".cache" / "pip"])
        try:
            with ChrootMounts(root):
                for step in readme.block("Raspberry Pi: run as a service"):
                    if "/opt/pi-edge/bin/pip install" in step.command or "python3 -m venv" in step.command:
                        started = time.monotonic()
                        run(in_chroot(root, "sh", "-c", f"cd /root && {step.command}"), quiet=True, timeout=3600)
                        say(f"README (in the rootfs, before boot): {step.command} "
                            f"({time.monotonic() - started:.0f} s)")
                installed = run(in_chroot(root, "/opt/pi-edge/bin/pip", "list", "--format=freeze"), quiet=True).stdout
        finally:
            run(["umount", root / "root" / ".cache" / "pip"], check=False)
        with self.report.check("pip install with no extras: no compiler on the Pi") as detail:
            if "componentize" in installed.lower():
                raise AssertionError("componentize-py was installed")
            detail(f"{len(installed.splitlines())} packages, no componentize-py")

    def publish_compiled_code(self, root: Path) -> None:
        """The laptop compiles the built-in actor once for arm64 (its aarch64 Python under qemu) and publishes it."""
        assert self.hub is not None
        key = self.work / "compiler.nk"
        x86("keys", "gen", "account", "-o", key, quiet=True)
        self.compiler = next(line for line in key.read_text().split() if line.startswith("S"))
        from pi_edge.agent.trust.claims import key_from_seed  # the checkout's own, as the laptop has it
        self.compiler_public = key_from_seed(self.compiler).public_key.decode()
        python = shlex.join(in_chroot(root, "/opt/pi-edge/bin/python3"))
        started = time.monotonic()
        done = x86("compile", "builtin", "--key", key, "--target", "aarch64-unknown-linux-gnu", "--python", python,
                   "--nats-url", self.hub.url, "--creds", self.hub.operator, "--timeout", "60")
        self.report.number("the laptop compiles the built-in actor for aarch64 once (arm64 Python under qemu)",
                           f"{time.monotonic() - started:.0f} s; {done.stdout.strip().split(': ', 1)[-1]}")

    # -- the README's service steps ------------------------------------------------------------

    def service_steps(self, root: Path) -> None:
        assert self.box is not None
        if self.hub is not None:  # 'pi-edge hub enroll pi-01' on the laptop, the file copied to the Pi
            shutil.copyfile(self.hub.enroll(self.name), root / "root" / f"{self.name}.creds")
        for step in readme.block("Raspberry Pi: run as a service"):
            command = step.command
            if "raspi-config" in command:
                self.report.skip(f"README: {command}", "Raspberry Pi OS only (no raspi-config in Debian)")
                continue
            if command.startswith("i2cdetect"):
                self.report.skip(f"README: {command}", "no I2C bus: this kernel has no i2c-dev")
                continue
            if "/opt/pi-edge/bin/pip install" in command or "python3 -m venv" in command:
                continue  # done in the rootfs before it booted
            if command.startswith("sudoedit"):
                self.edit_config(root)
                continue
            if "/etc/pi-edge/hub.creds" in command and self.hub is None:
                continue  # no laptop on the x86 box's private network: standalone, nothing to enrol in
            if "systemctl enable --now" in command:
                self.start_agent(command)
                continue
            if command.endswith(" -f"):
                command = command.removesuffix(" -f") + " -n 15 --no-pager"
            if command.startswith("systemctl status"):
                command += " --no-pager"
            self.box.sh(f"cd /root && {command}")
            say(f"README: {step.command}")

    def edit_config(self, root: Path) -> None:
        """What the README has a person type into agent.toml, written by this script instead."""
        path = root / "etc" / "pi-edge" / "agent.toml"
        keys = {"name": f'"{self.name}"', "port": str(self.agent_port), "display": '"emulator"'}
        if self.hub is not None:
            keys |= {"hub": f'"nats-leaf://127.0.0.1:{self.hub.leaf_port}"',
                     "hub_credentials": '"/etc/pi-edge/hub.creds"', "trust_compiled": f'["{self.compiler_public}"]'}
        text = path.read_text()
        for key, value in keys.items():
            text, n = re.subn(rf"^# {key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
            assert n == 1, f"agent.toml has no '# {key} =' line"
        path.write_text(text)
        say(f"README: sudoedit /etc/pi-edge/agent.toml: {', '.join(f'{k} = {v}' for k, v in keys.items())}")

    def start_agent(self, command: str) -> None:
        assert self.box is not None
        with self.report.check("READY: 'systemctl enable --now pi-edge-agent' returns with the unit active") as d:
            if self.emulated:
                dropin = self.box.root / "etc" / "systemd" / "system" / f"{UNIT}.d"
                dropin.mkdir(parents=True, exist_ok=True)
                (dropin / "memory.conf").write_text(f"# a 512 MB Pi\n[Service]\nMemoryMax={LIMIT_MIB}M\n")
                self.box.run("systemctl", "daemon-reload")
                self.limit = UnitMemoryLimit(self.box, UNIT, LIMIT_MIB).__enter__()
                self.limit.reset_peak()
            started = time.monotonic()
            self.box.sh(f"cd /root && {command}", timeout=1800)
            seconds = time.monotonic() - started
            state = self.show("ActiveState", "SubState", "MainPID")
            assert state["ActiveState"] == "active", state
            d(f"{seconds:.1f} s to READY=1 (first start)")
            self.report.number("first start, 'systemctl enable --now' to READY=1", f"{seconds:.1f} s")
            if m := re.search(r"compiled actor=oled-text for (\S+) in ([\d.]+)s in a child process \(peak (\d+) MiB",
                              self.journal(0)):
                self.report.number("the built-in actor compiled on first start, in a child process, inside the "
                                   "unit's sandbox", f"{m[1]} in {m[2]} s, child's peak RSS {m[3]} MiB")
        if self.emulated:
            self.report.number(f"peak RSS, start to READY (fetching the compiled actor), under {LIMIT_MIB} MiB",
                               self.memory_line())

    # -- the checks -------------------------------------------------------------------------------

    def show(self, *props: str) -> dict[str, str]:
        assert self.box is not None
        out = self.box.run("systemctl", "show", UNIT, *(f"-p{p}" for p in props), quiet=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, since: float) -> str:
        assert self.box is not None
        return self.box.run("journalctl", "-u", UNIT, "--no-pager", "-o", "cat", "--since", f"@{int(since)}",
                            quiet=True).stdout

    def memory_line(self) -> str:
        assert self.limit is not None
        peaks = self.limit.processes()
        per = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(peaks.items()))
        return (f"cgroup {self.limit.peak_mib():.0f} MiB of {LIMIT_MIB} (processes' own peaks: {per}); "
                f"OOM kills: {self.limit.oom_kills()}")

    def display(self, text: str) -> float:
        """A message from the laptop (or, in the x86 box, from the box's own CLI); its round trip in ms."""
        assert self.box is not None
        if self.hub is not None:
            out = x86("display", "--nats-url", self.hub.url, "--creds", self.hub.operator, "--timeout", "30", text, quiet=True).stdout
        else:
            out = self.box.run("/opt/pi-edge/bin/pi-edge", "display", "--nats-url", "nats://127.0.0.1:4222", "--timeout", "30", text,
                               quiet=True).stdout
        m = re.search(r"\(([\d.]+) ms\)", out)
        assert "shown" in out and m, out
        return float(m[1])

    def wait_until(self, what: str, ok: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ok():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s")
            time.sleep(0.5)

    def hub_sees_actor(self) -> bool:
        assert self.hub is not None
        done = x86("hosts", "--nats-url", self.hub.url, "--creds", self.hub.operator, check=False, quiet=True)
        return done.returncode == 0 and any(line.startswith(f"{self.name} ") and "oled-text" in line
                                            for line in done.stdout.splitlines())

    def checks(self) -> None:
        assert self.box is not None
        box = self.box
        with self.report.check("status line (sd_notify STATUS=)") as d:
            status = self.show("StatusText")["StatusText"]
            assert "running" in status, status
            d(status)
        if self.emulated:
            self.memory_checks()
        else:
            self.hardening_checks()
        with self.report.check(f"display from {'an x86 hub' if self.hub else 'the box'}") as d:
            if self.hub is not None:
                self.wait_until("the hub sees the Pi", self.hub_sees_actor, 60)
            times = sorted(self.display(f"Hello #{i}") for i in range(20))
            d(f"20 messages, round trip p50 {statistics.median(times):.1f} ms, max {times[-1]:.1f} ms")
        with self.report.check("snapshot") as d:
            png = self.work / "snapshot.png"
            if self.hub is not None:
                x86("snapshot", "--nats-url", self.hub.url, "--creds", self.hub.operator, "--host", self.name, "-o", png, "--scale", "4", quiet=True)
            else:
                # control on the Pi itself takes the agent's own key (README, "Who can do what")
                box.run("/opt/pi-edge/bin/pi-edge", "snapshot", "--nats-url", "nats://127.0.0.1:4222",
                        "--creds", "/var/lib/pi-edge/agent.creds", "-o", "/root/snap.png", quiet=True)
                shutil.copyfile(box.root / "root" / "snap.png", png)
            assert png.stat().st_size > 100
            d(f"{png} ({png.stat().st_size} bytes)")
        with self.report.check("reload: 'systemctl reload' re-reads agent.toml, same process") as d:
            before, since = self.show("MainPID")["MainPID"], time.time() - 1
            box.run("systemctl", "reload", UNIT)
            self.wait_until("reload applied", lambda: "reload: configuration applied" in self.journal(since), 60)
            assert self.show("MainPID")["MainPID"] == before
            d(f"MainPID {before} kept; 'reload: configuration applied'")
        with self.report.check("restart") as d:
            started = time.monotonic()
            box.run("systemctl", "restart", UNIT, timeout=900)
            assert self.show("ActiveState")["ActiveState"] == "active"
            seconds = time.monotonic() - started
            self.display("after restart")
            d(f"{seconds:.1f} s to READY=1")
            self.report.number("warm restart, 'systemctl restart' to READY=1", f"{seconds:.1f} s")
        with self.report.check("the leaf nats-server SIGKILLed: systemd restarts the agent") as d:
            state = self.show("MainPID", "NRestarts")
            server = box.sh(f"ps -o pid=,args= --ppid {state['MainPID']} | grep nats-server | grep -v grep",
                            quiet=True).stdout.split()[0]
            started = time.monotonic()
            box.run("kill", "-9", server)
            self.wait_until("a new agent is READY", lambda: (
                (s := self.show("ActiveState", "MainPID", "NRestarts"))["ActiveState"] == "active"
                and s["MainPID"] != state["MainPID"] and s["NRestarts"] != state["NRestarts"]), 600)
            seconds = time.monotonic() - started
            if self.hub is not None:
                self.wait_until("the hub sees the Pi again", self.hub_sees_actor, 60)
            self.display("after kill -9")
            d(f"NRestarts {state['NRestarts']} -> {self.show('NRestarts')['NRestarts']}, READY again in {seconds:.1f} s")
        with self.report.check("reboot: the unit comes back") as d:
            seconds = box.reboot()
            self.wait_until("the unit is active", lambda: self.show("ActiveState")["ActiveState"] == "active", 600)
            enabled = box.run("systemctl", "is-enabled", UNIT, check=False, quiet=True).stdout.strip()
            assert enabled == "enabled", enabled
            if self.hub is not None:
                self.wait_until("the hub sees the Pi again", self.hub_sees_actor, 120)
            self.display("after reboot")
            d(f"box up again in {seconds:.1f} s; unit enabled and active; display works")

    def memory_checks(self) -> None:
        with self.report.check(f"a {LIMIT_MIB} MiB limit: the compile is refused before it is tried, the code comes "
                               "from the hub") as d:
            log = self.journal(0)
            refused = re.search(r"compiling actor 'oled-text' here needs about (\d+) MiB .*? only (\d+) MiB are free "
                                r"\(([^)]*)\); so it is not tried; getting its compiled code from the hub instead", log)
            fetched = re.search(r"actor=oled-text compiled code from the hub in ([\d.]+)s \((\d+) bytes", log)
            assert refused and fetched, log[-2000:]
            d(f"needs ~{refused[1]} MiB, {refused[2]} MiB free ({refused[3]}); fetched {int(fetched[2]) / 2**20:.1f} "
              f"MiB in {fetched[1]} s")
        with self.report.check(f"{MESSAGES} messages under the {LIMIT_MIB} MiB limit") as d:
            assert self.limit is not None
            self.limit.reset_peak()
            seconds, failures = asyncio.run(self.flood())
            assert failures == 0 and self.limit.oom_kills() == 0, (failures, self.limit.oom_kills())
            d(f"{MESSAGES} replies in {seconds:.0f} s ({MESSAGES / seconds:.0f}/s), none failed")
            self.report.number(f"peak RSS, {MESSAGES} messages, under {LIMIT_MIB} MiB", self.memory_line())
        self.report.skip("hardening (SystemCallFilter, DeviceAllow)", "under qemu-user systemd skips seccomp and "
                         "device rules: proved by 'dev.py x86box'")

    async def flood(self) -> tuple[float, int]:
        from pi_edge.agent.lattice.client import LatticeClient  # the laptop's own client
        from pi_edge.agent.trust.credentials import Credentials

        assert self.hub is not None
        failures, sent = 0, 0
        operator = Credentials.read(self.hub.operator, role="operator")
        async with LatticeClient(self.hub.url, timeout=30, credentials=operator) as laptop:
            async def worker() -> None:
                nonlocal failures, sent
                while sent < MESSAGES:
                    sent += 1
                    try:
                        reply = await laptop.send("oled-text", f"message {sent}".encode())
                        failures += not reply.body.startswith(b"shown")
                    except Exception as exc:
                        failures += 1
                        say(f"flood: {exc}")
            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(8)))
        return time.monotonic() - started, failures

    def hardening_checks(self) -> None:
        assert self.box is not None
        box = self.box
        with self.report.check("the agent runs under its SystemCallFilter, with no capabilities") as d:
            pid = self.show("MainPID")["MainPID"]
            status = box.run("grep", "-E", "^(NoNewPrivs|CapEff|Seccomp|Seccomp_filters):", f"/proc/{pid}/status",
                             quiet=True).stdout
            fields = dict(re.findall(r"^(\w+):\s*(\S+)", status, re.M))
            assert fields["Seccomp"] == "2" and int(fields["Seccomp_filters"]) > 0, fields
            assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"] == "1", fields
            d(", ".join(f"{k} {v}" for k, v in fields.items()))
        probe = box.root / "usr" / "local" / "lib" / "pibox-probe.py"
        probe.write_text(PROBE)
        unit = (box.root / "etc" / "systemd" / "system" / UNIT).read_text()
        unit = re.sub(r"^ExecStart=.*$", "ExecStart=/opt/pi-edge/bin/python3 /usr/local/lib/pibox-probe.py", unit,
                      flags=re.M).replace("Type=notify", "Type=oneshot")
        unit = re.sub(r"^(WatchdogSec|ExecReload|Restart|RestartSec|NotifyAccess|RestartPreventExitStatus|"
                      r"WantedBy)=.*$", "", unit, flags=re.M)

        def probe_run(extra: str = "") -> dict[str, str]:
            # a copy of the agent's unit (its whole sandbox) whose ExecStart is the probe; /run is the box's tmpfs
            (box.root / "etc" / "systemd" / "system" / "pibox-probe.service").write_text(unit + extra)
            box.run("systemctl", "daemon-reload")
            since = time.time() - 1
            box.run("systemctl", "start", "pibox-probe.service")
            out = box.run("journalctl", "-u", "pibox-probe", "--no-pager", "-o", "cat", "--since", f"@{int(since)}",
                          quiet=True).stdout
            return dict(re.findall(r"^probe open (\S+) (\S+)$", out, re.M))

        shipped = probe_run()
        with self.report.check("the agent's sandbox cannot open /dev/net/tun or /dev/mem") as d:
            assert shipped["/dev/net/tun"] == "EPERM" and shipped["/dev/mem"] == "EPERM", shipped
            assert shipped["/dev/null"] == "OK", shipped
            d(f"/dev/net/tun {shipped['/dev/net/tun']}, /dev/mem {shipped['/dev/mem']}, /dev/null OK")
        by_path = probe_run("\n[Service]\nDeviceAllow=/dev/i2c-1 rw\n")
        with self.report.check("DeviceAllow=/dev/i2c-1 rw (by path) opens the I2C node; the policy refuses it "
                               "without") as d:
            # no driver behind the fake node: an open the policy lets through ends in ENXIO, a refused one in EPERM
            assert by_path["/dev/i2c-1"] == "ENXIO" and by_path["/dev/mem"] == "EPERM", by_path
            d(f"by path: {by_path['/dev/i2c-1']} (reached the kernel: no i2c driver); as shipped: "
              f"{shipped['/dev/i2c-1']}")
        devices = box.run("cat", "/proc/devices", quiet=True).stdout
        if re.search(r"^\s*\d+ i2c$", devices, re.M):
            with self.report.check("DeviceAllow=char-i2c rw opens the I2C node") as d:
                assert shipped["/dev/i2c-1"] == "ENXIO", shipped
                d("char-i2c resolved from /proc/devices")
        else:
            self.report.skip("DeviceAllow=char-i2c rw (the shipped unit)", "this kernel has no i2c-dev (no 'i2c' in "
                             "/proc/devices), so char-i2c matches nothing here; on a Pi i2c-dev loads at boot (from "
                             "/etc/modules) before the agent, which is what char-i2c needs")
        score = box.run("systemd-analyze", "security", UNIT, "--no-pager", check=False, quiet=True).stdout
        if m := re.search(r"Overall exposure level for \S+: ([\d.]+)", score):
            self.report.number("systemd-analyze security pi-edge-agent", f"exposure {m[1]}")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("arm64", "x86"):
        sys.stderr.write("usage: python -m tests.pibox arm64|x86\n")
        return 2
    # Ctrl-C and SIGTERM end the run through its cleanup (box off, hub stopped, overlay unmounted), even when
    # it was started in the background, where a shell ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return Session(argv[0]).run()

