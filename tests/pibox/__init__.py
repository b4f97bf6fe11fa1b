"""A Raspberry Pi image on this machine: ``python3 dev.py pibox`` (arm64 under qemu-user) and
``python3 dev.py x86box`` (native x86_64, where the unit's hardening is really enforced).

Not part of the test suite: it needs root, debootstrap, systemd-nspawn and (for arm64) qemu-user with
binfmt_misc, and takes minutes.  Each run boots a fresh copy of a cached Debian 12 rootfs, installs
pi-edge into it as the README tells a Pi user, runs the README's service steps and checks the agent.
"""
