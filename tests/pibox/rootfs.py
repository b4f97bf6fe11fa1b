"""A cached Debian 12 "bookworm" rootfs per architecture, and a fresh copy of it for each run.

The rootfs is built once with debootstrap (arm64 runs its second stage under qemu-user) and kept
under ``.build/pibox/``, named by a digest of what shapes it; each run mounts an overlay on it, so
what a run installs is gone at the next and every run starts from the same fresh Pi.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from tests.pibox.run import ChrootMounts, in_chroot, mounted, run, say

SUITE = "bookworm"
#: What a Raspberry Pi OS Lite image has that a debootstrap minbase lacks, for the README's steps: python3 and
#: venv, systemd as PID 1, sudo, procps (/bin/kill for ExecReload=), i2c-tools (its 'apt install' is then a no-op).
PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates", "systemd", "systemd-sysv", "dbus",
            "procps", "sudo", "i2c-tools", "kmod"]
#: Bumped whenever the recipe below changes what ends up in the rootfs.
RECIPE = 3
#: Units that ask systemd for credentials: qemu-user cannot clone() into a new mount namespace, which systemd
#: needs to set them up, so each would fail with 243/CREDENTIALS and the boot be "degraded".
CREDENTIAL_UNITS = ["procps", "systemd-sysctl", "systemd-sysusers", "systemd-tmpfiles-setup",
                    "systemd-tmpfiles-setup-dev", "systemd-tmpfiles-clean", "systemd-firstboot"]
#: Device nodes a Pi has and this kernel cannot make: the I2C bus (major 89, root:i2c 0660 as on Raspberry Pi OS),
#: and /dev/mem (1:1, mode 0666 so that only the unit's device policy can refuse it).
FAKE_DEVICES = "c /dev/i2c-1 0660 root i2c - 89:1\nc /dev/mem 0666 root kmem - 1:1\n"


def host_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 sources or a sources.list)."""
    lines: list[str] = []
    for path in [*Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list"),
                 *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.is_file():
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in lines:
        words = line.split()
        url = words[1] if words[:1] == ["URIs:"] and len(words) > 1 else words[1] if words[:1] == ["deb"] else ""
        if url.rstrip("/").endswith("/debian"):
            return url.rstrip("/")
    return "http://deb.debian.org/debian"


def cache_key(arch: str, mirror: str) -> str:
    shape = {"suite": SUITE, "arch": arch, "packages": PACKAGES, "recipe": RECIPE, "mirror": mirror}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]


def cached_rootfs(build_dir: Path, arch: str, hostname: str) -> Path:
    """The pristine rootfs for ``arch`` (``arm64`` or ``amd64``), built now if it is not cached yet."""
    mirror = host_mirror()
    root = build_dir / f"rootfs-{arch}-{cache_key(arch, mirror)}"
    if (root / ".pibox-complete").exists():
        say(f"rootfs: cached {root}")
        return root
    partial = root.with_name(root.name + ".partial")
    if partial.exists():
        run(["rm", "-rf", "--one-file-system", partial])
    partial.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"rootfs: debootstrap {arch} {SUITE} (minbase) from {mirror}; minutes, once")
    run(["debootstrap", f"--arch={arch}", "--variant=minbase", SUITE, partial, mirror], quiet=True, timeout=3600)
    say(f"rootfs: debootstrap took {time.monotonic() - started:.0f} s")
    _configure(partial, arch, mirror, hostname)
    (partial / ".pibox-complete").write_text(time.strftime("%F %T\n"))
    partial.rename(root)
    say(f"rootfs: ready in {time.monotonic() - started:.0f} s: {root}")
    return root


def _configure(root: Path, arch: str, mirror: str, hostname: str) -> None:
    security = mirror.removesuffix("/debian") + "/debian-security"
    (root / "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n"
                                               f"deb {security} {SUITE}-security main\n")
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "etc/hostname").write_text(hostname + "\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n")
    # This machine reaches the package index through a TLS-inspecting proxy whose CA (a public certificate) must
    # be trusted inside too, or pip and apt fail on certificates.
    local_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    (root / "usr/local/share/ca-certificates").mkdir(parents=True, exist_ok=True)
    for ca in local_cas:
        shutil.copyfile(ca, root / "usr/local/share/ca-certificates" / ca.name)
    started = time.monotonic()
    with ChrootMounts(root):
        run(in_chroot(root, "apt-get", "update", "-q"), quiet=True, timeout=3600)
        run(in_chroot(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                      "--no-install-recommends", *PACKAGES), quiet=True, timeout=3600)
        run(in_chroot(root, "update-ca-certificates"), quiet=True)
        run(in_chroot(root, "sh", "-c", "getent group i2c >/dev/null || groupadd --system i2c"))
        run(in_chroot(root, "apt-get", "clean"), quiet=True)
    say(f"rootfs: apt-get install in the {arch} chroot took {time.monotonic() - started:.0f} s")
    (root / "etc/tmpfiles.d/pibox-devices.conf").write_text(FAKE_DEVICES)
    if arch != "amd64":  # emulated: see CREDENTIAL_UNITS
        for unit in CREDENTIAL_UNITS:
            dropin = root / f"etc/systemd/system/{unit}.service.d"
            dropin.mkdir(parents=True, exist_ok=True)
            (dropin / "pibox-no-credentials.conf").write_text(
                "# qemu-user cannot clone() into a new mount namespace, which systemd needs for credentials\n"
                "[Service]\nLoadCredential=\n")


class FreshCopy:
    """An overlay on the cached rootfs: the run writes into ``upper``, the cache stays as it was."""

    def __init__(self, lower: Path, run_dir: Path) -> None:
        self.lower = lower
        self.run_dir = run_dir
        self.root = run_dir / "root"

    def __enter__(self) -> Path:
        self.close()
        if self.run_dir.exists():
            run(["rm", "-rf", "--one-file-system", self.run_dir])
        for sub in ("upper", "work", "root"):
            (self.run_dir / sub).mkdir(parents=True)
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={self.lower},upperdir={self.run_dir / 'upper'},workdir={self.run_dir / 'work'}", self.root])
        return self.root

    def close(self) -> None:
        if mounted(self.root):
            for sub in ("dev/pts", "dev", "sys", "proc"):
                if mounted(self.root / sub):
                    run(["umount", self.root / sub], check=False)
            run(["umount", self.root], check=False)

    def __exit__(self, *_exc: object) -> None:
        self.close()
