"""The agent's settings from flags, environment and /etc/pi-edge/agent.toml, in that order.

A flag beats ``PI_EDGE_<KEY>``, which beats the file, which beats the default.
A broken file, or a value in it that cannot work (a negative deadline, a host
name with a dot, a missing credentials file), stops the start with the file,
line and key in one sentence and exit code 78 (EX_CONFIG), which the systemd
unit does not restart in a loop.  Every value is checked here, once, whichever
of the three places it came from, so the message can name that place.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pi_edge.actors import BUILTIN
from pi_edge.agent.display.plugins import Setting, load_plugin
from pi_edge.agent.errors import ConfigError, ConfigFileError
from pi_edge.agent.host.labels import AUTOMATIC_LABELS, LABEL_RULE, is_label_key
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.urls import HUB_SCHEMES, NATS_SCHEMES, is_url, redact
from pi_edge.agent.trust import claims
from pi_edge.agent.trust.credentials import Credentials
from pi_edge.agent.wasm.limits import MIN_DEADLINE_MS, MIN_MEMORY_MB, MIN_MESSAGE_KB

DEFAULT_PATH = Path("/etc/pi-edge/agent.toml")



Check = Callable[[Any], Any]


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _at_least(low: int, unit: str, note: str = "") -> Check:
    """Numbers below ``low`` (or not finite) are refused; ``unit`` and ``note`` say what the number means."""
    def check(value: float) -> float:
        if not (math.isfinite(value) and value >= low):
            raise ValueError(f"must be at least {low} {unit}{note}, got {_number(value)}")
        return value
    return check


#: The shortest time between heartbeats: each one is an event every subscriber receives.
MIN_HEARTBEAT_S = 1


def _heartbeat(value: float) -> float:
    """0 or at least a second: 0.001 would be a thousand events a second on the lattice."""
    if not (value == 0 or (math.isfinite(value) and value >= MIN_HEARTBEAT_S)):
        raise ValueError(f"must be 0 (heartbeats off) or at least {MIN_HEARTBEAT_S} second, got {_number(value)}")
    return value


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a port number 0..65535 (0 picks a free one), got {value}")
    return value


def _address(value: str) -> str:
    """An address to listen on: caught here, or an empty one ends in a traceback from the NATS client."""
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"must be an address to listen on, like 127.0.0.1 or 0.0.0.0, got {value!r}")
    return value


def _hub(value: str) -> str:
    """The hub's leafnode URL: a typo here would otherwise retry an address that cannot work, every second."""
    if not is_url(value, HUB_SCHEMES):
        raise ValueError(f"must be the hub's leafnode URL, like nats-leaf://laptop.local:7422, got {redact(value)!r}")
    return value


def _nats_url(value: str) -> str:
    """An existing server's client URL: a typo here would exit 1 ("cannot reach"), which systemd restarts forever.

    Only the form is checked: a server that does not answer yet may come up later.
    """
    if not is_url(value, NATS_SCHEMES):
        raise ValueError("must be a NATS server's client URL with scheme nats, tls, ws or wss and a host, "
                         f"like nats://127.0.0.1:4222, got {redact(value)!r}")
    return value


def _token(value: str) -> str:
    """Names that become one NATS subject token: the rule ``subjects.check_token`` applies later."""
    if not subjects.is_token(value):
        raise ValueError(f"must use {subjects.TOKEN_RULE} (it becomes part of NATS subjects), got {value!r}")
    return value


def readable_file(path: Path) -> Path:
    """``path``, if it can be opened for reading; else ValueError("must name a readable file, got ...")."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"must name a readable file, got '{path}' ({exc.strerror or exc})") from None
    return path


def directory_problem(path: Path) -> str | None:
    """Why pi-edge cannot keep files in ``path`` (created here if missing), or None if it can.

    Checked at start, so a bad directory is one line naming the flag, variable or
    file line it came from, not a traceback from whatever first writes there.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "it is a file, not a directory"
    except OSError as exc:
        return exc.strerror or str(exc)
    if not os.access(path, os.W_OK | os.X_OK):
        return "this user cannot write to it"
    return None


def usable_dir(path: Path) -> Path:
    """``path``, created if missing; ValueError("must name a directory ...") if pi-edge cannot write there."""
    if (problem := directory_problem(path)) is not None:
        raise ValueError(f"must name a directory pi-edge can create and write to, got '{path}' ({problem})")
    return path


def _leaf_credentials(path: Path) -> Path:
    """The file must exist and hold what 'pi-edge hub enroll NAME' wrote, or the leaf would be refused later."""
    readable_file(path)
    try:
        Credentials.read(path, role="host")
    except ConfigError as exc:
        raise ValueError(f"must name the NAME.creds file 'pi-edge hub enroll NAME' wrote: {exc}") from None
    return path


def _account_keys(keys: list[str]) -> list[str]:
    for key in keys:
        if not claims.is_public_key(key, "account"):
            shown = "a seed (it starts with 'S'; give its public key)" if key.startswith("S") else (
                repr(key if len(key) <= 20 else key[:16] + "…"))
            raise ValueError("must list account public keys (56 characters starting with 'A', from "
                             f"'pi-edge keys gen account'), got {shown}")
    return keys


def _labels(labels: dict[str, str]) -> dict[str, str]:
    for key in labels:
        if not is_label_key(key.strip()):
            raise ValueError(f"must be {LABEL_RULE}, got key {key!r}")
        if key.strip() in AUTOMATIC_LABELS:
            raise ValueError(f"must not set {', '.join(AUTOMATIC_LABELS)}: the agent sets those itself "
                             f"(got {key.strip()}={labels[key]})")
    return labels


def _actors(actors: dict[str, str]) -> dict[str, str]:
    for name, path in actors.items():
        if not subjects.is_token(name):
            raise ValueError(f"must have names of {subjects.TOKEN_RULE}, got {name!r}")
        if path != BUILTIN and not Path(path).exists():
            raise ValueError(f"must map each name to \"{BUILTIN}\", a .wasm or an actor source directory; "
                             f"'{path}' (actor {name}) does not exist")
    return actors


#: A setting, as the configuration reads it (the display plugin's are of the same kind).
Key = Setting

AGENT_KEYS: tuple[Key, ...] = (
    Key("agent", "name", "str", None, "name", _token),
    Key("agent", "lattice", "str", "default", "lattice", _token),
    Key("agent", "hub", "str", None, "hub", _hub),
    Key("agent", "hub_credentials", "path", None, "hub_credentials", _leaf_credentials),
    Key("agent", "hub_ca", "path", None, "hub_ca", readable_file),
    Key("agent", "nats_url", "str", None, "nats_url", _nats_url),
    Key("agent", "listen", "str", "127.0.0.1", "listen", _address),
    Key("agent", "port", "int", 4222, "port", _port),
    Key("agent", "state_dir", "path", None, "state_dir", usable_dir),
    Key("agent", "cache_dir", "path", None, "cache_dir", usable_dir),
    Key("agent", "heartbeat", "float", 30.0, "heartbeat", _heartbeat),
    Key("agent", "labels", "map", {}, "label", _labels),
    Key("agent", "trust", "list", [], "trust", _account_keys),
    Key("agent", "trust_compiled", "list", [], "trust_compiled", _account_keys),
    Key("agent", "allow_unsigned", "bool", False, "allow_unsigned"),
    Key("agent", "actors", "map", {}, "actor", _actors),
    Key("limits", "deadline_ms", "int", 2000, "deadline_ms", _at_least(MIN_DEADLINE_MS, "milliseconds")),
    Key("limits", "memory_mb", "int", 256, "memory_mb", _at_least(MIN_MEMORY_MB, "MiB")),
    Key("limits", "max_message_kb", "int", 64, "max_message_kb", _at_least(MIN_MESSAGE_KB, "KiB")),
    Key("limits", "compile_memory_mb", "int", 0, "compile_memory_mb", _at_least(0, "MiB", " (0: what is free)")),
    Key("limits", "log_lines_per_s", "int", 100, "log_lines_per_s", _at_least(1, "lines a second")),
    Key("limits", "max_component_mb", "int", 64, "max_component_mb", _at_least(1, "MiB")),
    Key("shutdown", "grace_s", "float", 10.0, "grace_s", _at_least(0, "seconds"), flag="--grace"),
    Key("shutdown", "blank_display", "bool", False, "blank_display"),
)


def _plugin_keys() -> tuple[Key, ...]:
    """The display plugin's settings, which it owns (names, kinds, defaults, checks)."""
    try:
        return load_plugin().settings()
    except ConfigError:  # no display plugin installed: its settings are unknown keys, and the start says why
        return ()


KEYS: tuple[Key, ...] = AGENT_KEYS + _plugin_keys()
SECTIONS = sorted({k.section for k in KEYS})
#: Keys that had another name before: a file that still uses it is told the new one.
RENAMED = {("agent", "host"): "listen"}


def config_path(flag: Path | None, env: Mapping[str, str]) -> Path | None:
    """``--config``, else ``$PI_EDGE_CONFIG``, else /etc/pi-edge/agent.toml if it exists."""
    if flag is not None:
        return flag
    if env.get("PI_EDGE_CONFIG"):
        return Path(env["PI_EDGE_CONFIG"])
    return DEFAULT_PATH if DEFAULT_PATH.exists() else None


def _line_of(text: str, section: str, name: str) -> int | None:
    """The line of ``name`` in ``[section]``; with no section, the line of the ``[name]`` header."""
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if m := re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?", stripped):
            current = m[1]
            if not section and current == name:
                return number
        elif section and current == section and re.match(rf"{re.escape(name)}\s*=", stripped):
            return number
    return None


def read_file(path: Path) -> tuple[dict[str, dict[str, Any]], Callable[[str, str], str]]:
    """The file's tables, and a function that says where a key is (``file, line N``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None

    def where(section: str, name: str) -> str:
        line = _line_of(text, section, name)
        return f"{path}, line {line}" if line else str(path)

    known = {k.section: {x.name for x in KEYS if x.section == k.section} for k in KEYS}
    for section, table in data.items():
        if section not in known:
            raise ConfigFileError(f"{where('', section)}: unknown section [{section}]; "
                                  f"the sections are: {', '.join(f'[{s}]' for s in SECTIONS)}")
        if not isinstance(table, dict):
            raise ConfigFileError(f"{where('', section)}: '{section}' must be a [section]")
        for name in table:
            if name not in known[section]:
                renamed = f" ('{name}' is now '{RENAMED[section, name]}')" if (section, name) in RENAMED else ""
                raise ConfigFileError(f"{where(section, name)}: unknown key '{name}' in [{section}]{renamed}; "
                                      f"known keys: {', '.join(sorted(known[section]))}")
    return data, where


def _from_file(key: Key, value: Any, where: str) -> Any:
    def wrong(expected: str) -> ConfigFileError:
        return ConfigFileError(f"{where}: [{key.section}] {key.name} must be {expected}, got {value!r}")

    if key.kind == "str":
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if key.kind == "path":
        if not isinstance(value, str) or not value:
            raise wrong("a path (a string)")
        return Path(value)
    if key.kind == "address" and isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise wrong("an address like \"0x3C\" or 60") from None
    if key.kind in ("int", "address"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong("a whole number")
        return value
    if key.kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise wrong("a number")
        return float(value)
    if key.kind == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if key.kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong("a list of strings")
        return list(value)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise wrong("a table of strings, like { node = \"pi-01\" }")
    return {str(k): v for k, v in value.items()}


def _from_env(key: Key, raw: str) -> Any:
    where = f"environment variable {key.env}"
    try:
        if key.kind in ("str", "path"):
            return Path(raw) if key.kind == "path" else raw
        if key.kind in ("int", "address"):
            return int(raw, 0)
        if key.kind == "float":
            return float(raw)
        if key.kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if key.kind == "list":
            return [v.strip() for v in raw.split(",") if v.strip()]
        pairs = [p.strip() for p in raw.split(",") if p.strip()]
        if not all("=" in p for p in pairs):
            raise ValueError(raw)
        return dict(p.split("=", 1) for p in pairs)
    except ValueError:
        raise ConfigFileError(f"{where}={raw!r} is not a valid {key.kind} for {key.name}") from None


def _flag_value(key: Key, value: Any) -> Any:
    """Flags for maps arrive as lists of KEY=VALUE; only ``--actor`` may leave the name out (PATH alone)."""
    if key.kind == "map" and isinstance(value, list):
        if key.name != "actors":
            for v in value:
                if "=" not in v:
                    raise ValueError(f"must be {LABEL_RULE}, got {v!r}")
        return dict(v.split("=", 1) if "=" in v else (Path(v).name.removesuffix(".wasm").replace("_", "-"), v)
                    for v in value)
    return value


def _refused(key: Key, origin: str, where: str, reason: str) -> ConfigError:
    """One line naming the flag, variable or file line the value came from, in the words the user wrote.

    A flag is a typo at the terminal (exit 2, like argparse); the environment and
    the file are what systemd starts with, so they must not be restarted into (78).
    """
    if origin == "flag":
        return ConfigError(f"{key.option} {reason}")
    if origin == "env":
        return ConfigFileError(f"environment variable {key.env} {reason}")
    return ConfigFileError(f"{where}: [{key.section}] {key.name} {reason}")


def _name_matches_credentials(args: argparse.Namespace, places: Mapping[str, tuple[str, str]]) -> None:
    """A host key is enrolled for one name: an agent calling itself anything else would be refused by the hub
    (its permissions name the host), so it is refused here, in words."""
    creds_path, name = getattr(args, "hub_credentials", None), getattr(args, "name", None)
    if creds_path is None or name is None:
        return  # without a name, the agent takes the credentials' own
    enrolled = Credentials.read(creds_path, role="host").name
    if enrolled != name:
        key = next(k for k in KEYS if k.name == "name")
        origin, place = places["name"]
        raise _refused(key, origin, place, f"{name!r} does not match its credentials: {creds_path} is the key of host "
                       f"{enrolled!r}, and the hub lets it in only as {enrolled!r}; leave the name out (the "
                       f"credentials name the host) or use {name}'s own file ('pi-edge hub enroll {name}')")


def resolve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Fill every setting the flags left as None; returns the namespace and where each came from."""
    env = os.environ if env is None else env
    path = config_path(getattr(args, "config", None), env)
    data, where = read_file(path) if path else ({}, lambda s, n: "")
    origins = []
    places: dict[str, tuple[str, str]] = {}  # key name -> (origin, file place)
    for key in KEYS:
        flag = getattr(args, key.dest, None)
        place, origin = "", "default"
        try:
            if flag is not None and flag != []:
                origin = "flag"
                value = _flag_value(key, flag)
            elif key.env in env and env[key.env] != "":
                value, origin = _from_env(key, env[key.env]), "env"
            elif key.name in data.get(key.section, {}):
                place = where(key.section, key.name)
                value, origin = _from_file(key, data[key.section][key.name], place), "file"
            else:
                value, origin = (dict(key.default) if isinstance(key.default, dict) else
                                 list(key.default) if isinstance(key.default, list) else key.default), "default"
            if key.check is not None and origin != "default":
                value = key.check(value)
        except ValueError as exc:
            raise _refused(key, origin, place, str(exc)) from None
        setattr(args, key.dest, value)
        origins.append(f"{key.section}.{key.name}={origin}")
        places[key.name] = (origin, place)
    _name_matches_credentials(args, places)
    args.config_file = path
    args.config_where = where  # for values a plugin checks later, like the display's
    return args, origins
