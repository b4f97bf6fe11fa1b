"""NATS URLs and addresses: joining an address and a port, hiding secrets from logs, checking a URL's form."""

from __future__ import annotations

from urllib.parse import urlsplit

#: What nats-server dials a leafnode remote with; anything else it misreads (``laptop:7422`` dials ``:7422``).
HUB_SCHEMES = ("nats-leaf", "nats", "tls", "ws", "wss")


#: What the NATS client (nats-py) connects with.
NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def address_port(address: str, port: int) -> str:
    """``address:port``, an IPv6 address in brackets (``[::1]:4222``) so that the port can be told apart."""
    return f"[{address}]:{port}" if ":" in address and not address.startswith("[") else f"{address}:{port}"


def redact(url: str) -> str:
    """A URL fit for logs: user info replaced."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}" if "@" in rest else url


def is_url(value: str, schemes: tuple[str, ...]) -> bool:
    """``value`` has one of ``schemes``, a host, and a port that is a number if it has one."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return url.scheme in schemes and bool(url.hostname)
