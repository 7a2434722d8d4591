"""Outbound pacing: replies to N Telegram chats against the emulator enforcing 30 sends/s per bot and 1/s per
chat (429 past them). Figures: achieved ÷ allowed (the shortest span the limit permits for N sends over the
span we took), 429 answers per 1,000 sends, the most sends seen in any one second. SQLite: one dispatcher
(windows in memory); PostgreSQL + Redis: two dispatchers sharing the windows in Redis.

    python -m tests.perf.bench_pacing [--chats 300]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
from pathlib import Path

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.outbox import Dispatcher
from inbox.core.ratelimit import MemoryLimiter, RateLimiter, RedisLimiter
from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.settings import Settings
from tests import services
from tests.emulators.telegram import TelegramEmulator
from tests.integration import test_outbound_pacing as pacing
from tests.perf.table import Row

LIMIT = 30


async def one(label: str, url: str, redis: bool, chats: int, work: Path) -> list[Row]:
    await asyncio.to_thread(upgrade, url)
    emu = TelegramEmulator()
    await emu.start()
    emu.enforce_limits(per_bot=LIMIT, per_chat=1)
    pacing.CHATS = chats
    n_proc = 2 if redis else 1
    engines = [make_engine(url) for _ in range(n_proc)]
    factories = [make_session_factory(e) for e in engines]
    settings = Settings(
        database_url=url, redis_url=services.REDIS_URL if redis else None, secret_key="x" * 20, data_dir=work
    )
    limiters: list[RateLimiter] = [
        RedisLimiter(services.REDIS_URL, f"bench:pacing:{label}:") if redis else MemoryLimiter()
        for _ in engines
    ]
    hubs = [ChannelHub(f, settings) for f in factories]
    try:
        total = await pacing.queue_replies(factories[0], emu, extra_to_first=0)
        dispatchers = [
            Dispatcher(f, h, EventBus(None), settings, limiter=lim)
            for f, h, lim in zip(factories, hubs, limiters, strict=True)
        ]
        await pacing.run_until_sent(factories[0], dispatchers, total)
    finally:
        for h in hubs:
            await h.close()
        for lim in limiters:
            await lim.close()
        for e in engines:
            await e.dispose()
        await emu.stop()
    times = sorted(t for ts in emu.send_times.values() for t in ts)
    span = times[-1] - times[0]
    shortest = math.ceil(len(times) / LIMIT) - 1  # seconds the limit needs at the least for these sends
    per_bot, _ = emu.max_in_window(1.0)
    where = f"{label}, {n_proc} dispatcher{'s' if n_proc > 1 else ''}"
    return [
        Row(
            "outbound pacing (Telegram 30/s)",
            where,
            "achieved",
            shortest / span,
            "x allowed",
            1.0,
            "allowed",
            ">= 0.95x",
        ),
        Row(
            "outbound pacing (Telegram 30/s)",
            where,
            "429 per 1,000",
            1000 * emu.rate_limited / max(total, 1),
            "",
            None,
            "",
        ),
        Row(
            "outbound pacing (Telegram 30/s)",
            where,
            "most in 1 s",
            per_bot,
            "sends",
            LIMIT,
            "limit",
            "<= 1x",
            higher_is_better=False,
        ),
    ]


async def run_async(chats: int, work: Path, pg: str | None) -> list[Row]:
    rows = await one("SQLite", f"sqlite+aiosqlite:///{work / 'pacing.sqlite3'}", False, chats, work)
    if pg is not None:
        rows += await one("PostgreSQL + Redis", pg, True, chats, work)
    return rows


def run(chats: int, work: Path) -> list[Row]:
    pg = services.create_pg_database() if services.pg_available() else None
    try:
        return asyncio.run(run_async(chats, work, pg))
    finally:
        if pg is not None:
            services.drop_pg_database(pg)


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(render_text(run(args.chats, Path(tmp))))


if __name__ == "__main__":
    main()
