"""Events handed over from threads stop cleanly with the host."""

from __future__ import annotations

import asyncio
import threading

from pi_edge.agent.lattice.events import EventPublisher


async def test_stopping_cancels_events_still_waiting_and_refuses_new_ones() -> None:
    events = EventPublisher(None, "default", "test-pi", "id")  # type: ignore[arg-type]  # nothing is published
    events.bind_loop()
    started, finished = asyncio.Event(), []

    async def slow_event() -> None:  # like a frame event sitting out its rate limit
        started.set()
        await asyncio.sleep(3600)
        finished.append("slow")

    threading.Thread(target=events.from_thread, args=(slow_event,)).start()
    await asyncio.wait_for(started.wait(), 10)
    pending = list(events._tasks)
    await asyncio.wait_for(events.cancel_pending(), 10)
    assert pending and all(task.cancelled() for task in pending)

    ran = []

    async def late_event() -> None:
        ran.append("late")

    events.from_thread(late_event)  # a thread finishing after the stop
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon_threadsafe(done.set_result, None)  # queued after the hand-over
    await done
    assert not events._tasks and not ran and not finished
