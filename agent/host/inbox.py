"""Where a message for an actor arrives on the Pi, and how it is always answered.

Each instance's lane subscribes to the actor's subjects; the subscription's
callback is ``accept_on_lane``.  Everything here runs on that lane's own event
loop (hence ``_on_lane``), one message at a time per instance, in the order
they came.  Every outcome becomes a reply: the actor's bytes, its error, a
trap, an oversized message, a busy or stopping instance.  Nothing a message
does may stop the instance from serving the next one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg

from pi_edge.agent.errors import ActorBusyError, ActorCallError, PiEdgeError
from pi_edge.agent.host.instance import Instance
from pi_edge.agent.lattice.replies import DEADLINE_HEADER, HOST_HEADER, deadline_of, error_headers, expired, running
from pi_edge.agent.wasm.instance import Message
from pi_edge.agent.wasm.limits import Limits

log = logging.getLogger("pi_edge.host")

MAX_WAITING = 64  # messages queued for one instance before new ones are refused as busy


class Inbox:
    """Serves the messages an instance's lane receives; ``limits`` gives the host's current limits."""

    def __init__(self, host_name: str, limits: Callable[[], Limits]) -> None:
        self.host_name = host_name
        self.limits = limits

    def callback(self, instance: Instance) -> Callable[[Msg], Awaitable[None]]:
        """The subscription callback for ``instance``'s lane (a partial: no extra frame per message)."""
        return functools.partial(self.accept_on_lane, instance)

    async def accept_on_lane(self, instance: Instance, msg: Msg) -> None:
        """Hand the message to a task of its own and return.

        nats-py runs callbacks inside the subscription's task, which unsubscribing
        cancels; a message already accepted must survive a graceful stop, so it
        runs in a task of its own that the lane waits for.  The lane runs one
        message at a time; too many waiting are refused.
        """
        if instance.waiting >= MAX_WAITING:
            text = f"actor {instance.name!r} is busy: {instance.waiting} messages are already waiting; try again"
            await self._reply_on_lane(instance, msg, text.encode(), error_headers(text, retry_after=1))
            return
        instance.waiting += 1
        instance.lane.track_on_lane(asyncio.ensure_future(self._serve_on_lane(instance, msg)))

    async def _serve_on_lane(self, instance: Instance, msg: Msg) -> None:
        try:
            async with instance.lane.turn:  # one message at a time, in the order they came
                await self._run_on_lane(instance, msg)
        finally:
            instance.waiting -= 1

    async def _run_on_lane(self, instance: Instance, msg: Msg) -> None:
        if expired(msg.headers):  # checked at its turn: it may have waited behind others past its deadline
            instance.expired += 1
            log.info("actor=%s dropped a message its sender gave up on (past its deadline); not run", instance.name)
            return
        if not msg.reply:
            log.debug("actor=%s dropping a message with no reply subject", instance.name)
        try:
            if instance.lane.past_grace_on_lane():
                raise ActorBusyError(f"actor {instance.name!r} is stopping on host {self.host_name}; try again")
            limit = self.limits().max_message_bytes
            headers = list((msg.headers or {}).items())
            running.deadline = deadline_of(msg.headers)
            # "k: v\r\n" as on the wire; the deadline pi-edge adds is its own, not the sender's to pay for
            size = len(msg.data) + sum(len(k) + len(v) + 4 for k, v in headers if k != DEADLINE_HEADER)
            if size > limit:
                raise ActorCallError(f"message of {size} bytes (headers included) is over the {limit}-byte limit")
            result = instance.call_on_lane(Message(msg.subject, msg.data, headers))
        except PiEdgeError as exc:
            log.info("actor=%s error: %s", instance.name, exc)
            retry = 1 if isinstance(exc, ActorBusyError) else None
            await self._reply_on_lane(instance, msg, str(exc).encode(), error_headers(str(exc), retry))
        except Exception as exc:  # the host must survive anything a message provokes
            log.exception("actor=%s unexpected failure", instance.name)
            text = f"host failed while running actor {instance.name!r}: {type(exc).__name__}: {exc}"
            await self._reply_on_lane(instance, msg, text.encode(), error_headers(text))
        else:
            await self._reply_on_lane(instance, msg, result, None)
        finally:
            running.deadline = None

    async def _reply_on_lane(self, instance: Instance, msg: Msg, body: bytes, headers: dict[str, str] | None) -> None:
        """Through the instance's lane; the reply names the host, so a broadcast's replies can be told apart."""
        if not msg.reply:
            return
        try:
            await instance.lane.publish_on_lane(msg.reply, body,
                                                headers={**(headers or {}), HOST_HEADER: self.host_name})
        except nats.errors.MaxPayloadError:
            # Unanswered, the sender would wait out its timeout for a reply that can never come.
            text = (f"actor {instance.name!r} answered with {len(body)} bytes, more than the NATS server takes "
                    "in one message; the reply was dropped")
            log.warning("actor=%s %s", instance.name, text)
            await self._reply_on_lane(instance, msg, text.encode(), error_headers(text))
        except Exception as exc:
            log.warning("host=%s could not send reply to %s: %s", self.host_name, msg.reply, exc)
