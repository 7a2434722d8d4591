"""Broadcast planning at scale (not collected by the default test run): a broadcast to a segment of
100 000 customers is planned, one row per customer with its channel or the reason it is skipped, in at most
10 seconds; printed beside a baseline measured in the same run on the same database (the bare
``INSERT … SELECT`` of one row per customer, with none of the channel and consent logic).

    python -m tests.perf.bench_broadcast [--customers 100000] [--database-url URL]

Without ``--database-url`` it runs on a fresh SQLite file; pass a PostgreSQL URL (an empty database) to
measure there.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, literal, select, text

from inbox.db import SessionFactory, make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import (
    BroadcastRecipient,
    ChannelAccount,
    Customer,
    CustomerConsent,
    Identity,
    Thread,
    utcnow,
)
from inbox.sales import broadcasts, segments
from inbox.sales.config import SalesConfig

LIMIT_SECONDS = 10.0
KINDS = ("telegram", "vk", "email", "sms")


async def populate(factory: SessionFactory, n: int) -> None:
    """``n`` customers, each with a thread and an identity on one of four channels (by id mod 4: telegram,
    vk, email, sms); all but the Telegram ones agreed to marketing, none of the VK ones ever wrote to the
    community. So half are planned (email, SMS), a quarter skipped for no consent, a quarter for VK."""
    now = utcnow()
    async with transaction(factory) as s:
        accounts = {}
        for kind in KINDS:
            account = ChannelAccount(kind=kind, name=f"bench-{kind}", settings={}, secrets={}, state={})
            s.add(account)
            await s.flush()
            accounts[kind] = account.id
    chunk = 5000
    for start in range(0, n, chunk):
        ids = range(start + 1, min(start + chunk, n) + 1)
        async with transaction(factory) as s:
            await s.execute(
                insert(Customer),
                [
                    {
                        "id": i,
                        "name": f"Клиент {i}",
                        "tags": [],
                        "fields": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            await s.execute(
                insert(Thread),
                [
                    {
                        "id": i,
                        "customer_id": i,
                        "last_inbound_channel": KINDS[i % 4],
                        "last_message_at": now,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            await s.execute(
                insert(Identity),
                [
                    {
                        "kind": KINDS[i % 4],
                        "account_id": accounts[KINDS[i % 4]],
                        "external_id": f"x{i}",
                        "customer_id": i,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            await s.execute(
                insert(CustomerConsent),
                [
                    {
                        "customer_id": i,
                        "channel": KINDS[i % 4],
                        "marketing": True,
                        "source": "import",
                        "recorded_at": now - timedelta(days=1),
                    }
                    for i in ids
                    if i % 4 != 0
                ],
            )
    async with factory() as s:
        if s.get_bind().dialect.name == "postgresql":
            for table in ("customer", "thread", "identity", "customer_consent"):
                await s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            await s.execute(text("ANALYZE"))
            await s.commit()
        else:
            await s.execute(text("ANALYZE"))
            await s.commit()


async def run(url: str, n: int) -> int:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        started = time.perf_counter()
        await populate(factory, n)
        print(f"populated {n} customers in {time.perf_counter() - started:.1f} s")
        async with transaction(factory) as s:
            segment = await segments.create_segment(s, "Все", conditions=[])
            baseline_b = await broadcasts.create_broadcast(s, segment_id=segment.id, text="baseline")
            b = await broadcasts.create_broadcast(s, segment_id=segment.id, text="Распродажа")
        # baseline: one recipient row per customer, nothing decided
        started = time.perf_counter()
        async with transaction(factory) as s:
            rows = select(
                literal(baseline_b.id), Customer.id, literal("telegram"), literal("planned"), literal(None)
            ).where(Customer.merged_into_id.is_(None))
            await s.execute(
                insert(BroadcastRecipient).from_select(
                    ["broadcast_id", "customer_id", "channel", "state", "reason"], rows
                )
            )
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        async with transaction(factory) as s:
            broadcast = await broadcasts.get_broadcast(s, b.id)
            written = await broadcasts.plan(s, broadcast, SalesConfig())
        planned = time.perf_counter() - started
        async with factory() as s:
            by_state = dict(
                (
                    await s.execute(
                        select(BroadcastRecipient.reason, func.count())
                        .where(BroadcastRecipient.broadcast_id == b.id)
                        .group_by(BroadcastRecipient.reason)
                    )
                ).all()
            )
        expected_planned = sum(1 for i in range(1, n + 1) if i % 4 in (2, 3))
        print(f"baseline INSERT … SELECT of {n} rows: {baseline:.2f} s")
        print(
            f"plan of a broadcast to {n} customers: {planned:.2f} s "
            f"({planned / baseline:.1f}× the baseline; limit {LIMIT_SECONDS:.0f} s)"
        )
        print(f"recipients by reason (None: planned): {by_state}")
        ok = written == n and by_state.get(None) == expected_planned and planned <= LIMIT_SECONDS
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.database_url:
        url = args.database_url
        upgrade(url)
        return asyncio.run(run(url, args.customers))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(url)
        return asyncio.run(run(url, args.customers))


if __name__ == "__main__":
    raise SystemExit(main())
