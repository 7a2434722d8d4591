"""One writer at a time on an SQLite file, decided in asyncio rather than by SQLite's busy handler.

SQLite lets one connection write at a time; a second one that asks sleeps in the busy handler (1, 2, 5, 10,
15, 20, 25 … ms between tries), which turns a 2 ms wait into 8 ms and, under load, into seconds. Every
transaction of an engine made by ``inbox.db.make_engine`` first takes this process-wide gate (one per
database file and event loop), then issues ``BEGIN IMMEDIATE``, and hands the gate on the moment its COMMIT
or ROLLBACK is done. Waiters of a higher priority (the webhook's raw-event writer) go first, so a provider's
acknowledgement never queues behind a batch of processing, only behind the one transaction in flight.
Other processes on the same file still meet SQLite's own lock and busy timeout, as before.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

HIGH = 0
NORMAL = 1


class WriteGate:
    def __init__(self) -> None:
        self._held = False
        self._waiters: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())

    @property
    def held(self) -> bool:
        return self._held

    async def acquire(self, priority: int = NORMAL) -> None:
        if not self._held and not any(self._waiters):
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[priority]
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                queue.remove(future)
            raise

    def release(self) -> None:
        for queue in self._waiters:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # ownership passes on; _held stays True
                    return
        self._held = False


_gates: dict[str, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteGate]] = {}


def gate_for(path: str) -> WriteGate:
    """The gate of ``path`` for the running event loop."""
    loop = asyncio.get_running_loop()
    per_loop = _gates.setdefault(path, weakref.WeakKeyDictionary())
    gate = per_loop.get(loop)
    if gate is None:
        gate = per_loop[loop] = WriteGate()
    return gate
