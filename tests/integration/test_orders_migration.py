"""Migration 0004 seeds the default statuses, carriers, the "main" warehouse and the order counter."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.models import Carrier, Counter, OrderStatus, Warehouse
from inbox.orders import defaults
from inbox.orders.statuses import ensure_defaults, export_statuses
from tests import services


async def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        async with factory() as s:
            defs = await export_statuses(s)
            assert [d.code for d in defs] == [d["code"] for d in defaults.STATUSES]
            assert defs[0].names == {"ru": "Новый", "en": "New"}
            assert (await s.get(Counter, "order")) is not None
            carriers = set((await s.execute(select(Carrier.code))).scalars())
            assert {"russian_post", "cdek", "boxberry", "dpd", "courier"} <= carriers
            assert (await s.execute(select(Warehouse.code))).scalars().all() == ["main"]
        async with factory() as s, s.begin():
            await ensure_defaults(s)  # idempotent on a seeded database
        async with factory() as s:
            assert len((await s.execute(select(OrderStatus))).scalars().all()) == len(defaults.STATUSES)
    finally:
        await engine.dispose()


def test_migration_seeds_defaults_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'seed.sqlite3'}"
    upgrade(url)
    asyncio.run(_check(url))


def test_migration_seeds_defaults_on_postgresql() -> None:
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    url = services.create_pg_database()
    try:
        upgrade(url)
        asyncio.run(_check(url))
    finally:
        services.drop_pg_database(url)
