"""Generate a large shop for the team benchmarks: N customers (identities, threads) and M messages.

    python -m tests.perf.team_data --db sqlite+aiosqlite:///big.sqlite3 --customers 100000 --messages 1000000

The database is migrated first. Rows go straight to the driver in chunks of 20,000: ``executemany`` on the
sqlite3 module (one transaction per chunk, synchronous=OFF while loading) or ``COPY`` on PostgreSQL; the
message full-text index is built once after the load. A manager ``bench@shop.example`` / ``bench-password``
is created for the HTTP part of the benchmark, with four colleagues; 60% of the threads are assigned among
the five, each thread has a preview, and some have over 99 unread messages (the list shows «99+»).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, make_url, select

from inbox.core.security import hash_password
from inbox.db import make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import ChannelAccount, Customer, Manager

FIRST = [
    "Анна",
    "Игорь",
    "Мария",
    "Олег",
    "Сергей",
    "Елена",
    "Дмитрий",
    "Ольга",
    "Павел",
    "Наталья",
]
LAST = [
    "Смирнов",
    "Петров",
    "Кузнецов",
    "Иванов",
    "Соколов",
    "Попов",
    "Лебедев",
    "Козлов",
    "Новиков",
]
WORDS = [
    "заказ",
    "заказы",
    "заказа",
    "доставка",
    "доставку",
    "доставки",
    "трек",
    "номер",
    "оплата",
    "оплатил",
    "курьер",
    "самовывоз",
    "размер",
    "куртка",
    "кроссовки",
    "возврат",
    "обмен",
    "склад",
    "сегодня",
    "завтра",
    "спасибо",
    "здравствуйте",
    "когда",
    "где",
    "пришлите",
    "можно",
]
CHUNK = 20_000
TEAM = 5  # managers, the bench manager among them
ASSIGNED = 0.6  # the share of threads assigned to one of them (the rest wait in "Unassigned")
BENCH_EMAIL, BENCH_PASSWORD = "bench@shop.example", "bench-password"


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "?"


CUSTOMER_COLUMNS = (
    "id",
    "name",
    "phone",
    "phone_verified",
    "email",
    "email_verified",
    "tags",
    "fields",
    "created_at",
    "updated_at",
)
IDENTITY_COLUMNS = (
    "id",
    "kind",
    "account_id",
    "external_id",
    "customer_id",
    "display",
    "username",
    "verified",
    "blocked",
    "created_at",
)
MESSAGE_COLUMNS = (
    "thread_id",
    "customer_id",
    "direction",
    "channel",
    "account_id",
    "identity_id",
    "author",
    "text",
    "revisions",
    "meta",
    "delivery",
    "created_at",
)


class Loader:
    """Rows straight into the driver: ``executemany`` on the sqlite3 module (synchronous=OFF for the load,
    the FTS trigger fires per row inside large transactions) or ``COPY`` through asyncpg. Values come as
    Python objects; ``cell`` renders them for the backend (SQLite: naive UTC text, JSON text, 0/1)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def __aenter__(self) -> Loader:
        if self.postgres:
            import asyncpg

            self._pg = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        else:
            self._sqlite = sqlite3.connect(make_url(self.url).database or ":memory:", isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=OFF")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    def cell(self, value: Any) -> Any:
        if self.postgres:
            return json.dumps(value) if isinstance(value, list | dict) else value
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        if isinstance(value, list | dict):
            return json.dumps(value)
        return value

    async def load(self, name: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        records = [tuple(self.cell(v) for v in row) for row in rows]
        if self._pg is not None:
            await self._pg.copy_records_to_table(name, records=records, columns=list(columns))
            return
        assert self._sqlite is not None
        marks = ", ".join("?" for _ in columns)
        self._sqlite.execute("BEGIN")
        self._sqlite.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", records)
        self._sqlite.execute("COMMIT")

    async def without_search_index(self) -> str:
        """Drop the message full-text index (PostgreSQL's GIN index, SQLite's insert trigger into FTS5) for
        the load and return the statement that makes it again: built once over all rows, it costs a
        fraction of a million row-by-row updates."""
        if self._pg is not None:
            ddl = await self._pg.fetchval(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_message_text_fts'"
            )
            await self._pg.execute("DROP INDEX ix_message_text_fts")
            return str(ddl)
        assert self._sqlite is not None
        (ddl,) = self._sqlite.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'message_fts_ai'"
        ).fetchone()
        self._sqlite.execute("DROP TRIGGER message_fts_ai")
        return str(ddl)

    async def restore_search_index(self, ddl: str) -> None:
        if self._pg is not None:
            await self._pg.execute("SET maintenance_work_mem = '256MB'")
            await self._pg.execute(ddl)
            return
        assert self._sqlite is not None
        self._sqlite.execute("INSERT INTO message_fts(message_fts) VALUES ('rebuild')")
        self._sqlite.execute(ddl)

    async def finish(self) -> None:
        """Planner statistics (and a vacuum on PostgreSQL), the sequences past the ids given explicitly."""
        if self._pg is not None:
            for name in ("customer", "identity", "thread"):
                await self._pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
            # VACUUM too, as autovacuum would after a load: it empties the GIN indexes' pending lists, which
            # every search otherwise reads through (13.7 ms per customer/identity search, 0.12 ms after).
            await self._pg.execute("VACUUM ANALYZE")
        else:
            assert self._sqlite is not None
            self._sqlite.execute("ANALYZE")


async def generate(url: str, customers: int, messages: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    started = time.monotonic()
    async with transaction(factory) as session:
        start = int((await session.execute(select(func.max(Customer.id)))).scalar_one() or 0) + 1
        account = ChannelAccount(kind="telegram", name=f"bench-{start}", settings={"demo": True}, secrets={})
        session.add(account)
        if (await session.execute(select(Manager.id).where(Manager.email == BENCH_EMAIL))).first() is None:
            session.add(
                Manager(
                    email=BENCH_EMAIL,
                    name="Bench",
                    password_hash=hash_password(BENCH_PASSWORD),
                    role="admin",
                )
            )
        for n in range(2, TEAM + 1):  # colleagues: the threads are shared among a team
            email = f"bench{n}@shop.example"
            if (await session.execute(select(Manager.id).where(Manager.email == email))).first() is None:
                session.add(Manager(email=email, name=f"Bench {n}", password_hash="!", role="manager"))
        await session.flush()
        account_id = account.id
        team = list(
            (
                await session.execute(
                    select(Manager.id).where(
                        Manager.email.in_(
                            [BENCH_EMAIL] + [f"bench{n}@shop.example" for n in range(2, TEAM + 1)]
                        )
                    )
                )
            ).scalars()
        )
    await engine.dispose()
    ids = list(range(start, start + customers))
    async with Loader(url) as loader:
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            await loader.load(
                "customer",
                CUSTOMER_COLUMNS,
                [
                    (
                        c,
                        f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                        f"+79{c:09d}"[:12],
                        False,
                        f"user{c}@mail.example",
                        False,
                        [],
                        {},
                        now,
                        now,
                    )
                    for c in part
                ],
            )
            await loader.load(
                "identity",
                IDENTITY_COLUMNS,
                [
                    (c, "telegram", account_id, str(c), c, f"user{c}", f"user{c}", True, False, now)
                    for c in part
                ],
            )
            await loader.load(
                "thread",
                (
                    "id",
                    "customer_id",
                    "status",
                    "assignee_id",
                    "last_message_at",
                    "last_preview",
                    "unread_count",
                    "created_at",
                ),
                [
                    (
                        c,
                        c,
                        rng.choice(["open", "waiting", "closed"]),
                        rng.choice(team) if rng.random() < ASSIGNED else None,
                        now - timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
                        sentence(rng)[:200],
                        rng.choice([0, 0, 0, 1, 2, 5, 150]),
                        now,
                    )
                    for c in part
                ],
            )
        print(f"{customers} customers in {time.monotonic() - started:.1f}s", flush=True)
        done = 0
        search_index = await loader.without_search_index()
        while done < messages:
            n = min(CHUNK, messages - done)
            rows = []
            for _ in range(n):
                c = ids[rng.randrange(len(ids))]
                inbound = rng.random() < 0.55
                rows.append(
                    (
                        c,
                        c,
                        "in" if inbound else "out",
                        "telegram",
                        account_id,
                        c,
                        "customer" if inbound else "manager",
                        sentence(rng),
                        [],
                        {},
                        "none" if inbound else "sent",
                        now - timedelta(seconds=rng.randint(0, 3600 * 24 * 30)),
                    )
                )
            await loader.load("message", MESSAGE_COLUMNS, rows)
            done += n
            if done % 200_000 < CHUNK:
                print(f"{done} messages in {time.monotonic() - started:.1f}s", flush=True)
        await loader.restore_search_index(search_index)
        print(f"search index rebuilt at {time.monotonic() - started:.1f}s", flush=True)
        await loader.finish()
    print(f"done in {time.monotonic() - started:.1f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", required=True, help="sqlite+aiosqlite:///path or postgresql+asyncpg://…")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.customers < 1 or args.messages < 0:
        parser.error("--customers must be at least 1 and --messages at least 0")
    upgrade(args.db)
    asyncio.run(generate(args.db, args.customers, args.messages))


if __name__ == "__main__":
    main()
