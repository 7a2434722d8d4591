"""Many rows in one INSERT: the rows travel as one JSON document that the database unpacks itself
(``json_each`` on SQLite, ``json_populate_recordset`` on PostgreSQL).

A batch of new products used to go through SQLAlchemy's executemany, which runs every value of every row
through its bind processors in Python (JSON, UTC datetimes, the NUL scrubber) and, for RETURNING, renders a
multi-row VALUES statement per batch: that, not the database, bounded a catalog import. Here the whole
batch is one ``json.dumps`` (C) and one statement whose text never changes (cached, prepared once).
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Table, TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import textsafe
from inbox.db import is_postgres
from inbox.models.base import UTCDateTime


def _document(rows: list[dict[str, Any]]) -> str:
    doc = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    if "\\u0000" in doc:  # PostgreSQL refuses NUL in text and jsonb; rare, so scrub only then
        doc = json.dumps(textsafe.scrub(rows), ensure_ascii=False, separators=(",", ":"))
    return doc


@functools.cache
def _statement(tbl: Table, keys: tuple[str, ...], returning: tuple[str, ...], postgres: bool) -> TextClause:
    """INSERT of the columns ``keys`` (taken from each JSON object) plus every UTC datetime column not among
    them (set to ``:now``); the table's other columns get their server defaults."""
    times = [c.name for c in tbl.c if isinstance(c.type, UTCDateTime) and c.name not in keys]
    for key in keys:
        assert key in tbl.c, key
    columns = ", ".join([*keys, *times])  # names from the model; every value is bound
    if postgres:
        values = [f"r.{k}" for k in keys] + ["CAST(:now AS TIMESTAMP WITH TIME ZONE)"] * len(times)
        source = f"json_populate_recordset(NULL::{tbl.name}, CAST(:rows AS JSON)) AS r"
    else:
        values = [
            f"value -> '$.{k}'" if isinstance(tbl.c[k].type, JSON) else f"value ->> '$.{k}'" for k in keys
        ] + [":now"] * len(times)
        source = "json_each(:rows)"
    sql = f"INSERT INTO {tbl.name} ({columns}) SELECT {', '.join(values)} FROM {source}"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))


async def insert_rows(
    s: AsyncSession,
    tbl: Table,
    rows: list[dict[str, Any]],
    now: datetime,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys, JSON-serialisable values) in one statement; returns the
    ``returning`` columns of the inserted rows, in no particular order."""
    if not rows:
        return []
    stmt = _statement(tbl, tuple(rows[0]), returning, is_postgres(s))
    result = await s.execute(stmt, {"rows": _document(rows), "now": now})
    return [tuple(row) for row in result.all()] if returning else []
