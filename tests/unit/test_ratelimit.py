"""Sliding-window limits in one process: a slot per send in every window it belongs to, all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from inbox.core.ratelimit import WINDOW, Limit, MemoryLimiter, RateLimiter, RedisLimiter, per_second
from tests import services


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    """Both kinds answer alike: in the process, and in Redis (Lua on Redis's clock)."""
    if request.param == "memory":
        yield MemoryLimiter()
        return
    redis = RedisLimiter(services.REDIS_URL, prefix=f"test:rl:{uuid.uuid4().hex}:")
    try:
        await redis.redis.ping()
    except Exception:
        services.missing(f"Redis at {services.REDIS_URL}")
    try:
        yield redis
    finally:
        keys = [k async for k in redis.redis.scan_iter(match=redis.prefix + "*")]
        if keys:
            await redis.redis.delete(*keys)
        await redis.close()


async def test_a_full_window_refuses_and_reserves_nothing() -> None:
    limiter = MemoryLimiter()
    bot, chat_a, chat_b = Limit("bot", 2, 60), Limit("a", 1, 60), Limit("b", 1, 60)
    wait, slots = await limiter.try_acquire([bot, chat_a])
    assert wait == 0 and len(slots) == 2
    wait, slots = await limiter.try_acquire([bot, chat_a])  # chat a is full
    assert wait > 0 and slots == []
    wait, _ = await limiter.try_acquire([bot, chat_b])  # the refusal above took no bot slot
    assert wait == 0
    wait, _ = await limiter.try_acquire([bot, Limit("c", 1, 60)])  # the bot is full now
    assert wait > 0


async def test_a_pause_holds_the_key() -> None:
    limiter = MemoryLimiter()
    await limiter.pause("chat", 30)
    wait, _ = await limiter.try_acquire([Limit("chat", 5, 1)])
    assert wait > 29


def test_rates_become_windows() -> None:
    assert per_second("k", 30) == [Limit("k", 30, WINDOW)]  # a full second's worth may go at once
    assert per_second("k", 20) == [Limit("k", 20, WINDOW)]
    assert per_second("k", 30, spread=3) == [
        Limit("k", 30, WINDOW),
        Limit("k:spread", 10, WINDOW * 10 / 30, from_end=False),
    ]
    assert per_second("k", 20, spread=3)[1] == Limit("k:spread", 6, WINDOW * 6 / 20, from_end=False)
    assert per_second("k", 2, spread=3)[1] == Limit("k:spread", 1, WINDOW / 2, from_end=False)
    assert per_second("k", 1) == [Limit("k", 1, WINDOW)]
    assert per_second("k", 0.5) == [Limit("k", 1, 2 * WINDOW)]
    assert 1.0 < WINDOW < 1.01


async def test_a_slot_is_reserved_ahead_at_the_time_it_frees_and_the_spacing_counts_from_there(
    limiter: RateLimiter,
) -> None:
    """1 per 0.1 s spacing: the second send gets the slot 0.1 s after the first's reserved time, reserved
    now; a third, further than ``ahead`` away, gets nothing and the time to ask again."""
    limiter = MemoryLimiter()
    spread = [Limit("s", 1, 0.1, from_end=False)]
    first = await limiter.reserve(spread, ahead=0.15)
    second = await limiter.reserve(spread, ahead=0.15)
    third = await limiter.reserve(spread, ahead=0.15)
    assert first.wait == 0
    assert 0.09 < second.wait <= 0.1 and second.bound == "s"
    assert third.slots == [] and 0 < third.wait <= 0.05 and third.bound == "s"


async def test_a_window_decided_by_a_send_in_flight_waits_for_its_end(limiter: RateLimiter) -> None:
    """Counted from the end: while the deciding send is in flight nothing is reserved, however far ahead
    reservations may go; once it ended, the next slot is a window after that end."""
    chat = [Limit("chat", 1, 1.0)]
    first = await limiter.reserve(chat, ahead=5)
    assert first.wait == 0 and len(first.slots) == 1
    held = await limiter.reserve(chat, ahead=5)
    assert held.slots == [] and held.bound == "chat"
    await limiter.sent(first.slots)
    after = await limiter.reserve(chat, ahead=5)
    assert len(after.slots) == 1 and 0.5 < after.wait <= 1.0
