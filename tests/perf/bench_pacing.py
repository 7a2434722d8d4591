"""Outbound pacing: replies to N chats through our real channel clients against the emulators enforcing the
providers' limits: Telegram 30 sends/s per bot and 1/s per chat (429 past them); VK 20 API calls/s per
community token (error 6 "Too many requests per second" in an HTTP 200 answer past it). SQLite: one
dispatcher (windows in memory); PostgreSQL + Redis: two dispatchers sharing the windows in Redis.

Figures, per provider and database:
- achieved: the shortest span the limit permits for N sends (``ceil(N / limit) - 1`` seconds: a full
  second's worth at once, then another a second later, ...) over the span we took from the first accepted
  send to the last, so 1.00x is the provider's limit itself;
- achieved from start: the same over the span from the dispatchers' start (the claim, the first slots) to
  the last send: what a shop waits for its N replies;
- rate-limit answers (429 / error 6) per 1,000 sends, and the most accepted sends (VK: API calls) seen in
  any one second, against the limit;
- the bare client in the same run: the same adapter sending N messages with the emulator's limit off and
  nothing pacing it (32 at once), in sends per second against the limit: the headroom the machine leaves.

    python -m tests.perf.bench_pacing [--chats 300] [--only telegram|vk]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

from inbox.channels.hub import ChannelHub
from inbox.channels.telegram.adapter import TelegramChannel
from inbox.channels.vk.adapter import VKChannel
from inbox.core.events import EventBus
from inbox.core.outbox import Dispatcher
from inbox.core.ratelimit import MemoryLimiter, Pacer, RateLimiter, RedisLimiter, per_second
from inbox.core.types import AccountConfig, ChannelKind, OutboundMessage
from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.settings import Settings
from tests import services
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.emulators.vk import VKEmulator
from tests.integration import test_outbound_pacing as pacing
from tests.perf.table import Row

LIMITS = {"telegram": 30, "vk": pacing.VK_LIMIT}
TITLES = {"telegram": "outbound pacing (Telegram 30/s)", "vk": "outbound pacing (VK 20/s)"}


def _emulator(provider: str) -> TelegramEmulator | VKEmulator:
    if provider == "vk":
        return VKEmulator(group_id=77, token=pacing.VK_TOKEN, echo_replies=False)
    return TelegramEmulator()


def _send_times(emu: TelegramEmulator | VKEmulator) -> list[float]:
    return sorted(t for ts in emu.send_times.values() for t in ts)


def _most_in_one_second(emu: TelegramEmulator | VKEmulator) -> float:
    if isinstance(emu, VKEmulator):
        return emu.max_in_window(1.0)
    return emu.max_in_window(1.0)[0]


async def one(provider: str, label: str, url: str, redis: bool, chats: int, work: Path) -> list[Row]:
    await asyncio.to_thread(upgrade, url)
    limit = LIMITS[provider]
    emu = _emulator(provider)
    await emu.start()
    if isinstance(emu, VKEmulator):
        emu.enforce_limits(per_token=limit)
    else:
        emu.enforce_limits(per_bot=limit, per_chat=1)
    pacing.CHATS = chats
    n_proc = 2 if redis else 1
    engines = [make_engine(url) for _ in range(n_proc)]
    factories = [make_session_factory(e) for e in engines]
    settings = Settings(
        database_url=url, redis_url=services.REDIS_URL if redis else None, secret_key="x" * 20, data_dir=work
    )
    prefix = f"bench:pacing:{provider}:{time.time_ns()}:"  # one per run, shared by its dispatchers
    limiters: list[RateLimiter] = [
        RedisLimiter(services.REDIS_URL, prefix) if redis else MemoryLimiter() for _ in engines
    ]
    hubs = [ChannelHub(f, settings) for f in factories]
    try:
        total = await pacing.queue_replies(factories[0], emu, extra_to_first=0)
        dispatchers = [
            Dispatcher(f, h, EventBus(None), settings, limiter=lim)
            for f, h, lim in zip(factories, hubs, limiters, strict=True)
        ]
        started = time.monotonic()
        await pacing.run_until_sent(factories[0], dispatchers, total)
    finally:
        for h in hubs:
            await h.close()
        for lim in limiters:
            await lim.close()
        for e in engines:
            await e.dispose()
        await emu.stop()
    times = _send_times(emu)
    span = times[-1] - times[0]
    shortest = math.ceil(len(times) / limit) - 1  # seconds the limit needs at the least for these sends
    where = f"{label}, {n_proc} dispatcher{'s' if n_proc > 1 else ''}"
    title = TITLES[provider]
    refusal = "error 6" if provider == "vk" else "429"
    return [
        Row(title, where, "achieved", shortest / span, "x allowed", 1.0, "allowed", ">= 0.95x"),
        Row(
            title, where, "achieved from start", shortest / (times[-1] - started), "x allowed", 1.0, "allowed"
        ),
        Row(title, where, f"{refusal} per 1,000", 1000 * emu.rate_limited / max(total, 1), "", None, ""),
        Row(
            title,
            where,
            "most in 1 s",
            _most_in_one_second(emu),
            "sends",
            limit,
            "limit",
            "<= 1x",
            higher_is_better=False,
        ),
    ]


async def bare(provider: str, chats: int, work: Path, paced: bool = False) -> list[Row]:
    """The adapter alone, nothing pacing it and no limit enforced: sends per second the client and the
    emulator manage on this machine now (32 at once). ``paced``: the same sends through the dispatcher's
    pacer and limiter (in memory) with the limits enforced, and no database: the pacing design's own
    figure on this machine in this run, beside which the dispatcher's is read."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{work / 'unused.sqlite3'}",
        redis_url=None,
        secret_key="x" * 20,
        data_dir=work,
    )
    emu = _emulator(provider)
    await emu.start()
    limit = LIMITS[provider]
    if paced and isinstance(emu, VKEmulator):
        emu.enforce_limits(per_token=limit)
    elif paced and isinstance(emu, TelegramEmulator):
        emu.enforce_limits(per_bot=limit, per_chat=1)
    channel: TelegramChannel | VKChannel
    if isinstance(emu, VKEmulator):
        account = AccountConfig(
            id=1,
            kind=ChannelKind.VK,
            name="bare",
            settings={"group_id": emu.group_id, "api_base": emu.base_url, "timeout": 5, "rate": 100_000},
            secrets={"token": pacing.VK_TOKEN},
        )
        channel = VKChannel(account, settings)
    else:
        account = AccountConfig(
            id=1,
            kind=ChannelKind.TELEGRAM,
            name="bare",
            settings={"mode": "polling", "api_base": emu.base_url, "request_timeout": 5},
            secrets={"token": DEFAULT_TOKEN},
        )
        channel = TelegramChannel(account, settings)
    gate = asyncio.Semaphore(32)
    pacer = Pacer(MemoryLimiter())

    async def send(n: int) -> None:
        if paced:
            async with pacer.slot(per_second("acct:1", limit), per_second(f"chat:1:{n}", 1)):
                await channel.send(
                    OutboundMessage(
                        account_id=1,
                        chat_id=str(5000 + n),
                        text="Ваш заказ в пути",
                        idempotency_key=str(n + 1),
                    )
                )
            return
        async with gate:
            await channel.send(
                OutboundMessage(
                    account_id=1, chat_id=str(5000 + n), text="Ваш заказ в пути", idempotency_key=str(n + 1)
                )
            )

    try:
        began = time.monotonic()
        await asyncio.gather(*(send(n) for n in range(chats)))
        rate = chats / (time.monotonic() - began)
    finally:
        await channel.close()
        await emu.stop()
    title = TITLES[provider]
    if not paced:
        return [Row(title, "no database", "bare client, unpaced", rate, "sends/s", limit, "limit/s")]
    times = _send_times(emu)
    shortest = math.ceil(len(times) / limit) - 1
    achieved = shortest / (times[-1] - times[0])
    refusals = 1000 * emu.rate_limited / chats
    return [
        Row(title, "no database", "client + pacer, achieved", achieved, "x allowed", 1.0, "allowed"),
        Row(title, "no database", "client + pacer, refusals", refusals, "per 1,000", None, ""),
    ]


async def run_async(chats: int, work: Path, pg: str | None, providers: list[str]) -> list[Row]:
    rows: list[Row] = []
    for provider in providers:
        rows += await bare(provider, chats, work)
        rows += await bare(provider, chats, work, paced=True)
        rows += await one(
            provider,
            "SQLite",
            f"sqlite+aiosqlite:///{work / f'pacing-{provider}.sqlite3'}",
            False,
            chats,
            work,
        )
        if pg is not None:
            rows += await one(provider, "PostgreSQL + Redis", pg, True, chats, work)
    return rows


def run(chats: int, work: Path, providers: list[str] | None = None, pg: bool = True) -> list[Row]:
    providers = providers or ["telegram", "vk"]
    pgs = {p: services.create_pg_database() for p in providers} if pg and services.pg_available() else {}
    try:
        rows: list[Row] = []
        for provider in providers:
            rows += asyncio.run(run_async(chats, work, pgs.get(provider), [provider]))
        return rows
    finally:
        for pg in pgs.values():
            services.drop_pg_database(pg)


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--only", choices=sorted(LIMITS), action="append")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL + Redis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(render_text(run(args.chats, Path(tmp), args.only, pg=not args.sqlite_only)))


if __name__ == "__main__":
    main()
