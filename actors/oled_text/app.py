"""oled-text: show a message's body on the display, centred and word-wrapped like a sign.

An empty body, or an ``op: clear`` header, clears the screen instead.  The
reply is a one-line confirmation the laptop prints.
"""

from componentize_py_types import Err

from wit_world import exports
from wit_world.exports import handler
from wit_world.imports import display, logging

CONTEXT = "oled-text"


def _header(msg: handler.Message, name: str) -> str | None:
    wanted = name.lower()
    for key, value in msg.headers:
        if key.lower() == wanted:
            return value
    return None


def _log(level: logging.Level, message: str) -> None:
    logging.log(level, CONTEXT, message)


class Handler(exports.Handler):
    def handle(self, msg: handler.Message) -> bytes:
        op = (_header(msg, "op") or "show").strip().lower()
        if op == "clear" or (op == "show" and not msg.body):
            display.clear()
            _log(logging.Level.INFO, "cleared the display")
            return b"cleared"
        if op != "show":
            raise Err(f"unknown op {op!r}: use 'show' or 'clear'")
        try:
            text = bytes(msg.body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Err(f"message body is not UTF-8 text ({exc.reason} at byte {exc.start})")
        options = display.TextOptions(align=display.Align.CENTER, wrap=True, font_size=None)
        layout = display.show_text(text, options)
        note = " (cut to fit)" if layout.truncated else ""
        _log(logging.Level.INFO, f"showing {len(text)} chars in {layout.lines} line(s) at {layout.font_size}px{note}")
        return f"shown: {len(text)} chars, {layout.lines} line(s), {layout.font_size}px{note}".encode()
