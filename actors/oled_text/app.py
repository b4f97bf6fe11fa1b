"""oled-text: show a message's body on the display, centred and word-wrapped like a sign.

An empty body, or an ``op: clear`` header, clears the screen instead.  The
headers ``align`` (left, center, right), ``font-size`` (pixels; default: the
largest that fits) and ``wrap`` (yes, no) change how the text is set.  The
reply is a one-line confirmation the laptop prints.
"""

from componentize_py_types import Err

from wit_world import exports
from wit_world.exports import handler
from wit_world.imports import display, logging

CONTEXT = "oled-text"
ALIGNS = {"left": display.Align.LEFT, "center": display.Align.CENTER, "right": display.Align.RIGHT}
MAX_FONT_SIZE = 10_000  # far past any panel: the provider names its own range; this only keeps it a u32
WRAPS = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


def _header(msg: handler.Message, name: str) -> str | None:
    wanted = name.lower()
    for key, value in msg.headers:
        if key.lower() == wanted:
            return value
    return None


def _options(msg: handler.Message) -> display.TextOptions:
    """The sign's defaults (centred, wrapped, fitted), changed by the headers the sender set."""
    align = (_header(msg, "align") or "center").strip().lower()
    if align not in ALIGNS:
        raise Err(f"align {align!r} is not one of left, center, right")
    wrap = (_header(msg, "wrap") or "yes").strip().lower()
    if wrap not in WRAPS:
        raise Err(f"wrap {wrap!r} is not yes or no")
    size_text = _header(msg, "font-size")
    size = None
    if size_text is not None:
        try:
            size = int(size_text)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_FONT_SIZE:
            raise Err(f"font-size {size_text!r} is not a size in pixels (a whole number like 16; "
                      "leave it out to fit the text to the panel)")
    return display.TextOptions(align=ALIGNS[align], wrap=WRAPS[wrap], font_size=size)


def _log(level: logging.Level, message: str) -> None:
    logging.log(level, CONTEXT, message)


def _unshown(missing: str) -> str:
    """What the panel could not draw, for the reply: the characters (or their code points), at most 8."""
    shown = " ".join(c if c.isprintable() else f"U+{ord(c):04X}" for c in missing[:8])
    more = " ..." if len(missing) > 8 else ""
    return f", no font here has {shown}{more} (drawn as boxes)" if missing else ""


def _delivery(frame: display.FrameReport) -> str:
    if frame.status == display.FrameStatus.SUPERSEDED:
        return " (superseded by a newer frame)"
    return f"; {frame.bus_bytes} bytes on the bus"


class Handler(exports.Handler):
    def handle(self, msg: handler.Message) -> bytes:
        op = (_header(msg, "op") or "show").strip().lower()
        if op == "clear" or (op == "show" and not msg.body):
            frame = display.clear()
            _log(logging.Level.INFO, "cleared the display")
            return f"cleared{_delivery(frame)}".encode()
        if op != "show":
            raise Err(f"unknown op {op!r}: use 'show' or 'clear'")
        try:
            text = bytes(msg.body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Err(f"message body is not UTF-8 text ({exc.reason} at byte {exc.start})")
        layout = display.show_text(text, _options(msg))
        note = " (cut to fit)" if layout.truncated else ""
        what = f"{len(text)} chars, {layout.lines} line(s), {layout.font_size}px{note}{_unshown(layout.missing)}"
        if layout.frame.status == display.FrameStatus.SUPERSEDED:
            _log(logging.Level.INFO, f"frame of {what} replaced by a newer one before it was sent")
            return f"superseded: {what} replaced by a newer frame before it reached the panel".encode()
        _log(logging.Level.INFO, f"showing {what}")
        return f"shown: {what}{_delivery(layout.frame)}".encode()
