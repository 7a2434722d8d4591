"""Small SQL helpers shared by the commerce services (dialect-specific INSERT ... ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from inbox.db import is_postgres


def insert_ignore(
    session: AsyncSession, table: Table | Any, rows: list[dict[str, Any]] | dict[str, Any]
) -> Insert:
    """INSERT that skips rows hitting a unique constraint, on PostgreSQL and SQLite."""
    if is_postgres(session):
        pg = postgresql.insert(table).values(rows)
        return pg.on_conflict_do_nothing()
    lite = sqlite.insert(table).values(rows)
    return lite.on_conflict_do_nothing()


def table(model: Any) -> Table:
    """The Core table of a mapped class, typed for ``update()``."""
    tbl = model.__table__
    assert isinstance(tbl, Table)
    return tbl
