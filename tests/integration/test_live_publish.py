"""Live updates over Redis: many events published in one burst (a batch's message.new and thread.updated)
all reach a subscriber in another plugin (another process's), in the order they were published."""

from __future__ import annotations

import asyncio

from inbox.web.live import make_channels_plugin
from tests.integration.test_scale_out import redis_url as redis_url  # a fixture


async def test_a_burst_arrives_whole_and_in_order(redis_url: str) -> None:
    sender, receiver = make_channels_plugin(redis_url), make_channels_plugin(redis_url)
    await sender._on_startup()
    await receiver._on_startup()
    try:
        async with receiver.start_subscription(["burst:a", "burst:b"]) as sub:
            await asyncio.sleep(0.2)  # the subscription reached Redis
            for n in range(300):  # queued in one turn of the loop: the worker sends them together
                sender.publish(f"{n}", channels=["burst:a", "burst:b"] if n % 2 else ["burst:a"])
            got: list[bytes] = []

            async def read() -> None:
                async for data in sub.iter_events():
                    got.append(data)
                    if len(got) == 450:
                        return

            await asyncio.wait_for(read(), timeout=30)
        a_then_b = [f"{n}".encode() for n in range(300) for _ in range(2 if n % 2 else 1)]
        assert got == a_then_b  # each odd one on both channels, one after the other
    finally:
        await sender._on_shutdown()
        await receiver._on_shutdown()
