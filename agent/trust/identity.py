"""Who a host is: a stable nkey kept in its state directory.

The id survives restarts and renames, so the laptop can tell a rebooted Pi
from a new one.  Like a NATS server's identity it is an Ed25519 nkey (public
keys start with ``N``); the seed never leaves the state directory.  What the
host builds from source it signs with this key, so its own key is always trusted.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import nkeys

from pi_edge.agent.errors import ConfigError, ConfigFileError
from pi_edge.agent.files import write_atomically

log = logging.getLogger("pi_edge.identity")

SEED_FILE = "host.nk"


def load_or_create_host_key(state_dir: Path) -> nkeys.KeyPair:
    """The host's key pair; created (mode 0600) on first start."""
    path = state_dir / SEED_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_SERVER)
            write_atomically(path, seed + b"\n", mode=0o600)
            log.info("identity: created host key in %s", path)
        seed = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot use state directory {state_dir}: {exc.strerror or exc}; "
                          "pick another with --state-dir or PI_EDGE_STATE_DIR") from None
    try:
        key = nkeys.from_seed(bytearray(seed))
        if key.public_key.decode()[:1] != "N":
            raise ValueError("not a server (host) key")
        return key
    except Exception as exc:  # nkeys raises several kinds for a damaged seed
        # Not made anew in its place: an identity never changes silently (the lattice knows the host by it).
        raise ConfigFileError(
            f"{path} is damaged: it does not hold this host's key ({type(exc).__name__}); restore it from a "
            f"backup, or move it away (sudo mv {path} {path}.damaged) to start with a new identity, which the "
            "lattice will see as a new host") from None


@dataclass(frozen=True)
class HostIdentity:
    id: str  # the public key, N...
    key: nkeys.KeyPair = field(repr=False, compare=False)  # signs what the host builds

    @classmethod
    def load(cls, state_dir: Path) -> HostIdentity:
        key = load_or_create_host_key(state_dir)
        return cls(id=key.public_key.decode(), key=key)
