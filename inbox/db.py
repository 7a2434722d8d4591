"""Engine and session factory: SQLite (aiosqlite, WAL, BEGIN IMMEDIATE) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from inbox import textsafe
from inbox.db_gate import NORMAL, gate_for
from inbox.db_sqlite import one_trip_creator

SessionFactory = async_sessionmaker[AsyncSession]


def make_engine(url: str, *, write_priority: int = NORMAL, **kwargs: Any) -> AsyncEngine:
    """``write_priority`` (SQLite): ``inbox.db_gate.HIGH`` for an engine whose transactions go before the
    others of the process on the same file (the webhook's raw-event writer)."""
    kwargs.setdefault("json_serializer", textsafe.dumps)
    engine = _make_engine(url, write_priority, **kwargs)
    _scrub_parameters(engine)
    return engine


def _scrub_parameters(engine: AsyncEngine) -> None:
    """NUL characters in bound strings become U+FFFD: PostgreSQL refuses them (a 500, and a provider that
    redelivers the update forever), and no text a person typed contains one."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _scrub(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        if executemany and isinstance(parameters, list):
            return statement, [_scrub_row(p) for p in parameters]
        return statement, _scrub_row(parameters)


def _scrub_row(row: Any) -> Any:
    if isinstance(row, tuple | list):
        if any(isinstance(v, str) and "\x00" in v for v in row):
            return type(row)(textsafe.scrub(v) if isinstance(v, str) else v for v in row)
        return row
    if isinstance(row, dict) and any(isinstance(v, str) and "\x00" in v for v in row.values()):
        return {k: textsafe.scrub(v) if isinstance(v, str) else v for k, v in row.items()}
    return row


def _make_engine(url: str, write_priority: int, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One connection per process: SQLite has one writer at a time anyway, and waiting for the pool is
        # an asyncio wait, where waiting for SQLite's lock is its busy handler sleeping in a thread.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        parsed = make_url(url)
        path = parsed.database or ":memory:"
        if path != ":memory:" and not parsed.query and "async_creator" not in kwargs:
            # One trip to aiosqlite's thread per statement instead of four (inbox.db_sqlite).
            kwargs["async_creator"] = one_trip_creator(path, timeout=30)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_hooks(engine, path, write_priority)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql+asyncpg"):
        # No JIT: our statements are short index lookups, but a misestimated LIMIT (the "Waiting" count on
        # 100k threads) costs past jit_above_cost, and compiling took 30 ms for a 1 ms execution.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("server_settings", {}).setdefault("jit", "off")
        kwargs["connect_args"] = connect_args
    return create_async_engine(url, **kwargs)


def _sqlite_hooks(engine: AsyncEngine, path: str, priority: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so that we can make it IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        mode = cursor.fetchone()[0]
        if str(mode).lower() != "wal":  # pragma: no cover - only on exotic filesystems
            raise RuntimeError(f"SQLite refused WAL mode (got {mode!r}); put the database on a local disk")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's lower() folds ASCII only; this one folds every script, as PostgreSQL's lower() does.
        dbapi_connection.create_function(LOWER_FN, 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every transaction takes the write lock up front: a deferred read-then-write fails at once
        # with "database is locked" under concurrency, an immediate one waits for busy_timeout.
        # Within the process, transactions queue on the gate (asyncio) instead (see inbox.db_gate).
        gate = gate_for(path)
        await_only(gate.acquire(priority))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.release()
            raise
        conn.info["write_gate"] = gate

    def _end(conn: Any, finish: str) -> None:
        gate = conn.info.pop("write_gate", None)
        if gate is None:
            return
        try:
            # Finish the transaction here, so that the gate passes on only once SQLite's lock is free;
            # SQLAlchemy's own commit/rollback that follows finds no transaction and does nothing.
            getattr(conn.connection.dbapi_connection, finish)()
        finally:
            gate.release()

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(conn: Any) -> None:
        _end(conn, "commit")

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        _end(conn, "rollback")

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi: Any, record: Any) -> None:
        gate = record.info.pop("write_gate", None)  # a connection returned mid-transaction (an error)
        if gate is not None:
            gate.release()


LOWER_FN = "inbox_lower"


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def lowered(session: AsyncSession, expr: Any) -> Any:
    """``lower(expr)`` that folds Cyrillic (and every other script) on both databases: PostgreSQL's own
    lower(), on SQLite the Python function registered on connect. Compare with ``text.lower()``."""
    if is_postgres(session):
        return func.lower(expr)
    return getattr(func, LOWER_FN)(expr)


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed on success, rolled back on error."""
    async with factory() as session, session.begin():
        yield session


def insert_for(session: AsyncSession, table: Any) -> Any:
    """A dialect-specific INSERT that supports ``on_conflict_do_nothing``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
