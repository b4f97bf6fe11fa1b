"""The leaf credentials: what the hub demands of a Pi's leaf server, and how they are kept."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pi_edge.agent.errors import ConfigError


@dataclass(frozen=True)
class LeafCredentials:
    """What a Pi presents to the hub's leaf port: a user and a generated secret.

    Kept in a file (``user:secret``, mode 0600) that the hub writes and the Pi
    is given, so the secret is never on a command line where ``ps`` shows it.
    """

    user: str
    password: str

    @classmethod
    def generate(cls) -> LeafCredentials:
        return cls("pi-edge", secrets.token_urlsafe(24))

    @classmethod
    def read(cls, path: Path) -> LeafCredentials:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read leaf credentials {path}: {exc.strerror or exc}") from None
        user, sep, password = text.partition(":")
        if not sep or not user or not password or any(c in text for c in "@/ \n"):
            raise ConfigError(f"{path} does not hold leaf credentials (one line 'user:secret', as "
                              "'pi-edge hub' writes them)")
        return cls(user, password)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{self.user}:{self.password}\n")
        os.replace(tmp, path)

    def into(self, url: str) -> str:
        """``url`` with these credentials as its user info (replacing any it had)."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = "nats-leaf", url
        address = rest.rsplit("@", 1)[-1]
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{address}"
