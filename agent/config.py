"""The agent's settings from flags, environment and /etc/pi-edge/agent.toml, in that order.

A flag beats ``PI_EDGE_<KEY>``, which beats the file, which beats the default.
A broken file stops the start with the file, line and key in one sentence and
exit code 78 (EX_CONFIG), which the systemd unit does not restart in a loop.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_PATH = Path("/etc/pi-edge/agent.toml")
EX_CONFIG = 78


class ConfigFileError(ConfigError):
    """The configuration (file or environment) is wrong; systemd must not restart into it again."""

    exit_code = EX_CONFIG


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    kind: str  # str, int, float, bool, path, list, map
    default: Any
    dest: str  # the argparse destination it fills

    @property
    def env(self) -> str:
        return f"PI_EDGE_{self.name.upper()}"


KEYS: tuple[Key, ...] = (
    Key("agent", "name", "str", None, "name"),
    Key("agent", "lattice", "str", "default", "lattice"),
    Key("agent", "hub", "str", None, "hub"),
    Key("agent", "hub_credentials", "path", None, "hub_credentials"),
    Key("agent", "hub_ca", "path", None, "hub_ca"),
    Key("agent", "nats_url", "str", None, "nats_url"),
    Key("agent", "host", "str", "127.0.0.1", "host"),
    Key("agent", "port", "int", 4222, "port"),
    Key("agent", "state_dir", "path", None, "state_dir"),
    Key("agent", "cache_dir", "path", None, "cache_dir"),
    Key("agent", "heartbeat", "float", 30.0, "heartbeat"),
    Key("agent", "labels", "map", {}, "label"),
    Key("agent", "trust", "list", [], "trust"),
    Key("agent", "allow_unsigned", "bool", False, "allow_unsigned"),
    Key("agent", "actors", "map", {}, "actor"),
    Key("display", "display", "str", None, "display"),
    Key("display", "width", "int", 128, "width"),
    Key("display", "height", "int", 64, "height"),
    Key("display", "rotate", "int", 0, "rotate"),
    Key("display", "i2c_port", "int", 1, "i2c_port"),
    Key("display", "i2c_address", "int", 0x3C, "i2c_address"),
    Key("limits", "deadline_ms", "int", 2000, "deadline_ms"),
    Key("limits", "memory_mb", "int", 256, "memory_mb"),
    Key("limits", "max_message_kb", "int", 64, "max_message_kb"),
    Key("shutdown", "grace_s", "float", 10.0, "grace_s"),
    Key("shutdown", "blank_display", "bool", False, "blank_display"),
)
SECTIONS = sorted({k.section for k in KEYS})


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
                raise ConfigFileError(f"{where(section, name)}: unknown key '{name}' in [{section}]; "
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
    if key.kind == "int":
        if key.name == "i2c_address" and isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                raise wrong("an address like \"0x3C\" or 60") from None
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
        if key.kind == "int":
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
    """Flags for maps arrive as lists of KEY=VALUE."""
    if key.kind == "map" and isinstance(value, list):
        return dict(v.split("=", 1) if "=" in v else (Path(v).name.removesuffix(".wasm").replace("_", "-"), v)
                    for v in value)
    return value


def resolve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Fill every setting the flags left as None; returns the namespace and where each came from."""
    env = os.environ if env is None else env
    path = config_path(getattr(args, "config", None), env)
    data, where = read_file(path) if path else ({}, lambda s, n: "")
    origins = []
    for key in KEYS:
        flag = getattr(args, key.dest, None)
        if flag is not None and flag != []:
            value, origin = _flag_value(key, flag), "flag"
        elif key.env in env and env[key.env] != "":
            value, origin = _from_env(key, env[key.env]), "env"
        elif key.name in data.get(key.section, {}):
            value = _from_file(key, data[key.section][key.name], where(key.section, key.name))
            origin = "file"
        else:
            value, origin = (dict(key.default) if isinstance(key.default, dict) else
                             list(key.default) if isinstance(key.default, list) else key.default), "default"
        setattr(args, key.dest, value)
        origins.append(f"{key.section}.{key.name}={origin}")
    args.config_file = path
    return args, origins
