"""aiosqlite with one trip to its thread per statement.

aiosqlite runs every sqlite3 call on a thread of its own and wakes the event loop with each result; through
SQLAlchemy a statement costs four such trips (make a cursor, execute, fetch the rows, close the cursor). A
trip is cheap on an idle loop, but on a busy one each result waits for the loop to come round, so a
transaction of ten statements stretched over forty turns of the loop while it held SQLite's one write lock,
and every webhook acknowledgement queued behind it. :class:`OneTripConnection` hands SQLAlchemy a cursor
that executes, fetches the first rows and closes in one trip; long results (``session.stream``) stay
streamed, a chunk per trip.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiosqlite

PREFETCH = 2000  # rows fetched with the statement; a longer result is fetched in chunks of this size

_Outcome = tuple[Any, list[Any], int, int | None, sqlite3.Cursor | None]


async def _on_thread(conn: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on the connection's thread (aiosqlite's queue, one trip)."""
    return await conn._execute(fn, *args)  # type: ignore[no-untyped-call]


class OneTripCursor:
    """The async cursor SQLAlchemy's aiosqlite adapter drives, answering from rows fetched with the
    statement. Not shared between tasks (the adapter makes one per statement)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._open: sqlite3.Cursor | None = None  # a result longer than PREFETCH, still being read
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _run(self, operation: str, parameters: Any, many: bool) -> _Outcome:
        """On the connection's thread: the whole statement and its first rows."""
        cursor = self._conn._conn.cursor()
        try:
            if many:
                cursor.executemany(operation, parameters)
            elif parameters is None:
                cursor.execute(operation)
            else:
                cursor.execute(operation, parameters)
            rows = cursor.fetchmany(PREFETCH) if cursor.description is not None else []
        except BaseException:
            cursor.close()
            raise
        outcome = (cursor.description, rows, cursor.rowcount, cursor.lastrowid)
        if len(rows) < PREFETCH:
            cursor.close()
            return (*outcome, None)
        return (*outcome, cursor)

    async def _start(self, operation: str, parameters: Any, many: bool) -> OneTripCursor:
        await self.close()
        outcome: _Outcome = await _on_thread(self._conn, self._run, operation, parameters, many)
        self.description, rows, self.rowcount, self.lastrowid, self._open = outcome
        self._rows = deque(rows)
        return self

    async def execute(self, operation: str, parameters: Any = None) -> OneTripCursor:
        return await self._start(operation, parameters, False)

    async def executemany(self, operation: str, parameters: Sequence[Any]) -> OneTripCursor:
        return await self._start(operation, parameters, True)

    async def _more(self) -> None:
        if self._open is not None:
            cursor = self._open
            chunk: list[Any] = await _on_thread(self._conn, cursor.fetchmany, PREFETCH)
            self._rows.extend(chunk)
            if len(chunk) < PREFETCH:
                self._open = None
                await _on_thread(self._conn, cursor.close)

    async def fetchone(self) -> Any:
        if not self._rows:
            await self._more()
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        while len(self._rows) < size and self._open is not None:
            await self._more()
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        while self._open is not None:
            await self._more()
        out = list(self._rows)
        self._rows.clear()
        return out

    async def close(self) -> None:
        self._rows.clear()
        if self._open is not None:
            cursor, self._open = self._open, None
            await _on_thread(self._conn, cursor.close)


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors take one trip to the thread per statement."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)


def one_trip_creator(path: str, timeout: float) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """``create_async_engine(..., async_creator=...)`` for an SQLite file (what the aiosqlite dialect
    would open: ``check_same_thread=False``, the connection lives on aiosqlite's thread)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=timeout, check_same_thread=False)

    async def connect() -> aiosqlite.Connection:
        return await OneTripConnection(connector, iter_chunk_size=64)

    return connect
