"""Signed manifests of compiled artifacts: what a host checks before it runs native code it did not compile.

A compiled artifact is machine code that runs outside the Wasm sandbox, and
wasmtime checks nothing but its engine header (a flipped code byte loads).  So
a host loads one from the hub only if its manifest is signed by a key the
host trusts for compiled code (``trust_compiled``: account keys, apart from
the issuers it trusts for actors), names the component the host wants and the
engine it has (wasmtime version, triple, CPU profile, settings), and the
bytes match the manifest's sha256, size and engine header.  Anything else is
refused with the reason, and the host compiles for itself.  A Pi's own key
signs nothing here: a stolen Pi cannot make another run code it chose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import nkeys

from pi_edge.agent.errors import ArtifactError
from pi_edge.agent.trust import claims
from pi_edge.agent.wasm.engine_header import EngineHeader, read_header
from pi_edge.agent.wasm.targets import EngineKey

FORMAT = 1
#: Manifests larger than this are not read (they are a few hundred bytes).
MAX_MANIFEST = 16 * 1024


@dataclass(frozen=True)
class Manifest:
    component: str  # the component's digest (without claims)
    engine: EngineKey
    isa_flags: tuple[str, ...]  # CPU features the code needs
    sha256: str  # of the artifact as it loads
    size: int
    compiled_by: str  # where it was compiled (for people: provenance, not trust)
    seconds: float
    peak_rss_mib: int
    signer: str = ""  # the account key that signed it
    signature: str = ""

    def signed_part(self) -> bytes:
        fields = asdict(self)
        fields.pop("signature")
        fields["format"] = FORMAT
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "format": FORMAT}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Strictly: every field of its type, or ArtifactError naming the first that is not."""
        if len(text) > MAX_MANIFEST:
            raise ArtifactError(f"the artifact's manifest is {len(text)} bytes, more than {MAX_MANIFEST}")
        try:
            raw = json.loads(text)
        except ValueError:
            raise ArtifactError("the artifact's manifest is not JSON") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ArtifactError(f"the artifact's manifest is not format {FORMAT}")
        engine = _field(raw, "engine", dict)
        try:
            key = EngineKey(**{k: _field(engine, k, str) for k in ("wasmtime", "triple", "profile", "config")})
        except TypeError:
            raise ArtifactError("the artifact's manifest has a malformed engine") from None
        flags = _field(raw, "isa_flags", list)
        if not all(isinstance(f, str) for f in flags):
            raise ArtifactError("the artifact's manifest field 'isa_flags' must list names")
        return cls(component=_field(raw, "component", str), engine=key, isa_flags=tuple(flags),
                   sha256=_field(raw, "sha256", str), size=_field(raw, "size", int),
                   compiled_by=_field(raw, "compiled_by", str), seconds=float(_field(raw, "seconds", (int, float))),
                   peak_rss_mib=_field(raw, "peak_rss_mib", int), signer=_field(raw, "signer", str),
                   signature=_field(raw, "signature", str))


def _field(raw: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ArtifactError(f"the artifact's manifest field {name!r} is missing or of the wrong type")
    return value


def describe(component: str, engine: EngineKey, data: bytes, compiled_by: str, stats: dict[str, Any]) -> Manifest:
    """The unsigned manifest of ``data``, checked against its own engine header first."""
    header = read_header(data)
    manifest = Manifest(component, engine, header.isa_flags_on, hashlib.sha256(data).hexdigest(), len(data),
                        compiled_by, float(stats.get("seconds", 0.0)), int(stats.get("peak_rss_mib", 0)))
    check_bytes(manifest, data)
    return manifest


def sign(manifest: Manifest, key: nkeys.KeyPair) -> Manifest:
    unsigned = replace(manifest, signer=key.public_key.decode(), signature="")
    return replace(unsigned, signature=base64.urlsafe_b64encode(key.sign(unsigned.signed_part())).decode())


def check_manifest(manifest: Manifest, component: str, engine: EngineKey, trusted: frozenset[str],
                   cpu_flags: tuple[str, ...] = ()) -> None:
    """Whether this host may load what ``manifest`` describes (``cpu_flags``: what its profile may need);
    ArtifactError with the reason if not."""
    if manifest.component != component:
        raise ArtifactError(f"the artifact is for component {manifest.component[:12]}…, not {component[:12]}…")
    if manifest.engine != engine:
        theirs, mine = manifest.engine.as_dict(), engine.as_dict()
        what = ", ".join(f"{k} {theirs[k]} (here {mine[k]})" for k in mine if theirs[k] != mine[k])
        raise ArtifactError(f"the artifact was compiled for another engine: {what}")
    if set(manifest.isa_flags) - set(cpu_flags):
        raise ArtifactError(f"the artifact needs CPU features beyond profile {engine.profile}: "
                            f"{', '.join(sorted(set(manifest.isa_flags) - set(cpu_flags)))}")
    if manifest.signer not in trusted:
        raise ArtifactError(f"the artifact is signed by {manifest.signer[:12] or 'nobody'}…, which this host does "
                            "not trust for compiled code (trust_compiled)")
    try:
        signature = base64.urlsafe_b64decode(manifest.signature)
    except (binascii.Error, ValueError):
        raise ArtifactError("the artifact's signature is not base64") from None
    if not claims.verify_signature(manifest.signer, manifest.signed_part(), signature):
        raise ArtifactError("the artifact's manifest does not match its signature: it was altered")


def check_bytes(manifest: Manifest, data: bytes) -> None:
    """Whether ``data`` is what the manifest describes, to the byte and by its own engine header."""
    check_stored(manifest, hashlib.sha256(data).hexdigest(), len(data), read_header(data))


def check_stored(manifest: Manifest, sha256: str, size: int, header: EngineHeader) -> None:
    """``check_bytes`` for an artifact already written (its hash and size taken on the way, its header read)."""
    if size != manifest.size or sha256 != manifest.sha256:
        raise ArtifactError(f"the artifact arrived damaged: {size} bytes that do not hash to its manifest's "
                            f"sha256 {manifest.sha256[:12]}…")
    if header.version != manifest.engine.wasmtime.split(".")[0] or header.triple != manifest.engine.triple:
        raise ArtifactError(f"the artifact's header says wasmtime {header.version} for {header.triple}, its manifest "
                            f"wasmtime {manifest.engine.wasmtime} for {manifest.engine.triple}")
    if set(header.isa_flags_on) - set(manifest.isa_flags):
        raise ArtifactError(f"the artifact needs CPU features its manifest does not name: "
                            f"{', '.join(sorted(set(header.isa_flags_on) - set(manifest.isa_flags)))}")
