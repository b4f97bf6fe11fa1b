"""A test actor whose bugs are on purpose: each body fails the way real code does, with nothing caught.

``zero`` divides by zero two frames down (helper.py), ``key`` looks up a missing key, ``deep`` recurses
without end, ``exit`` raises SystemExit(3), ``chain`` raises an error of its own while handling a KeyError,
``str`` / ``none`` / ``bytearray`` return what is not bytes, ``err42`` raises Err with an int, ``err``
with a str, ``hoard`` fills memory, ``shout`` logs a line, ``count`` answers how many Handlers were made;
anything else is echoed.
"""

from componentize_py_types import Err

import helper
from wit_world import exports
from wit_world.exports import handler
from wit_world.imports import logging

made = 0


class ActorError(Exception):
    pass


def deeper(n: int) -> int:
    return deeper(n + 1)


class Handler(exports.Handler):
    def __init__(self) -> None:
        global made
        made += 1

    def handle(self, msg: handler.Message) -> bytes:
        body = bytes(msg.body)
        if body == b"zero":
            return helper.ratio(len(body), 0)
        if body == b"key":
            return {"a": b"1"}["missing"]
        if body == b"deep":
            deeper(0)
        if body == b"exit":
            raise SystemExit(3)
        if body == b"chain":
            try:
                {}["setting"]
            except KeyError as exc:
                raise ActorError("no setting") from exc
        if body == b"str":
            return "text"
        if body == b"none":
            return None
        if body == b"bytearray":
            return bytearray(b"bytes after all")
        if body == b"err42":
            raise Err(42)
        if body == b"err":
            raise Err("a reason of its own")
        if body == b"hoard":
            hoard = []
            while True:
                hoard.append(bytearray(4 * 2**20))
        if body == b"shout":
            logging.log(logging.Level.WARN, "crash", "shouting")
            return b"shouted"
        if body == b"count":
            return str(made).encode()
        return b"echo:" + body
