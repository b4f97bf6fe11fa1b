"""Who a host is: a stable nkey kept in its state directory, a name, and labels.

The id survives restarts and renames, so the laptop can tell a rebooted Pi
from a new one.  Like a NATS server's identity it is an Ed25519 nkey (public
keys start with ``N``); the seed never leaves the state directory.
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import nkeys

from pi_edge.agent.errors import ConfigError

log = logging.getLogger("pi_edge.identity")

SEED_FILE = "host.nk"


def default_state_dir() -> Path:
    """``$PI_EDGE_STATE_DIR``, else ``$XDG_STATE_HOME/pi-edge``, else ``~/.local/state/pi-edge``."""
    if env := os.environ.get("PI_EDGE_STATE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pi-edge"


def load_or_create_host_key(state_dir: Path) -> nkeys.KeyPair:
    """The host's key pair; created (mode 0600) on first start."""
    path = state_dir / SEED_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_SERVER)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(seed + b"\n")
            os.replace(tmp, path)
            log.info("identity: created host key in %s", path)
        seed = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot use state directory {state_dir}: {exc.strerror or exc}; "
                          "pick another with --state-dir or PI_EDGE_STATE_DIR") from None
    try:
        return nkeys.from_seed(bytearray(seed))
    except nkeys.NkeysError as exc:
        raise ConfigError(f"{path} does not hold a host seed ({type(exc).__name__}); "
                          "move it away to make a new identity") from None


LABEL_RULE = "KEY=VALUE (letters, digits, '-', '_', '.', '/' in the key)"


#: Labels every host gets from the agent itself; a configured label may not pose as one of them.
AUTOMATIC_LABELS = ("arch", "os", "display", "name")


def is_label_key(key: str) -> bool:
    """Whether ``key`` can be a label key that ``deploy --label`` can match on."""
    return bool(key) and all(c.isalnum() or c in "-_./" for c in key)


def parse_labels(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` flags into a dict; keys are checked so they can be matched on."""
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not is_label_key(key):
            raise ConfigError(f"label {item!r} is not {LABEL_RULE}")
        labels[key] = value.strip()
    return labels


@dataclass(frozen=True)
class HostIdentity:
    id: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    key: nkeys.KeyPair | None = field(default=None, repr=False, compare=False)  # signs what the host builds

    @classmethod
    def create(cls, state_dir: Path, name: str, labels: dict[str, str], driver: str) -> HostIdentity:
        """Labels the host knows about itself, overridable by the user's."""
        key = load_or_create_host_key(state_dir)
        found = dict(zip(AUTOMATIC_LABELS, (platform.machine(), platform.system().lower(), driver, name)))
        return cls(id=key.public_key.decode(), name=name, labels={**found, **labels}, key=key)
