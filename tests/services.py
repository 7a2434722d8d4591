"""Access to the external servers tests need. In CI (CI=true) a missing server fails the run; elsewhere the
test is skipped with the reason printed."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

PG_ADMIN_URL = os.environ.get("INBOX_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
# Under pytest-xdist each worker (gw0, gw1, ...) has a Redis database of its own (15, 14, ...): clusters that
# two workers run at once never see each other's live events, locks or rate-limit buckets.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
REDIS_URL = os.environ.get("INBOX_TEST_REDIS", f"redis://127.0.0.1:6379/{15 - _WORKER}")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """Fail in CI, skip elsewhere: the suite never silently skips in CI."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing", pytrace=False)
    pytest.skip(f"{what} not available here")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_pg_database() -> str:
    """A fresh, uniquely named database; returns its URL."""
    import asyncpg

    name = f"inbox_t_{uuid.uuid4().hex[:12]}"
    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def _create() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(_create())
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def _drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(_drop())


def pg_available() -> bool:
    return port_open("127.0.0.1", 5432)
