"""Sliding-window limits in one process: a slot per send in every window it belongs to, all or nothing."""

from __future__ import annotations

from inbox.core.ratelimit import Limit, MemoryLimiter, per_second


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
    assert per_second("k", 30) == [Limit("k", 30, 1.01), Limit("k:spread", 1, 1.01 / 30, from_end=False)]
    assert per_second("k", 1) == [Limit("k", 1, 1.01)]
    assert per_second("k", 0.5) == [Limit("k", 1, 2.02)]
