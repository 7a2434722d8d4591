"""Benchmark the team-facing reads on a generated shop (tests/perf/team_data.py), each next to the same
query as raw SQL in the same run: the inbox list, a thread page, search. Then the same pages over HTTP.

    python -m tests.perf.bench_team --db sqlite+aiosqlite:///big.sqlite3 --runs 50

Prints p50 / p95 in milliseconds and the ratio to the raw SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.threads import ThreadFilter, list_threads, thread_messages
from inbox.db import SessionFactory, is_postgres, make_engine, make_session_factory
from inbox.settings import Settings
from inbox.team.search import search
from tests.perf.team_data import BENCH_EMAIL, BENCH_PASSWORD
from tests.server import threaded_server

RAW_LIST = (
    "SELECT thread.*, customer.* FROM thread JOIN customer ON customer.id = thread.customer_id "
    "WHERE customer.merged_into_id IS NULL "
    "AND (thread.snoozed_until IS NULL OR thread.snoozed_until <= :now) "
    "ORDER BY thread.last_message_at DESC, thread.id DESC LIMIT 51"
)
RAW_THREAD = "SELECT * FROM message WHERE thread_id = :tid ORDER BY id DESC LIMIT 100"
RAW_SEARCH_PG = (
    "SELECT id FROM message WHERE to_tsvector('russian', coalesce(text, '')) "
    "@@ websearch_to_tsquery('russian', :q) "
    "ORDER BY id DESC LIMIT 21"
)
RAW_SEARCH_SQLITE = "SELECT rowid FROM message_fts WHERE message_fts MATCH :q ORDER BY rowid DESC LIMIT 21"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(runs: int, fn: Callable[[], Awaitable[object]]) -> list[float]:
    await fn()  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(name: str, ours: list[float], raw: list[float]) -> None:
    p50, p95, r50 = pct(ours, 0.5), pct(ours, 0.95), pct(raw, 0.5)
    print(
        f"{name:<28} p50 {p50:8.2f} ms  p95 {p95:8.2f} ms | raw SQL p50 {r50:8.2f} ms  "
        f"p95 {pct(raw, 0.95):8.2f} ms | ×{p50 / r50 if r50 else float('inf'):.1f}"
    )


async def bench_db(factory: SessionFactory, runs: int, thread_id: int, query: str) -> None:
    from inbox.models import utcnow

    async def in_session(fn: Callable[[AsyncSession], Awaitable[object]]) -> object:
        async with factory() as session:
            return await fn(session)

    now = utcnow()
    async with factory() as s:
        postgres = is_postgres(s)
    raw_now = now if postgres else now.replace(tzinfo=None).isoformat(sep=" ")
    report(
        "inbox list (first page)",
        await timed(runs, lambda: in_session(lambda s: list_threads(s, filters=ThreadFilter()))),
        await timed(runs, lambda: in_session(lambda s: s.execute(text(RAW_LIST), {"now": raw_now}))),
    )
    report(
        "thread page (100 messages)",
        await timed(runs, lambda: in_session(lambda s: thread_messages(s, thread_id))),
        await timed(runs, lambda: in_session(lambda s: s.execute(text(RAW_THREAD), {"tid": thread_id}))),
    )
    raw_search = RAW_SEARCH_PG if postgres else RAW_SEARCH_SQLITE
    raw_q = query if postgres else f'"{query}"*'
    report(
        f"search {query!r}",
        await timed(runs, lambda: in_session(lambda s: search(s, query))),
        await timed(runs, lambda: in_session(lambda s: s.execute(text(raw_search), {"q": raw_q}))),
    )


def bench_http(url: str, runs: int, thread_id: int, query: str) -> None:
    settings = Settings(
        database_url=url,
        redis_url=None,
        secret_key="bench-secret-key-0123456789",
        data_dir=Path(tempfile.mkdtemp()),
    )
    with threaded_server(settings, run_workers=False) as base:
        client = httpx.Client(base_url=base, timeout=60)
        token = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token
        client.post(
            "/login", data={"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "_csrf_token": token[1]}
        )
        for name, path in (
            ("GET / (inbox)", "/"),
            (f"GET /threads/{thread_id}", f"/threads/{thread_id}"),
            ("GET /search", f"/search?q={query}"),
        ):
            client.get(path)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            print(
                f"{name:<28} p50 {pct(times, 0.5):8.2f} ms  p95 {pct(times, 0.95):8.2f} ms"
                "  (HTTP, whole page)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--thread", type=int, default=1)
    parser.add_argument("--query", default="доставка")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    engine = make_engine(args.db)

    async def go() -> None:
        await bench_db(make_session_factory(engine), args.runs, args.thread, args.query)
        await engine.dispose()

    asyncio.run(go())
    if not args.no_http:
        bench_http(args.db, args.runs, args.thread, args.query)


if __name__ == "__main__":
    main()
