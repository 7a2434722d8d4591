"""Sending a broadcast (not collected by the default test run): N consenting Telegram customers get a
broadcast planned and queued by ``inbox.sales.broadcasts`` and sent by one outbox dispatcher against the
emulator enforcing 30 sends/s per bot and 1/s per chat (429 past them). Figures: the achieved send rate
beside the allowed rate measured in the same run (a bare HTTP client sending N messages to the same
emulator as fast as it accepts them, retrying each 429 at once), their ratio (target >= 0.95x); achieved ÷
the nominal limit (the shortest span 30/s permits for N sends over the span we took); 429 answers per 1,000
sends; the most sends seen in any one second.

    python -m tests.perf.bench_broadcast_send [--recipients 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
from pathlib import Path

import httpx

from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.settings import Settings
from tests import services
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.integration import test_sales_broadcast_pacing as scenario
from tests.perf.table import Row

LIMIT = scenario.PER_BOT
BENCH = "broadcast sending (Telegram 30/s)"


def send_times(emu: TelegramEmulator) -> list[float]:
    return sorted(t for ts in emu.send_times.values() for t in ts)


def rate(times: list[float]) -> float:
    """Sends per second between the first accepted send and the last."""
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else float("inf")


async def allowed_rate(n: int) -> float:
    """The rate the emulator lets through in this run: a bare client, four requests in flight, each 429
    retried at once, N messages to N chats."""
    emu = TelegramEmulator()
    await emu.start()
    emu.enforce_limits(per_bot=LIMIT, per_chat=1)
    chats: asyncio.Queue[int] = asyncio.Queue()
    for k in range(n):
        chats.put_nowait(scenario.FIRST_CHAT + k)
    url = f"{emu.base_url}/bot{DEFAULT_TOKEN}/sendMessage"

    async def worker(client: httpx.AsyncClient) -> None:
        while not chats.empty():
            chat = chats.get_nowait()
            while (await client.post(url, data={"chat_id": chat, "text": "baseline"})).status_code == 429:
                await asyncio.sleep(0.005)

    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.gather(*(worker(client) for _ in range(4)))
    finally:
        await emu.stop()
    return rate(send_times(emu))


async def one(label: str, url: str, n: int, work: Path) -> list[Row]:
    await asyncio.to_thread(upgrade, url)
    allowed = await allowed_rate(n)
    emu = TelegramEmulator()
    await emu.start()
    emu.enforce_limits(per_bot=LIMIT, per_chat=1)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    settings = Settings(database_url=url, redis_url=None, secret_key="x" * 20, data_dir=work)
    try:
        audience = await scenario.populate(factory, emu, n)
        queued = await scenario.broadcast_and_send(factory, settings, emu)
    finally:
        await engine.dispose()
        await emu.stop()
    copies = scenario.copies_by_chat(emu)
    if set(copies) != audience.consenting or max(copies.values()) != 1 or queued != n:
        raise SystemExit(f"{label}: {queued} queued, {len(copies)} chats reached: not each consenting once")
    times = send_times(emu)
    achieved = rate(times)
    shortest = math.ceil(len(times) / LIMIT) - 1  # seconds the limit needs at the least for these sends
    per_bot, _ = emu.max_in_window(1.0)
    where = f"{label}, {n} recipients"
    return [
        Row(BENCH, where, "achieved rate", achieved, "sends/s", allowed, "allowed (bare client)", ">= 0.95x"),
        Row(BENCH, where, "achieved", shortest / (times[-1] - times[0]), "x limit", 1.0, "30/s", ">= 0.95x"),
        Row(BENCH, where, "429 per 1,000", 1000 * emu.rate_limited / max(queued, 1), "", None, ""),
        Row(BENCH, where, "most in 1 s", per_bot, "sends", LIMIT, "limit", "<= 1x", higher_is_better=False),
    ]


async def run_async(n: int, work: Path, pg: str | None) -> list[Row]:
    rows = await one("SQLite", f"sqlite+aiosqlite:///{work / 'broadcast-send.sqlite3'}", n, work)
    if pg is not None:
        rows += await one("PostgreSQL", pg, n, work)
    return rows


def run(n: int, work: Path) -> list[Row]:
    pg = services.create_pg_database() if services.pg_available() else None
    try:
        return asyncio.run(run_async(n, work, pg))
    finally:
        if pg is not None:
            services.drop_pg_database(pg)


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(render_text(run(args.recipients, Path(tmp))))


if __name__ == "__main__":
    main()
