"""oled-text's ``show`` written as plain Python: the baseline that has no sandbox.

It does what actors/oled_text/app.py does for a message body (centred, wrapped,
largest font that fits, the same log line, the same reply text) by calling the
provider directly, so the difference to the actor is the sandbox and the agent
around it, not the drawing.
"""

from __future__ import annotations

import logging

import common  # noqa: F401  (puts the repository on the path)

from pi_edge.agent.display.provider import TextOptions
from pi_edge.providers.oled import OledProvider

ACTOR_LOG = logging.getLogger("pi_edge.actor")  # where the actor's log lines land through the host
SIGN = TextOptions(align="center", wrap=True, font_size=None)


def show(provider: OledProvider, text: str) -> bytes:
    layout = provider.show_text(text, SIGN)
    note = " (cut to fit)" if layout.truncated else ""
    if layout.missing:  # the bench's texts are ASCII: kept so the work matches the actor's
        shown = " ".join(c if c.isprintable() else f"U+{ord(c):04X}" for c in layout.missing[:8])
        note += f", no font here has {shown} (drawn as boxes)"
    what = f"{len(text)} chars, {layout.lines} line(s), {layout.font_size}px{note}"
    assert layout.frame is not None
    if layout.frame.status == "superseded":
        ACTOR_LOG.log(logging.INFO, "actor=%s context=%s %s", "oled-text", "oled-text",
                      f"frame of {what} replaced by a newer one before it was sent")
        return f"superseded: {what} replaced by a newer frame before it reached the panel".encode()
    ACTOR_LOG.log(logging.INFO, "actor=%s context=%s %s", "oled-text", "oled-text", f"showing {what}")
    return f"shown: {what}; {layout.frame.bus_bytes} bytes on the bus".encode()
