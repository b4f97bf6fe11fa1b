"""Actors this host builds from source (``--actor name=DIR``, the built-in oled-text) are signed with
the host's own key, granting the whole world: the host trusts itself."""

from __future__ import annotations

from pathlib import Path

import nkeys

from pi_edge.agent.trust import claims


def sign_local_build(name: str, built: Path, host_key: nkeys.KeyPair, state_dir: Path) -> Path:
    """The signed copy of ``built`` in ``state_dir/local``; signed again only when the build changed."""
    target = state_dir / "local" / f"{name}.wasm"
    wasm = built.read_bytes()  # 17 MiB for oled-text: read once
    if target.exists() and claims.component_digest(target.read_bytes()) == claims.component_digest(wasm):
        return target  # signed before, same build
    signed = claims.sign(wasm, host_key, claims.generate_key("actor"), list(claims.CAPABILITIES),
                         name=name, version="local build")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(signed)
    tmp.replace(target)
    return target
