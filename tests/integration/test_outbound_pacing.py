"""Outbound pacing against the provider's limits: the Telegram emulator enforces 30 sends per bot and 1 per
chat in any rolling second and answers 429 past them; the VK emulator enforces 20 API calls per community
token in any rolling second and answers error 6 past it. The dispatcher must stay under them, in one process
(windows in memory) and in two (windows in Redis). Counts, not timings: the emulator records each accepted
send, and no one-second window may hold more than the limit, and no 429 / error 6 may have been answered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import apply_message
from inbox.core.outbox import Dispatcher, Draft, enqueue
from inbox.core.ratelimit import MemoryLimiter, RateLimiter, RedisLimiter
from inbox.core.types import ChannelKind, ContactHints, InboundMessage
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Outbox, Thread
from inbox.settings import Settings
from tests import services
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.emulators.vk import VKEmulator

CHATS = 90
VK_TOKEN = "vk1.a.paced-community"
VK_LIMIT = 20
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    emu.enforce_limits(per_bot=30, per_chat=1)
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def vk_emulator() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(group_id=77, token=VK_TOKEN, echo_replies=False) as emu:
        emu.enforce_limits(per_token=VK_LIMIT)
        yield emu


def _account(emu: TelegramEmulator | VKEmulator) -> ChannelAccount:
    if isinstance(emu, VKEmulator):
        return ChannelAccount(
            kind="vk",
            name="paced",
            settings={"group_id": emu.group_id, "mode": "callback", "api_base": emu.base_url, "timeout": 5},
            secrets={"token": VK_TOKEN},
            state={},
        )
    return ChannelAccount(
        kind="telegram",
        name="paced",
        settings={"mode": "polling", "api_base": emu.base_url, "request_timeout": 5},
        secrets={"token": DEFAULT_TOKEN},
        state={},
    )


async def queue_replies(
    factory: SessionFactory, emu: TelegramEmulator | VKEmulator, extra_to_first: int
) -> int:
    """CHATS customers write in (Telegram chats or VK users, by the emulator); each gets a reply, the
    first ``extra_to_first`` more. Returns the count."""
    vk = isinstance(emu, VKEmulator)
    async with transaction(factory) as session:
        account = _account(emu)
        session.add(account)
        await session.flush()
        for n in range(CHATS):
            await apply_message(
                session,
                InboundMessage(
                    kind=ChannelKind.VK if vk else ChannelKind.TELEGRAM,
                    account_id=account.id,
                    external_user_id=str(5000 + n),
                    external_message_id=f"{5000 + n}:1",
                    sent_at=T0,
                    text="Где мой заказ?",
                    contact=ContactHints(display_name=f"Покупатель {n}"),
                ),
                [],
            )
        threads = list((await session.execute(select(Thread).order_by(Thread.id))).scalars())
        for thread in threads:
            await enqueue(session, thread, Draft(text="Ваш заказ в пути"))
        for k in range(extra_to_first):
            await enqueue(session, threads[0], Draft(text=f"Ещё одно сообщение {k}"))
    return CHATS + extra_to_first


async def run_until_sent(factory: SessionFactory, dispatchers: list[Dispatcher], total: int) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(d.run(stop)) for d in dispatchers]
    try:
        async with asyncio.timeout(120):
            while True:
                async with factory() as session:
                    left = (
                        await session.execute(
                            select(func.count()).select_from(Outbox).where(Outbox.done_at.is_(None))
                        )
                    ).scalar_one()
                if left == 0:
                    break
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
    assert total > 0


def assert_paced(emu: TelegramEmulator, total: int) -> None:
    sent = emu.requests("sendMessage")
    accepted = [r for r in sent if r.fault is None]
    per_bot, per_chat = emu.max_in_window(1.0)
    print(
        f"\n{total} sends: {len(accepted)} accepted, {emu.rate_limited} answered 429, "
        f"at most {per_bot} per bot and {per_chat} per chat in any one second"
    )
    assert emu.rate_limited == 0
    assert len(accepted) == total  # each once
    assert per_bot <= 30
    assert per_chat <= 1


def assert_vk_paced(emu: VKEmulator, total: int) -> None:
    most = emu.max_in_window(1.0)
    print(
        f"\n{total} sends: {len(emu.sent)} accepted, {emu.rate_limited} answered error 6, "
        f"at most {most} API calls in any one second"
    )
    assert emu.rate_limited == 0
    assert len(emu.sent) == total  # each once
    assert len({s.random_id for s in emu.sent}) == total
    assert most <= VK_LIMIT


async def test_one_dispatcher_stays_under_the_bot_and_chat_limits(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    total = await queue_replies(factory, emulator, extra_to_first=3)
    hub = ChannelHub(factory, settings)
    dispatcher = Dispatcher(factory, hub, EventBus(None), settings, limiter=MemoryLimiter())
    try:
        await run_until_sent(factory, [dispatcher], total)
    finally:
        await hub.close()
    assert_paced(emulator, total)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    client = Redis.from_url(services.REDIS_URL)
    try:
        await client.ping()
    except Exception:
        services.missing(f"Redis at {services.REDIS_URL}")
    prefix = f"test:pacing:{id(client)}:"
    try:
        yield prefix
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def two_dispatchers_send(
    pg_url: str, redis_prefix: str, tmp_path: Path, emulator: TelegramEmulator | VKEmulator
) -> int:
    """Two dispatchers, as two processes would be: each its own engine, hub and Redis connection, one queue
    of replies on PostgreSQL; returns how many were queued once all are sent."""
    from inbox.db import make_engine, make_session_factory

    engines = [make_engine(pg_url), make_engine(pg_url)]
    factories = [make_session_factory(e) for e in engines]
    settings = Settings(
        database_url=pg_url, redis_url=services.REDIS_URL, secret_key="x" * 20, data_dir=tmp_path
    )
    total = await queue_replies(factories[0], emulator, extra_to_first=2)
    limiters: list[RateLimiter] = [RedisLimiter(services.REDIS_URL, redis_prefix) for _ in engines]
    hubs = [ChannelHub(f, settings) for f in factories]
    dispatchers = [
        Dispatcher(f, h, EventBus(None), settings, limiter=lim)
        for f, h, lim in zip(factories, hubs, limiters, strict=True)
    ]
    try:
        await run_until_sent(factories[0], dispatchers, total)
    finally:
        for h in hubs:
            await h.close()
        for lim in limiters:
            await lim.close()
        for e in engines:
            await e.dispose()
    return total


async def test_two_dispatchers_share_the_limits_through_redis(
    private_pg_url: str, redis_prefix: str, tmp_path: Path, emulator: TelegramEmulator
) -> None:
    """Two dispatchers, as two processes would be: each its own engine, hub and Redis connection."""
    total = await two_dispatchers_send(private_pg_url, redis_prefix, tmp_path, emulator)
    assert_paced(emulator, total)


async def test_one_dispatcher_stays_under_the_vk_community_limit(
    factory: SessionFactory, settings: Settings, vk_emulator: VKEmulator
) -> None:
    total = await queue_replies(factory, vk_emulator, extra_to_first=3)
    hub = ChannelHub(factory, settings)
    dispatcher = Dispatcher(factory, hub, EventBus(None), settings, limiter=MemoryLimiter())
    try:
        await run_until_sent(factory, [dispatcher], total)
    finally:
        await hub.close()
    assert_vk_paced(vk_emulator, total)


async def test_two_dispatchers_share_the_vk_community_limit_through_redis(
    private_pg_url: str, redis_prefix: str, tmp_path: Path, vk_emulator: VKEmulator
) -> None:
    """Two processes' dispatchers, one community token: together never more than 20 calls in a second
    (each process's VK client paces only its own calls; the shared windows in Redis pace the two)."""
    total = await two_dispatchers_send(private_pg_url, redis_prefix, tmp_path, vk_emulator)
    assert_vk_paced(vk_emulator, total)
