"""Signed claims inside a component, in the spirit of wasmCloud's: who issued it, which actor it
is, what it may touch, and until when.

The claims are a JWT signed with an Ed25519 nkey, stored in a custom section
(``pi-edge-claims``) appended to the component.  They name the sha256 of the
component *without* that section, so flipping one byte anywhere else breaks
them.  Custom sections do not change what the component does, so a signed
component runs anywhere an unsigned one does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing
import nkeys

from pi_edge.agent.errors import ClaimsError, ComponentFormatError
from pi_edge.agent.wasm import binary

SECTION = "pi-edge-claims"
CAPABILITIES = ("display", "logging")
_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
KEY_KINDS = {"account": nkeys.PREFIX_BYTE_ACCOUNT, "actor": nkeys.PREFIX_BYTE_USER, "host": nkeys.PREFIX_BYTE_SERVER}



@dataclass(frozen=True)
class Claims:
    issuer: str  # public key of the account that signed
    subject: str  # public key of the actor
    digest: str  # sha256 of the component without the claims section
    capabilities: tuple[str, ...]
    issued_at: int
    expires: int | None = None
    not_before: int | None = None
    name: str = ""
    version: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def to_payload(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "iss": self.issuer, "sub": self.subject, "iat": self.issued_at, "jti": secrets.token_hex(8),
            "pi-edge": {"digest": self.digest, "caps": list(self.capabilities), "name": self.name,
                        "version": self.version},
        }
        if self.expires is not None:
            payload["exp"] = self.expires
        if self.not_before is not None:
            payload["nbf"] = self.not_before
        return payload


# -- keys ----------------------------------------------------------------------------------


def generate_key(kind: str) -> nkeys.KeyPair:
    if kind not in KEY_KINDS:
        raise ClaimsError(f"unknown key kind {kind!r}; use one of: {', '.join(KEY_KINDS)}")
    return nkeys.from_seed(bytearray(nkeys.encode_seed(secrets.token_bytes(32), KEY_KINDS[kind])))


def key_from_seed(seed: str) -> nkeys.KeyPair:
    try:
        return nkeys.from_seed(bytearray(seed.strip().encode()))
    except (nkeys.NkeysError, ValueError, binascii.Error) as exc:
        raise ClaimsError(f"not an nkey seed ({type(exc).__name__}); seeds start with 'S' "
                          "and come from 'pi-edge keys gen'") from None


def _raw_key(public: str) -> bytes:
    """An nkey public key's bytes: prefix byte, 32-byte Ed25519 key, crc16 (checked)."""
    try:
        raw = base64.b32decode(public + "=" * (-len(public) % 8))
    except (binascii.Error, ValueError):
        raise ClaimsError(f"{public[:12]}… is not an nkey public key") from None
    if len(raw) != 35 or nkeys.crc16(bytearray(raw[:-2])) != int.from_bytes(raw[-2:], "little"):
        raise ClaimsError(f"{public[:12]}… is not an nkey public key (bad length or checksum)")
    return raw


def _verify_key(public: str) -> nacl.signing.VerifyKey:
    """An nkey public key (base32, prefix byte, crc16) as an Ed25519 verify key."""
    return nacl.signing.VerifyKey(_raw_key(public)[1:33])


def verify_signature(public: str, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the Ed25519 signature of ``data`` by the nkey ``public``."""
    try:
        _verify_key(public).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, ClaimsError, ValueError):
        return False
    return True


def is_public_key(public: str, kind: str) -> bool:
    """Whether ``public`` is a well-formed public key of ``kind`` (a KEY_KINDS name): a typo fails the checksum."""
    try:
        return bool(_raw_key(public)[0] == KEY_KINDS[kind])
    except ClaimsError:
        return False


def key_kind(key: nkeys.KeyPair) -> str | None:
    """Which KEY_KINDS name ``key`` is, from its public key's prefix byte; None for any other nkey."""
    prefix = _raw_key(key.public_key.decode())[0]
    return next((kind for kind, byte in KEY_KINDS.items() if byte == prefix), None)


# -- the custom section ------------------------------------------------------------------


def is_component(wasm: bytes) -> bool:
    """Whether ``wasm`` starts as a component does (not a core module, not some other file)."""
    return binary.is_component(wasm)


def _sections(wasm: bytes) -> list[binary.Section]:
    """Top-level sections; ClaimsError if they cannot be read."""
    try:
        return list(binary.sections(wasm))
    except ComponentFormatError as exc:
        raise ClaimsError(str(exc)) from None


def strip_claims(wasm: bytes) -> bytes:
    """The component without any claims section: what the digest covers."""
    kept = [wasm[:len(binary.PREAMBLE)]]
    kept += [wasm[s.start:s.end] for s in _sections(wasm) if s.name != SECTION]
    return b"".join(kept)


def extract_token(wasm: bytes) -> str | None:
    for section in _sections(wasm):
        if section.name == SECTION:
            return binary.custom_payload(wasm, section).decode("ascii", "replace")
    return None


def component_digest(wasm: bytes) -> str:
    return hashlib.sha256(strip_claims(wasm)).hexdigest()


# -- signing and verifying ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(wasm: bytes, issuer: nkeys.KeyPair, actor: nkeys.KeyPair, capabilities: list[str],
         expires_in: int | None = None, name: str = "", version: str = "") -> bytes:
    """The component with claims embedded (any earlier claims replaced)."""
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise ClaimsError(f"unknown capability {', '.join(unknown)}; the world grants: {', '.join(CAPABILITIES)}")
    bare = strip_claims(wasm)
    now = int(time.time())
    claims = Claims(issuer=issuer.public_key.decode(), subject=actor.public_key.decode(),
                    digest=hashlib.sha256(bare).hexdigest(), capabilities=tuple(sorted(set(capabilities))),
                    issued_at=now, expires=now + expires_in if expires_in else None, name=name, version=version)
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims.to_payload()).encode())}"
    token = f"{signing_input}.{_b64(issuer.sign(signing_input.encode()))}".encode()
    payload = binary.leb(len(SECTION)) + SECTION.encode() + token
    return bare + bytes([binary.CUSTOM]) + binary.leb(len(payload)) + payload


def read_claims(token: str) -> Claims:
    """Decode and check the signature; says exactly what is wrong."""
    try:
        head, body, signature = token.split(".")
        header, payload = json.loads(_unb64(head)), json.loads(_unb64(body))
        sig = _unb64(signature)
    except (ValueError, binascii.Error):
        raise ClaimsError("the claims are not a well-formed JWT") from None
    if header.get("alg") != _HEADER["alg"]:
        raise ClaimsError(f"the claims use algorithm {header.get('alg')!r}, not {_HEADER['alg']}")
    try:
        _verify_key(str(payload["iss"])).verify(f"{head}.{body}".encode(), sig)
    except nacl.exceptions.BadSignatureError:
        raise ClaimsError("the claims' signature does not match their issuer: they were altered") from None
    except KeyError:
        raise ClaimsError("the claims name no issuer") from None
    mine = dict(payload.get("pi-edge", {}))
    try:
        return Claims(issuer=str(payload["iss"]), subject=str(payload["sub"]), digest=str(mine["digest"]),
                      capabilities=tuple(str(c) for c in mine.get("caps", [])), issued_at=int(payload["iat"]),
                      expires=int(payload["exp"]) if "exp" in payload else None,
                      not_before=int(payload["nbf"]) if "nbf" in payload else None,
                      name=str(mine.get("name", "")), version=str(mine.get("version", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ClaimsError(f"the claims lack a field the host needs ({exc})") from None


@dataclass(frozen=True)
class TrustPolicy:
    """Which issuers a host believes, and whether it runs unsigned code (development only)."""

    trusted: frozenset[str] = frozenset()
    allow_unsigned: bool = False

    def check(self, wasm: bytes, now: float | None = None) -> Claims | None:
        """The verified claims, None for an allowed unsigned component, or ClaimsError with the reason."""
        token = extract_token(wasm)
        if token is None:
            self.admit(None, now)
            return None
        claims = read_claims(token)
        if component_digest(wasm) != claims.digest:
            raise ClaimsError("the component does not match its claims' digest: it was changed after signing")
        self.admit(claims, now)
        return claims

    def admit(self, claims: Claims | None, now: float | None = None) -> None:
        """Whether claims already verified (None: unsigned) are accepted now, else ClaimsError with the reason.

        Apart from ``check`` so that a reload can judge running actors again under new trust without their bytes.
        """
        if claims is None:
            if self.allow_unsigned:
                return
            raise ClaimsError("the component is not signed; sign it with 'pi-edge sign' "
                              "(or run the agent with --allow-unsigned, for development only)")
        moment = time.time() if now is None else now
        if claims.expires is not None and moment >= claims.expires:
            expired = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(claims.expires))
            raise ClaimsError(f"the claims expired at {expired} UTC")
        if claims.not_before is not None and moment < claims.not_before:
            raise ClaimsError("the claims are not valid yet (not-before is in the future)")
        if claims.issuer not in self.trusted:
            raise ClaimsError(f"issuer {claims.issuer} is not trusted by this host; add it with --trust")
