"""``pi-edge hub --tls``: a private CA and the hub's certificate, made on first start and kept.

The CA goes into every ``NAME.creds`` that ``enroll`` writes, so a Pi checks the
hub's certificate with no flag of its own.  The certificate names every name and
address a Pi may dial: this machine's hostname, ``HOSTNAME.local``, its
addresses, localhost, and whatever ``--tls-name`` adds; it is made again
(signed by the same CA) when that list changes.

Only the laptop needs this: ``cryptography`` is the ``hub`` extra
(``pip install 'pi-edge[hub]'``), and a Pi installs without it.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pi_edge.agent.errors import ConfigError
from pi_edge.agent.files import write_atomically
from pi_edge.agent.trust.enrolment import CA_FILE, TLS_DIR, private_dir

log = logging.getLogger("pi_edge.hub")

CA_KEY, CERT, KEY, NAMES = "ca-key.pem", "server.pem", "server-key.pem", "names.txt"
_DAYS_CA, _DAYS_CERT = 3650, 825


def machine_names(extra: Iterable[str] = ()) -> list[str]:
    """What Pis may put in ``--hub`` to reach this machine: names and addresses, sorted, no duplicates."""
    host = socket.gethostname()
    names = {"localhost", "127.0.0.1", "::1", host, f"{host.split('.')[0]}.local", socket.getfqdn(), *extra}
    try:
        names |= {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        pass
    return sorted(n for n in names if n and "%" not in n)


def _crypto() -> Any:
    try:
        from cryptography import x509
    except ImportError:
        raise ConfigError("pi-edge hub --tls makes its certificates with the 'cryptography' package, which is "
                          "not installed: pip install 'pi-edge[hub]' (or bring your own with --tls-cert/--tls-key)"
                          ) from None
    return x509


def ensure_hub_tls(state_dir: Path, extra_names: Iterable[str] = ()) -> tuple[Path, Path]:
    """The hub's certificate and key (made, with the CA, if missing or if the names changed)."""
    x509 = _crypto()
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = private_dir(state_dir / TLS_DIR)
    names = machine_names(extra_names)
    cert_path, key_path = folder / CERT, folder / KEY
    now = datetime.datetime.now(datetime.UTC)

    def pem_key(key: Any) -> bytes:
        return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

    if not (folder / CA_FILE).exists() or not (folder / CA_KEY).exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pi-edge hub CA ({socket.gethostname()})")])
        ca = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=_DAYS_CA))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                           crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        write_atomically(folder / CA_KEY, pem_key(ca_key), mode=0o600)
        write_atomically(folder / CA_FILE, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
        (folder / NAMES).unlink(missing_ok=True)
        log.info("hub: made a private CA in %s (enrol writes it into each NAME.creds)", folder / CA_FILE)
    current = (folder / NAMES).read_text().split() if (folder / NAMES).exists() else []
    if current != names or not cert_path.exists() or not key_path.exists():
        signer: Any = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
        ca = x509.load_pem_x509_certificate((folder / CA_FILE).read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[Any] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname())]))
                .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=_DAYS_CERT))
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(signer, hashes.SHA256()))
        write_atomically(key_path, pem_key(key), mode=0o600)
        write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
        write_atomically(folder / NAMES, ("\n".join(names) + "\n").encode(), mode=0o644)
        log.info("hub: certificate for %s", ", ".join(names))
    return cert_path, key_path
