"""Generate a large shop for the team benchmarks: N customers (identities, threads) and M messages.

    python -m tests.perf.team_data --db sqlite+aiosqlite:///big.sqlite3 --customers 100000 --messages 1000000

The database is migrated first. Rows go in with multi-row INSERTs in chunks (SQLite inside one transaction
per chunk, so the FTS triggers run in bulk; PostgreSQL through asyncpg). A manager ``bench@shop.example`` /
``bench-password`` is created for the HTTP part of the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, text

from inbox.core.security import hash_password
from inbox.db import make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import ChannelAccount, Customer, Identity, Manager, Message, Thread

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
CHUNK = 5000
BENCH_EMAIL, BENCH_PASSWORD = "bench@shop.example", "bench-password"


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "?"


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
        await session.flush()
        account_id = account.id
    ids = list(range(start, start + customers))
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        async with transaction(factory) as session:
            await session.execute(
                insert(Customer),
                [
                    {
                        "id": c,
                        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                        "phone": f"+79{c:09d}"[:12],
                        "phone_verified": False,
                        "email": f"user{c}@mail.example",
                        "email_verified": False,
                        "tags": [],
                        "fields": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for c in part
                ],
            )
            await session.execute(
                insert(Identity),
                [
                    {
                        "id": c,
                        "kind": "telegram",
                        "account_id": account_id,
                        "external_id": str(c),
                        "customer_id": c,
                        "display": f"user{c}",
                        "username": f"user{c}",
                        "verified": True,
                        "blocked": False,
                        "created_at": now,
                    }
                    for c in part
                ],
            )
            await session.execute(
                insert(Thread),
                [
                    {
                        "id": c,
                        "customer_id": c,
                        "status": rng.choice(["open", "waiting", "closed"]),
                        "last_message_at": now - timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
                        "last_preview": "",
                        "unread_count": rng.randint(0, 2),
                        "created_at": now,
                    }
                    for c in part
                ],
            )
    print(f"{customers} customers in {time.monotonic() - started:.1f}s", flush=True)
    done = 0
    while done < messages:
        n = min(CHUNK, messages - done)
        rows = []
        for _ in range(n):
            c = ids[rng.randrange(len(ids))]
            inbound = rng.random() < 0.55
            rows.append(
                {
                    "thread_id": c,
                    "customer_id": c,
                    "direction": "in" if inbound else "out",
                    "channel": "telegram",
                    "account_id": account_id,
                    "identity_id": c,
                    "author": "customer" if inbound else "manager",
                    "text": sentence(rng),
                    "revisions": [],
                    "meta": {},
                    "delivery": "none" if inbound else "sent",
                    "created_at": now - timedelta(seconds=rng.randint(0, 3600 * 24 * 30)),
                }
            )
        async with transaction(factory) as session:
            await session.execute(insert(Message), rows)
        done += n
        if done % 100_000 < CHUNK:
            print(f"{done} messages in {time.monotonic() - started:.1f}s", flush=True)
    async with factory() as session:
        await session.execute(text("ANALYZE"))
        await session.commit()
    await engine.dispose()
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
