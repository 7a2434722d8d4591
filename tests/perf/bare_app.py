"""The baseline of the ingest benchmark: a bare Litestar endpoint doing one INSERT per request, on the same
engine settings as the product (SQLite WAL + BEGIN IMMEDIATE, or asyncpg)."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from litestar import Litestar, Request, post
from sqlalchemy import JSON, Column, Integer, MetaData, Table

from inbox.db import make_engine

metadata = MetaData()
bench_raw = Table("bench_raw", metadata, Column("id", Integer, primary_key=True), Column("payload", JSON))


def build(url: str) -> Litestar:
    engine = make_engine(url)

    async def startup() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)

    @post("/ingest", status_code=200)
    async def ingest(request: Request[Any, Any, Any]) -> str:
        payload = await request.json()
        async with engine.begin() as conn:
            await conn.execute(bench_raw.insert().values(payload=payload))
        return "ok"

    return Litestar([ingest], on_startup=[startup])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same uvicorn settings as `inbox serve`.
    uvicorn.run(
        build(args.db),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )
