"""A credentials file: who its holder is on the lattice (role and name), the nkey it proves that with,
and the hub's CA when the hub speaks TLS.

``pi-edge hub`` writes ``operator.creds``, ``pi-edge hub enroll NAME`` writes
``NAME.creds``, and an agent keeps ``agent.creds`` for its own connections to
its own leaf server.  One format for all, mode 0600, written whole::

    # pi-edge credentials: keep this file secret
    role: host
    name: pi-01
    -----BEGIN USER NKEY SEED-----
    SU...
    ------END USER NKEY SEED------
    -----BEGIN CERTIFICATE-----        (the hub's CA, when it runs with --tls)
    ...
    -----END CERTIFICATE-----

It is not a NATS JWT ``.creds`` file: plain nkey users need no JWT, and both
nats-py's ``user_credentials`` and a leaf remote's ``credentials`` insist on
one.  The seed goes to nats-py as ``nkeys_seed_str`` or into the leaf server's
own config (a 0600 file in the state directory), never onto a command line.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import nkeys

from pi_edge.agent.errors import CredentialsError
from pi_edge.agent.files import write_atomically

#: Who a credentials file can be for.
ROLES = ("operator", "host", "gateway", "hub", "agent")

_SEED = re.compile(r"-----BEGIN USER NKEY SEED-----\s*(S[A-Z2-7]+)\s*------END USER NKEY SEED------")
_CA = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.S)
_FIELD = re.compile(r"^(role|name):\s*(\S+)\s*$", re.M)


def new_user_seed() -> str:
    """A fresh nkey user seed (``SU...``)."""
    seed: bytes = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode()


def public_key(seed: str) -> str:
    """The public key (``U...``) of a user seed."""
    return str(nkeys.from_seed(bytearray(seed.encode())).public_key.decode())


@dataclass(frozen=True)
class Credentials:
    role: str
    name: str
    seed: str = field(repr=False)
    ca_pem: str | None = field(default=None, repr=False)

    @classmethod
    def generate(cls, role: str, name: str, ca_pem: str | None = None) -> Credentials:
        return cls(role, name, new_user_seed(), ca_pem)

    @property
    def public_key(self) -> str:
        return public_key(self.seed)

    def render(self) -> str:
        text = (f"# pi-edge credentials: keep this file secret (anyone holding it is {self.role} {self.name!r})\n"
                f"role: {self.role}\nname: {self.name}\n"
                f"-----BEGIN USER NKEY SEED-----\n{self.seed}\n------END USER NKEY SEED------\n")
        return text + (self.ca_pem if self.ca_pem else "")

    def write(self, path: Path) -> None:
        """Mode 0600, whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, self.render().encode(), mode=0o600)

    @classmethod
    def read(cls, path: Path, role: str | None = None) -> Credentials:
        """The file's credentials; CredentialsError says what is wrong with it (and, given ``role``, that it is
        for another role)."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"cannot read credentials {path}: {getattr(exc, 'strerror', None) or exc}") from None
        return cls.parse(text, str(path), role)

    @classmethod
    def parse(cls, text: str, where: str, role: str | None = None) -> Credentials:
        seed = _SEED.search(text)
        fields = dict(_FIELD.findall(text))
        if seed is None or "role" not in fields or "name" not in fields:
            if re.fullmatch(r"[^:\s]+:[^:\s]+\s*", text):
                raise CredentialsError(f"{where} is a leaf password from an older pi-edge hub; the hub now gives each "
                                       "Pi its own key: run 'pi-edge hub enroll NAME' on the laptop and use the "
                                       "NAME.creds it writes")
            raise CredentialsError(f"{where} does not hold pi-edge credentials (the file 'pi-edge hub enroll NAME' "
                                   "writes, or the hub's operator.creds)")
        try:
            public_key(seed[1])
            if not seed[1].startswith("SU"):
                raise ValueError("not a user seed")
        except Exception:  # nkeys raises several kinds for a damaged seed
            raise CredentialsError(f"{where} holds a damaged key; enrol again ('pi-edge hub enroll NAME')") from None
        if fields["role"] not in ROLES:
            raise CredentialsError(f"{where} is for role {fields['role']!r}, which pi-edge does not know")
        if role is not None and fields["role"] != role:
            raise CredentialsError(f"{where} holds {fields['role']} credentials ({fields['name']!r}), not {role} "
                                   "credentials" + (": give the NAME.creds 'pi-edge hub enroll NAME' wrote"
                                                    if role == "host" else ""))
        ca = _CA.search(text)
        return cls(fields["role"], fields["name"], seed[1], ca[0] if ca else None)
