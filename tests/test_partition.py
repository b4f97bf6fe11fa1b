"""A host whose link the hub lost: the hub says so (events, ``hosts``), and a message to it is answered at
once with the host's name and since when, instead of a wait for the whole timeout (issue 16 item 11).

The cut wire itself, noticed on both sides within 10 s, is tests/test_netns.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from pi_edge.agent.errors import HostUnreachableError
from pi_edge.agent.lattice.client import LatticeClient
from pi_edge.agent.lattice.connection import connect
from tests.events import follow
from tests.test_fleet import until_hub_sees


async def test_a_host_the_hub_lost_is_named_at_once_with_since_when(hub, start_agent, built) -> None:
    await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-near")
    far = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-far")
    await until_hub_sees(hub, "pi-near", "pi-far")
    watcher = await connect(hub.url, name="test-events", credentials=hub.operator)
    try:
        lost, back = await follow(watcher, "host-unreachable", "pi-far"), await follow(watcher, "host-back", "pi-far")
        assert far.service.server is not None and far.service.server.pid is not None
        os.kill(far.service.server.pid, signal.SIGKILL)  # the link drops (on a real cut the pings notice it)
        gone = await asyncio.wait_for(lost.get(), 10)
        assert gone["by"] == "hub" and gone["since"] <= time.time()
        async with LatticeClient(hub.url, credentials=hub.operator, timeout=5) as laptop:
            started = time.monotonic()
            with pytest.raises(HostUnreachableError, match=r"host 'pi-far' is unreachable since \d\d:\d\d:\d\d "
                                                            r"\(\d+ s ago; .+\): nothing was delivered"):
                await laptop.send("oled-text", b"Hello", host="pi-far")
            assert time.monotonic() - started < 2
            assert (await laptop.send("oled-text", b"Hello", host="pi-near")).body.startswith(b"shown:")
            known = {h["name"]: h for h in await laptop.hub_hosts() or []}
            assert known["pi-far"]["state"] == "unreachable" and known["pi-near"]["state"] == "up"
            assert known["pi-far"]["since"] == gone["since"]
        again = await start_agent({"oled-text": built["oled-text"]}, hub=hub, name="pi-far")
        await asyncio.wait_for(back.get(), 20)
        await until_hub_sees(hub, "pi-far")
        assert again.service.host is not None
    finally:
        await watcher.close()
