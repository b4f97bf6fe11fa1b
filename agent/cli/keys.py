"""``pi-edge keys gen``, ``pi-edge sign`` and ``pi-edge inspect``: making and reading signed actors."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nkeys

from pi_edge.agent.cli.arguments import Subcommands
from pi_edge.agent.errors import ConfigError
from pi_edge.agent.files import write_output
from pi_edge.agent.trust import claims

_DURATION = re.compile(r"(\d+)([smhdwy])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str) -> int:
    """``30d``, ``12h``, ``1y``... in seconds."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise ConfigError(f"--expires {text!r}: write a whole number and a unit, e.g. 30d, 12h, 1y")
    if int(m[1]) == 0:
        raise ConfigError(f"--expires {text!r}: claims that expire at once could never run; give a positive "
                          "duration, or leave --expires out for claims that do not expire")
    return int(m[1]) * _SECONDS[m[2]]


def read_seed(value: str) -> str:
    """A seed given directly, or the path of a file holding one (so it stays out of shell history)."""
    if value.startswith("S") and not Path(value).exists():
        return value
    try:
        return Path(value).read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{value} does not hold a seed (it is not text); give the file 'pi-edge keys gen' "
                          "wrote") from None
    except OSError as exc:
        raise ConfigError(f"cannot read a seed from {value}: {exc.strerror or exc} (give a seed file, or the "
                          "seed itself, which starts with 'S')") from None


def seed_of(flag: str, value: str, kind: str) -> nkeys.KeyPair:
    """The key pair of ``value``, refused unless it is a ``kind`` key: hosts trust account keys as issuers
    only, so a claim signed by any other kind could never run anywhere."""
    key = claims.key_from_seed(read_seed(value))
    got = claims.key_kind(key) or "other"
    if got != kind:
        raise ConfigError(f"{flag} needs {_a(kind)} seed, got {_a(got)} seed (make one with "
                          f"'pi-edge keys gen {kind}')")
    return key


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _read_component(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def cmd_keys(args: argparse.Namespace) -> int:
    key = claims.generate_key(args.kind)
    public, seed = key.public_key.decode(), key.seed.decode()
    if args.output:
        try:
            _write_private(args.output, seed)
        except FileExistsError:
            raise ConfigError(f"{args.output} exists; keys are never overwritten") from None
        sys.stdout.write(f"{args.kind} public key: {public}\nseed written to {args.output} (mode 0600)\n")
    else:
        sys.stdout.write(f"{args.kind} public key: {public}\nseed (keep it secret): {seed}\n")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    wasm = _read_component(args.component)
    issuer = seed_of("--issuer", args.issuer, "account")
    actor = seed_of("--actor-seed", args.actor_seed, "actor") if args.actor_seed else claims.generate_key("actor")
    started = time.perf_counter()
    signed = claims.sign(wasm, issuer, actor, args.cap or list(claims.CAPABILITIES),
                         parse_duration(args.expires) if args.expires else None, args.name or "", args.version or "")
    output: Path = args.output or args.component
    write_output(output, signed)
    got = claims.read_claims(claims.extract_token(signed) or "")
    sys.stdout.write(f"signed {output}: issuer {got.issuer}, actor {got.subject}, "
                     f"capabilities {', '.join(got.capabilities)} ({(time.perf_counter() - started) * 1000:.0f} ms)\n")
    return 0


def _when(stamp: int | None) -> str:
    return "never" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def cmd_inspect(args: argparse.Namespace) -> int:
    wasm = _read_component(args.component)
    token = claims.extract_token(wasm)
    if token is None:
        sys.stdout.write(f"{args.component}: not signed (digest {claims.component_digest(wasm)})\n")
        return 1
    c = claims.read_claims(token)
    intact = claims.component_digest(wasm) == c.digest
    now = time.time()
    expired = c.expires is not None and now >= c.expires
    not_yet = c.not_before is not None and now < c.not_before
    rows = [("component", str(args.component)), ("name", c.name or "-"), ("version", c.version or "-"),
            ("issuer", c.issuer), ("actor", c.subject), ("capabilities", ", ".join(c.capabilities) or "none"),
            ("issued", _when(c.issued_at)),
            ("expires", _when(c.expires) + (" (EXPIRED: hosts refuse it; sign it again)" if expired else "")),
            *([("not before", f"{_when(c.not_before)} (NOT YET VALID: hosts refuse it until then)")]
              if not_yet else []),
            ("digest", f"{c.digest} ({'matches' if intact else 'DOES NOT MATCH: changed after signing'})")]
    sys.stdout.write("".join(f"{k:<13}{v}\n" for k, v in rows))
    return 0 if intact and not expired and not not_yet else 1


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("keys", help="make Ed25519 nkeys for accounts, actors and hosts",
                       description="Make Ed25519 key pairs (nkeys). An account key signs actors ('pi-edge sign "
                                   "--issuer'); agents --trust its public key.")
    keys = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen = keys.add_parser("gen", help="generate a key pair", description="Generate an nkey: 'account' keys "
                          "sign actors (hosts --trust their public key), 'actor' keys name an actor, 'host' keys "
                          "identify a host. Prints the public key; the seed goes to -o FILE (mode 0600) or stdout.")
    gen.add_argument("kind", choices=sorted(claims.KEY_KINDS),
                     help="account (signs actors), actor (names one) or host (identifies one)")
    gen.add_argument("-o", "--output", type=Path, help="write the seed here instead of printing it")
    gen.set_defaults(func=cmd_keys)

    p = sub.add_parser("sign", help="embed signed claims in a built actor",
                       description="Sign COMPONENT: a JWT (issuer, actor key, digest of the component, "
                                   "capabilities, times, name, version) signed by the issuer's account key, "
                                   "stored in a custom section. Hosts that --trust the issuer run it.")
    p.add_argument("component", type=Path, metavar="COMPONENT",
                   help="the built component (.wasm) to sign; signed in place unless -o is given")
    p.add_argument("--issuer", required=True, metavar="SEED", help="account seed, or a file holding it")
    p.add_argument("--cap", action="append", choices=claims.CAPABILITIES,
                   help="capability to grant; repeatable (default: all of them)")
    p.add_argument("--expires", metavar="DURATION", help="e.g. 30d, 12h, 1y (default: never)")
    p.add_argument("--actor-seed", metavar="SEED", help="the actor's key, to keep its identity across builds "
                   "(default: a new one)")
    p.add_argument("--name", help="actor name recorded in the claims")
    p.add_argument("--version", help="version recorded in the claims")
    p.add_argument("-o", "--output", type=Path, help="write here (default: sign in place)")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("inspect", help="print a component's claims",
                       description="Print the claims of COMPONENT and whether it is unchanged since signing. "
                                   "Exit 1 if unsigned, changed, expired or not valid yet.")
    p.add_argument("component", type=Path, metavar="COMPONENT", help="the component (.wasm) to read")
    p.set_defaults(func=cmd_inspect)
