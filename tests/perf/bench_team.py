"""Benchmark the team-facing reads on a generated shop (tests/perf/team_data.py: 100k customers, 1M messages
by default), on SQLite and PostgreSQL: the inbox list, a thread page, search. Each query is timed through
our code (``list_threads``, ``thread_messages``, ``search``) next to the same query as raw SQL in the same
run; then the pages themselves are driven over HTTP by ``wrk -c1`` against ``inbox serve``.

    python -m tests.perf.bench_team [--customers 100000] [--messages 1000000] [--seconds 10]
    python -m tests.perf.bench_team --db sqlite+aiosqlite:///big.sqlite3   # an existing database

Rows: the page's p95 over HTTP (target <= 50 ms, beside the raw SQL's p95), our query's p50 against the
same statements' p50 sent through the driver alone (target <= 2x), and the serve process's peak RSS
while it serves the pages (target <= 200 MB). ``--explain`` prints each statement's plan.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inbox.core.threads import ThreadFilter, list_threads, thread_messages
from inbox.db import SessionFactory, is_postgres, make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.team.search import search
from tests import services
from tests.perf.bench_ingest import rss_mb, spawn, stop
from tests.perf.table import Row, render_text
from tests.perf.team_data import BENCH_EMAIL, BENCH_PASSWORD, generate
from tests.perf.wrk import WrkResult, run_wrk
from tests.server import wait_http

# The baseline: the statements our code sends, with their parameters, captured from the engine in one call
# and replayed through the driver alone (``exec_driver_sql``: no statement building, no ORM, no row objects
# of ours). They return exactly the rows and columns the page needs, so the ratio is what our code costs
# over the database. The printed plans (--explain) show the statements are the ones an index serves.


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(
    runs: int, ours: Callable[[], Awaitable[object]], raw: Callable[[], Awaitable[object]]
) -> tuple[list[float], list[float]]:
    """Ours and the baseline alternately, so that both see the same moments of a shared machine."""
    await ours()  # warm-up
    await raw()
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, into in ((ours, out[0]), (raw, out[1])):
            t = time.perf_counter()
            await fn()
            into.append((time.perf_counter() - t) * 1000)
    return out


PAGES = ("inbox list", "thread page", "search")


async def captured(
    factory: SessionFactory, fn: Callable[[AsyncSession], Awaitable[object]]
) -> list[tuple[str, Any]]:
    """The statements (SQL text and driver parameters) that ``fn`` sends, in order."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        statements.append((statement, params))

    async with factory() as session:
        engine = session.bind
        assert isinstance(engine, AsyncEngine)
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            await fn(session)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    return [
        (sql, params) for sql, params in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))
    ]


async def bench_db(
    factory: SessionFactory, runs: int, thread_id: int, query: str, explain: bool = False
) -> dict[str, tuple[list[float], list[float]]]:
    """Per page: (our query's timings, the same statements replayed raw) in milliseconds."""

    async def in_session(fn: Callable[[AsyncSession], Awaitable[object]]) -> object:
        async with factory() as session:
            return await fn(session)

    async def raw(statements: list[tuple[str, Any]]) -> None:
        async with factory() as session:
            conn = await session.connection()
            for sql, params in statements:
                (await conn.exec_driver_sql(sql, params)).all()

    ours: dict[str, Callable[[AsyncSession], Awaitable[object]]] = {
        "inbox list": lambda s: list_threads(s, filters=ThreadFilter()),
        "thread page": lambda s: thread_messages(s, thread_id),
        "search": lambda s: search(s, query),
    }
    out = {}
    for name, fn in ours.items():
        statements = await captured(factory, fn)
        if explain:
            await show_plans(factory, name, statements)
        out[name] = await timed(
            runs,
            lambda fn=fn: in_session(fn),  # type: ignore[misc]
            lambda st=statements: raw(st),  # type: ignore[misc]
        )
    return out


async def show_plans(factory: SessionFactory, name: str, statements: list[tuple[str, Any]]) -> None:
    async with factory() as session:
        postgres = is_postgres(session)
        conn = await session.connection()
        for sql, params in statements:
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            plan = (await conn.exec_driver_sql(prefix + sql, params)).all()
            lines = [str(r[0]) if postgres else str(r[-1]) for r in plan]
            print(f"--- {name}: {' '.join(sql.split())[:300]}\n  " + "\n  ".join(lines), flush=True)


def login_cookie(base: str) -> str:
    with httpx.Client(base_url=base, timeout=60) as client:
        token = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token
        client.post(
            "/login", data={"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "_csrf_token": token[1]}
        )
        if client.get("/").status_code != 200:
            raise RuntimeError("the bench manager could not log in")
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def bench_http(
    url: str, work: Path, seconds: float, thread_id: int, query: str
) -> tuple[dict[str, WrkResult], dict[str, float], float | None]:
    """Each page under ``wrk -c1`` (one manager clicking) against ``inbox serve`` on that database; then the
    CPU time per request (the serve process's, SQLite's work included: what a page costs whatever else
    the machine runs) and the serve process's peak RSS (VmHWM: its start, the log-in, every page's warm-up
    and load)."""
    port = services.free_port()
    env = {
        "INBOX_DATABASE_URL": url,
        "INBOX_DATA_DIR": str(work / "data"),
        "INBOX_SECRET_KEY": "bench-secret-key-0123456789",
    }
    proc = spawn([sys.executable, "-m", "inbox.cli", "serve", "--port", str(port)], env, work)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, WrkResult] = {}
    cpu_ms: dict[str, float] = {}
    peak: float | None = None
    try:
        wait_http(base + "/healthz", 60)
        cookie = login_cookie(base)
        paths = {
            "inbox list": "/",
            "thread page": f"/threads/{thread_id}",
            "search": f"/search?q={quote(query)}",
        }
        for name, path in paths.items():
            env = {"BENCH_COOKIE": cookie}
            with httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=60) as client:
                for _ in range(3):  # warm-up
                    client.get(path).raise_for_status()
            cpu = cpu_seconds(proc.pid)
            result = run_wrk(base + path, "get.lua", connections=1, seconds=seconds, env=env)
            cpu_ms[name] = (cpu_seconds(proc.pid) - cpu) * 1000 / max(result.requests, 1)
            if result.errors or not result.requests:
                raise RuntimeError(f"{path}: {result.errors} of {result.requests} requests failed")
            out[name] = result
        peak = rss_mb(proc.pid)
    finally:
        stop(proc)
    return out, cpu_ms, peak


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def busiest_thread(factory: SessionFactory) -> int:
    async with factory() as session:
        row = (
            await session.execute(
                text("SELECT thread_id FROM message GROUP BY thread_id ORDER BY count(*) DESC LIMIT 1")
            )
        ).first()
    return int(row[0]) if row else 1


def measure(
    url: str, work: Path, runs: int, seconds: float, query: str, label: str, size: str, explain: bool = False
) -> list[Row]:
    engine = make_engine(url)

    async def go() -> tuple[int, dict[str, tuple[list[float], list[float]]]]:
        try:
            factory = make_session_factory(engine)
            thread_id = await busiest_thread(factory)
            return thread_id, await bench_db(factory, runs, thread_id, query, explain)
        finally:
            await engine.dispose()

    thread_id, queries = asyncio.run(go())
    pages, cpu_ms, peak = bench_http(url, work, seconds, thread_id, query)
    rows = []
    for name in PAGES:
        ours, raw = queries[name]
        rows.append(
            Row(
                f"page: {name} ({size}, HTTP wrk -c1)",
                label,
                "p95",
                pages[name].p95_ms,
                "ms",
                pct(raw, 0.95),
                "raw SQL p95",
                "<= 50 ms",
                higher_is_better=False,
            )
        )
        rows.append(
            Row(
                f"page CPU: {name} ({size}, serve process per request)",
                label,
                "CPU",
                cpu_ms[name],
                "ms",
                None,
                "",
            )
        )
        rows.append(
            Row(
                f"query: {name} ({size})",
                label,
                "p50",
                pct(ours, 0.5),
                "ms",
                pct(raw, 0.5),
                "same SQL via driver",
                "<= 2x",
                higher_is_better=False,
            )
        )
    if peak is not None:
        rows.append(
            Row(
                f"serve: peak RSS serving the pages ({size})",
                label,
                "peak RSS",
                peak,
                "MB",
                200,
                "limit",
                "<= 1x",
                higher_is_better=False,
            )
        )
    return rows


def size_label(customers: int, messages: int) -> str:
    def short(n: int) -> str:
        return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)

    return f"{short(customers)} customers, {short(messages)} messages"


def run(
    work: Path,
    seconds: float,
    *,
    customers: int = 100_000,
    messages: int = 1_000_000,
    runs: int = 50,
    query: str = "доставка",
    only: str | None = None,
    explain: bool = False,
) -> list[Row]:
    """Generate the shop on each database, then measure it."""
    size = size_label(customers, messages)
    rows: list[Row] = []
    targets = []
    if only in (None, "sqlite"):
        targets.append(("SQLite", f"sqlite+aiosqlite:///{work / 'team.sqlite3'}"))
    if only in (None, "postgresql") and services.pg_available():
        targets.append(("PostgreSQL", services.create_pg_database()))
    for label, url in targets:
        try:
            upgrade(url)
            started = time.monotonic()
            asyncio.run(generate(url, customers, messages))
            print(f"  {label}: {size} generated in {time.monotonic() - started:.0f} s", flush=True)
            rows += measure(url, work, runs, seconds, query, label, size, explain)
        finally:
            if url.startswith("postgresql"):
                services.drop_pg_database(url)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", help="measure this existing database instead of generating one per backend")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per page")
    parser.add_argument("--query", default="доставка")
    parser.add_argument("--explain", action="store_true", help="print each statement's plan first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp:
        if args.db:
            label = "PostgreSQL" if args.db.startswith("postgresql") else "SQLite"
            rows = measure(
                args.db, Path(tmp), args.runs, args.seconds, args.query, label, "given database", args.explain
            )
        else:
            rows = run(
                Path(tmp),
                args.seconds,
                customers=args.customers,
                messages=args.messages,
                runs=args.runs,
                query=args.query,
                only=args.only,
                explain=args.explain,
            )
    print(render_text(rows))


if __name__ == "__main__":
    main()
