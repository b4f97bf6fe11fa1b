"""A test actor that fails on request: body ``trap`` raises, ``loop`` never returns,
``grow`` allocates without bound, ``err`` returns an error, ``spin:N`` logs "spinning" and
counts to N before answering (a slow but well-behaved message), ``info`` answers the display's
size, ``big:N`` answers N bytes, ``spam:N`` logs N lines; anything else is shown."""

from componentize_py_types import Err

from wit_world import exports
from wit_world.exports import handler
from wit_world.imports import display, logging


class Handler(exports.Handler):
    def handle(self, msg: handler.Message) -> bytes:
        body = bytes(msg.body)
        if body == b"trap":
            raise RuntimeError("asked to trap")
        if body == b"loop":
            n = 0
            while True:
                n += 1
        if body == b"grow":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if body.startswith(b"spin:"):
            logging.log(logging.Level.INFO, "misbehave", "spinning")
            n, goal = 0, int(body[5:])
            while n < goal:
                n += 1
            return b"ok:spun"
        if body == b"err":
            raise Err("asked to fail")
        if body.startswith(b"big:"):
            return b"x" * int(body[4:])
        if body.startswith(b"spam:"):
            for i in range(int(body[5:])):
                logging.log(logging.Level.INFO, "misbehave", f"line {i}")
            return b"ok:spammed"
        if body == b"info":
            info = display.info()
            return f"{info.width}x{info.height} {info.driver}".encode()
        logging.log(logging.Level.DEBUG, "misbehave", "behaving")
        options = display.TextOptions(align=display.Align.LEFT, wrap=True, font_size=12)
        display.show_text(body.decode("utf-8", "replace"), options)
        return b"ok:" + body
