"""echo: replies with the message body and does nothing else.

The benchmarks' actor with no work in it: a round trip through it is what the
agent and the Wasm sandbox add to plain NATS, apart from any drawing.
"""

from wit_world import exports
from wit_world.exports import handler


class Handler(exports.Handler):
    def handle(self, msg: handler.Message) -> bytes:
        return bytes(msg.body)
