#!/usr/bin/env python3
"""Set-up and run, with nothing but Python 3.11+ and a package index.

    python3 dev.py demo ["text"]   hub + agent + Wasm actor + emulated display, one message shown
    python3 dev.py test [pytest args]   the whole test suite
    python3 dev.py lint            ruff and mypy (strict), as CI runs them
    python3 dev.py wheel           the wheel a Pi installs (the built-in actor already built): dist/*.whl
    python3 dev.py pibox           (root) a Raspberry Pi image: arm64 Debian 12 under qemu-user, booted with
                                   systemd; pi-edge installed and run as the README says, then checked
    python3 dev.py x86box          (root) the same natively on x86_64, where the unit's hardening is enforced

Each creates ``.venv`` (and reinstalls when pyproject.toml changes) first; actor
builds are made and cached by the commands themselves.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".pi-edge-installed"


def say(text: str) -> None:
    sys.stderr.write(f"dev.py: {text}\n")
    sys.stderr.flush()


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and (BIN / "pi-edge").exists():
        return
    if not (BIN / "python").exists():
        say(f"creating {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    say("installing pi-edge with its dev tools into .venv (first time: about a minute)")
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    # setuptools warns on every editable install of a flat layout; it is expected here.
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore:Editable installation"}
    for step in (["install", "--upgrade", "pip"], ["install", "-e", f"{ROOT}[dev]"]):
        if subprocess.run(pip + step, env=quiet).returncode != 0:
            sys.exit(f"dev.py: 'pip {' '.join(step)}' failed (see above); fix that and run dev.py again")
    STAMP.write_text(wanted)


def typecheck_tree() -> Path:
    """The folders as the package they install as: mypy cannot follow setuptools' package-dir mapping."""
    tree = ROOT / ".build" / "typecheck"
    (tree / "pi_edge").mkdir(parents=True, exist_ok=True)
    for package, folder in (("agent", "agent"), ("providers", "providers"), ("actors", "actors"),
                            ("testing", "agent/testing")):
        link = tree / "pi_edge" / package
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", "..", folder))
    return tree


def lint() -> int:
    typecheck_tree()
    ruff = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT).returncode
    mypy = subprocess.run([str(BIN / "mypy")], cwd=ROOT).returncode  # what it checks: pyproject.toml
    return ruff or mypy


def wheel() -> int:
    """The wheel, built from this checkout as pip builds any (componentize-py builds the actor into it)."""
    dist = ROOT / "dist"
    for old in dist.glob("pi_edge-*.whl"):
        old.unlink()
    done = subprocess.run([str(BIN / "python"), "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)])
    if done.returncode != 0:
        return done.returncode
    for built in dist.glob("pi_edge-*.whl"):
        print(built)
    return 0


def box(arch: str) -> int:
    """``tests/pibox``: not part of the test suite (root, minutes, a rootfs cached in .build/pibox)."""
    if os.geteuid() != 0:
        say("the box needs root (debootstrap, chroot, systemd-nspawn): sudo python3 dev.py "
            f"{'pibox' if arch == 'arm64' else 'x86box'}")
        return 2
    return subprocess.run([str(BIN / "python"), "-m", "tests.pibox", arch], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "lint", "wheel", "pibox", "x86box"):
        sys.stderr.write(__doc__ or "")
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "lint":
        return lint()
    if command == "wheel":
        return wheel()
    if command in ("pibox", "x86box"):
        return box("arm64" if command == "pibox" else "x86")
    args = [str(BIN / "pi-edge"), "demo", *rest] if command == "demo" else [str(BIN / "python"), "-m", "pytest", *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
