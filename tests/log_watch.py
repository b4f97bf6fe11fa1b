"""Waiting for log lines as they come, instead of sleeping and looking again."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class LogWatch(logging.Handler):
    """Records of one logger as they come, so a test waits for the lines it needs instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def messages(self) -> list[str]:
        with self.changed:
            return [r.getMessage() for r in self.records]

    async def until(self, done: Callable[[list[logging.LogRecord]], bool], timeout: float = 30) -> None:
        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(lambda: done(self.records), timeout)

        assert await asyncio.to_thread(wait), "\n".join(r.getMessage() for r in self.records)

    async def until_said(self, words: str, timeout: float = 30) -> None:
        await self.until(lambda records: any(words in r.getMessage() for r in records), timeout)


@contextmanager
def watching(logger: str) -> Iterator[LogWatch]:
    watch = LogWatch()
    log = logging.getLogger(logger)
    old = log.level
    log.setLevel(logging.DEBUG)
    log.addHandler(watch)
    try:
        yield watch
    finally:
        log.removeHandler(watch)
        log.setLevel(old)
