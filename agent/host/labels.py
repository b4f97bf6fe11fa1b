"""A host's labels: what ``deploy --label`` and ``hosts`` pick hosts by.

The agent adds a few about the machine itself; the user's own may not pose as those.
"""

from __future__ import annotations

import platform

from pi_edge.agent.errors import ConfigError

LABEL_RULE = "KEY=VALUE (letters, digits, '-', '_', '.', '/' in the key)"
#: Labels every host gets from the agent itself; a configured label may not pose as one of them.
AUTOMATIC_LABELS = ("arch", "os", "display", "name")


def is_label_key(key: str) -> bool:
    """Whether ``key`` can be a label key that ``deploy --label`` can match on."""
    return bool(key) and all(c.isalnum() or c in "-_./" for c in key)


def parse_labels(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` flags into a dict; keys are checked so they can be matched on."""
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not is_label_key(key):
            raise ConfigError(f"label {item!r} is not {LABEL_RULE}")
        labels[key] = value.strip()
    return labels


def host_labels(name: str, driver: str, configured: dict[str, str]) -> dict[str, str]:
    """The labels the host knows about itself, with the configured ones added."""
    found = dict(zip(AUTOMATIC_LABELS, (platform.machine(), platform.system().lower(), driver, name), strict=True))
    return {**found, **configured}


def automatic(labels: dict[str, str]) -> dict[str, str]:
    """The agent's own labels among ``labels`` (a reload keeps them and replaces the rest)."""
    return {k: v for k, v in labels.items() if k in AUTOMATIC_LABELS}
