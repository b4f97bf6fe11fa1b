"""Reading a key-value bucket on the hub with nothing but single-message gets.

A Pi may read the component store and the links through ``STREAM.INFO`` and
``STREAM.MSG.GET`` only (``permissions.host``).  nats-py's ``KeyValue.keys``
(like ``ObjectStore.get``) creates a consumer, and a consumer's deliver subject
can be aimed anywhere, another host's control subject included, so Pis may not
create them.  ``live_keys`` walks the bucket's subjects message by message
instead (components are fetched the same way, in ``store``).
"""

from __future__ import annotations

import nats.js.errors
from nats.js.client import JetStreamContext

from pi_edge.agent.lattice import subjects

#: The header a KV bucket marks deletions with.
_KV_OPERATION = "KV-Operation"


async def live_keys(js: JetStreamContext, bucket: str) -> dict[str, bytes]:
    """Every live key of a key-value bucket with its value (deleted and purged keys left out)."""
    prefix = subjects.kv_prefix(bucket)
    live: dict[str, bytes | None] = {}
    seq = 1
    while True:
        try:
            msg = await js.get_msg(f"KV_{bucket}", seq=seq, subject=subjects.kv_tree(bucket), next=True)
        except nats.js.errors.NotFoundError:
            return {key: value for key, value in live.items() if value is not None}
        deleted = (msg.headers or {}).get(_KV_OPERATION) in ("DEL", "PURGE")
        live[(msg.subject or "")[len(prefix):]] = None if deleted else (msg.data or b"")
        seq = (msg.seq or seq) + 1
