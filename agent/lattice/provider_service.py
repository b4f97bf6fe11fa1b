"""This host's display, offered on the lattice to actors linked to it from elsewhere:
``pe.<lattice>.prov.<host>-display.<op>``.

Anyone who can reach the subject can send anything, so every request is read
strictly (each field its own JSON type: ``"false"`` is not a boolean, ``1e999``
not a contrast level) and every request is answered, the malformed ones with
what was wrong: nothing a request holds may leave its sender waiting.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pi_edge.agent.display.provider import ALIGNMENTS, DisplayProvider, TextOptions
from pi_edge.agent.errors import PiEdgeError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.replies import error_headers, expired

log = logging.getLogger("pi_edge.remote_provider")

OPS = ("info", "clear", "show-text", "show-bitmap", "set-contrast", "set-power", "set-invert")
T = TypeVar("T")
_KINDS: dict[type, str] = {bool: "true or false", int: "a whole number", str: "a string"}


def _arg(args: dict[str, Any], key: str, kind: type[T]) -> T:
    value = args.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"field {key!r} must be {_KINDS.get(kind, kind.__name__)}, "
                        f"got {json.dumps(value)[:40] if _plain(value) else type(value).__name__}")
    return value


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _options(args: dict[str, Any]) -> TextOptions:
    raw = args.get("options", {})
    if not isinstance(raw, dict):
        raise ValueError("field 'options' must be an object")
    align = raw.get("align", "center")
    if align not in ALIGNMENTS:
        raise ValueError(f"options.align must be one of {', '.join(ALIGNMENTS)}")
    size = raw.get("font_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise ValueError("options.font_size must be a whole number or null")
    return TextOptions(align=align, wrap=_arg({"wrap": raw.get("wrap", True)}, "wrap", bool), font_size=size)


def _operation(provider: DisplayProvider, op: str, args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The call ``args`` ask for, read before anything is called (ValueError for a malformed request)."""
    if op == "info":
        return lambda: dataclasses.asdict(provider.info())
    if op == "clear":
        return lambda: dataclasses.asdict(provider.clear())
    if op == "show-text":
        text, options = _arg(args, "text", str), _options(args)
        return lambda: dataclasses.asdict(provider.show_text(text, options))
    if op == "show-bitmap":
        try:
            bits = base64.b64decode(_arg(args, "bits", str), validate=True)
        except ValueError:
            raise ValueError("field 'bits' must be base64") from None
        width, height = _arg(args, "width", int), _arg(args, "height", int)
        return lambda: dataclasses.asdict(provider.show_bitmap(width, height, bits))
    setter: Callable[[], None]
    if op == "set-contrast":
        level = _arg(args, "level", int)
        setter = lambda: provider.set_contrast(level)  # noqa: E731
    elif op == "set-power":
        on = _arg(args, "on", bool)
        setter = lambda: provider.set_power(on)  # noqa: E731
    else:
        on = _arg(args, "on", bool)
        setter = lambda: provider.set_invert(on)  # noqa: E731

    def done() -> dict[str, Any]:
        setter()
        return {}

    return done


def _request(data: bytes) -> dict[str, Any]:
    try:
        args = json.loads(data) if data else {}
    except RecursionError:
        raise ValueError("the request is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"the request is not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise ValueError("the request must be a JSON object")
    return args


async def serve_provider(nc: Client, lattice: str, name: str, provider: DisplayProvider,
                         on_expired: Callable[[], None] = lambda: None) -> list[Subscription]:
    """Answer every display operation for ``provider`` under the instance name ``name``; a request past its
    deadline is dropped unrun (``on_expired`` counts it)."""
    async def answer(msg: Msg, body: bytes, failed: bool) -> None:
        if msg.reply:
            try:
                await nc.publish(msg.reply, body, headers=error_headers(body.decode()) if failed else None)
            except Exception as exc:
                log.warning("provider %s could not answer: %s", name, exc)

    async def handle(op: str, msg: Msg) -> None:
        if expired(msg.headers):
            log.info("provider %s: %s dropped: its sender gave up (past its deadline)", name, op)
            on_expired()
            return
        try:
            operation = _operation(provider, op, _request(msg.data))
        except ValueError as exc:
            await answer(msg, f"provider {name}: malformed {op} request: {exc}".encode(), failed=True)
            return
        try:
            result = await asyncio.to_thread(operation)
        except PiEdgeError as exc:
            await answer(msg, str(exc).encode(), failed=True)
        except Exception as exc:  # whatever a request provokes is answered, and the host serves on
            log.exception("provider %s: %s failed", name, op)
            await answer(msg, f"provider {name} failed on {op}: {type(exc).__name__}: {exc}".encode(), failed=True)
        else:
            await answer(msg, json.dumps(result).encode(), failed=False)

    return [await nc.subscribe(subjects.provider(lattice, name, op), cb=functools.partial(handle, op))
            for op in OPS]
