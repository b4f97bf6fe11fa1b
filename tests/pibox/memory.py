"""A memory limit on one unit of the box, enforced by the kernel, and what the unit's processes peaked at.

This machine's memory controller is on cgroup v1, where the box's systemd gets
none to apply ``MemoryMax=`` with.  So the unit's processes are moved, as they
appear, into a v1 memory cgroup below the box's own, limited to the same
amount: the agent sees the limit there (``/proc/self/cgroup``), the kernel
enforces it, and ``memory.max_usage_in_bytes`` says the peak of each phase.
On a Pi (cgroup v2) the ``MemoryMax=`` drop-in does this by itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.pibox.boot import Box


class UnitMemoryLimit:
    def __init__(self, box: Box, unit: str, limit_mib: int) -> None:
        self.box = box
        self.unit = unit
        self.cgroup = box.cgroups[1] / unit.removesuffix(".service")
        self.cgroup.mkdir(exist_ok=True)
        (self.cgroup / "memory.limit_in_bytes").write_text(str(limit_mib * 2**20))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="pibox-memory-limit", daemon=True)
        self.moved: set[int] = set()

    def __enter__(self) -> UnitMemoryLimit:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _follow(self) -> None:
        unit: Path | None = None
        while not self._stop.wait(0.003):
            if unit is None or not unit.is_dir():  # found once (a tree walk), then only its one file is read
                unit = self.box.unit_cgroup(self.unit)
                if unit is None:
                    self._stop.wait(0.05)
                    continue
            try:
                pids = {int(p) for p in (unit / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                continue
            for pid in pids - self.moved:
                try:
                    (self.cgroup / "cgroup.procs").write_text(str(pid))
                    self.moved.add(pid)
                except OSError:
                    pass  # gone already

    def reset_peak(self) -> None:
        (self.cgroup / "memory.max_usage_in_bytes").write_text("0")

    def peak_mib(self) -> float:
        return int((self.cgroup / "memory.max_usage_in_bytes").read_text()) / 2**20

    def oom_kills(self) -> int:
        for line in (self.cgroup / "memory.oom_control").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def processes(self) -> dict[str, float]:
        """Each process in the limit now, by name, with its own peak RSS (VmHWM) in MiB."""
        peaks: dict[str, float] = {}
        for pid in (self.cgroup / "cgroup.procs").read_text().split():
            try:
                status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                              if ":" in line)
                name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            label = "nats-server" if b"nats-server" in b" ".join(name) else "agent" if b"pi-edge" in b" ".join(
                name) else status["Name"].strip()
            peaks[label] = max(peaks.get(label, 0.0), int(status["VmHWM"].split()[0]) / 1024)
        return peaks
