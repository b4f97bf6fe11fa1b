"""The hub's enrolment: which Pis may join, each by its own key, and the operator's credentials.

Kept in the hub's state directory (mode 0700)::

    enrolled.json       {"hosts": {"pi-01": {"key": "U...", "since": 1733390000.0}}}  public keys only
    operator.creds      the laptop commands' credentials (0600)

``enroll`` makes a new key for a host and hands back its credentials (the
hub keeps only the public key); ``revoke`` forgets the key.  The running hub
is told by ``hub.admin``; a hub that is not running reads the table at its
next start.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pi_edge.agent.errors import CredentialsError, EnrolmentError
from pi_edge.agent.files import write_atomically
from pi_edge.agent.lattice import subjects
from pi_edge.agent.trust.credentials import Credentials

log = logging.getLogger("pi_edge.enrolment")

TABLE = "enrolled.json"
OPERATOR = "operator.creds"
TLS_DIR = "tls"
CA_FILE = "ca.pem"


@dataclass(frozen=True)
class Enrolled:
    name: str
    key: str  # the host's public nkey (U...)
    since: float  # when it was enrolled (wall clock)


def private_dir(path: Path) -> Path:
    """``path``, created with mode 0700 (the hub's state holds the operator's key)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


class Enrolment:
    """The enrolment table and the operator's credentials in a hub's state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.table = state_dir / TABLE
        self.operator_path = state_dir / OPERATOR

    def hosts(self) -> dict[str, Enrolled]:
        """Every enrolled host by name; EnrolmentError if the table is damaged (never guessed at: it decides who
        is let in)."""
        try:
            raw = json.loads(self.table.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise EnrolmentError(f"{self.table} cannot be read ({exc}); restore it from a backup, or move it away "
                                 "and enrol the Pis again") from None
        try:
            return {name: Enrolled(subjects.check_token("host", name), str(entry["key"]), float(entry["since"]))
                    for name, entry in dict(raw["hosts"]).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise EnrolmentError(f"{self.table} is damaged ({exc!r}); restore it from a backup, or move it away "
                                 "and enrol the Pis again") from None

    def _save(self, hosts: dict[str, Enrolled]) -> None:
        data = {"hosts": {h.name: {"key": h.key, "since": h.since} for h in sorted(hosts.values(),
                                                                                  key=lambda h: h.name)}}
        private_dir(self.dir)
        write_atomically(self.table, (json.dumps(data, indent=2) + "\n").encode(), mode=0o600)

    def ca_pem(self) -> str | None:
        """The hub's private CA, if it made one (``pi-edge hub --tls``)."""
        try:
            return (self.dir / TLS_DIR / CA_FILE).read_text(encoding="ascii")
        except FileNotFoundError:
            return None

    def enroll(self, name: str, into: Path) -> Credentials:
        """A new key for ``name``: its credentials written to ``into`` (0600) for the Pi, its public half kept
        here.  Both or neither: a key nobody holds is never enrolled."""
        subjects.check_token("host", name)
        hosts = self.hosts()
        if name in hosts:
            since = time.strftime("%Y-%m-%d %H:%M", time.localtime(hosts[name].since))
            raise EnrolmentError(f"host {name!r} is already enrolled (since {since}); to give it a new key, "
                                 f"'pi-edge hub revoke {name}' first (its old key stops working)")
        creds = Credentials.generate("host", name, self.ca_pem())
        try:
            creds.write(into)
        except OSError as exc:
            raise EnrolmentError(f"cannot write {into}: {exc.strerror or exc}; {name} is not enrolled") from None
        hosts[name] = Enrolled(name, creds.public_key, time.time())
        try:
            self._save(hosts)
        except OSError as exc:
            into.unlink(missing_ok=True)
            raise EnrolmentError(f"cannot save {self.table}: {exc.strerror or exc}; {name} is not enrolled") from None
        return creds

    def revoke(self, name: str) -> Enrolled:
        hosts = self.hosts()
        if name not in hosts:
            known = ", ".join(sorted(hosts)) or "none"
            raise EnrolmentError(f"host {name!r} is not enrolled (enrolled: {known})")
        gone = hosts.pop(name)
        try:
            self._save(hosts)
        except OSError as exc:
            raise EnrolmentError(f"cannot save {self.table}: {exc.strerror or exc}; {name} is still enrolled") from None
        return gone

    def operator(self) -> Credentials:
        """The operator's credentials, made on first use (with the CA, if the hub has one)."""
        ca = self.ca_pem()
        try:
            creds = Credentials.read(self.operator_path, role="operator")
        except CredentialsError:
            if self.operator_path.exists():
                raise
            private_dir(self.dir)
            creds = Credentials.generate("operator", "operator", ca)
            creds.write(self.operator_path)
            log.info("hub: made the operator's credentials in %s", self.operator_path)
            return creds
        if creds.ca_pem != ca:  # the hub has made (or lost) its CA since: keep the file in step
            creds = Credentials(creds.role, creds.name, creds.seed, ca)
            creds.write(self.operator_path)
        return creds
