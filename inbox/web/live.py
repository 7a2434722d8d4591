"""The live-update transport of the web layer: Litestar channels, in memory in one process or over Redis
pub/sub (INBOX_REDIS_URL) across processes. :class:`inbox.core.events.EventBus` publishes to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

log = logging.getLogger(__name__)


class InProcessChannelsPlugin(ChannelsPlugin):
    """One process: ``publish`` puts the data straight into the subscribers' queues. Litestar's memory
    backend carries it through two more queues and two tasks (publish worker, backend queue, subscriber
    worker), a turn of the event loop each, which on a loop busy with webhooks added milliseconds to every
    live update."""

    def publish(self, data: bytes | str, channels: str | Iterable[str]) -> None:  # type: ignore[override]
        if isinstance(channels, str):
            channels = [channels]
        payload = self.encode_data(data)
        for channel in channels:
            for subscriber in self._channels.get(channel, ()):
                subscriber.put_nowait(payload)


class PipelinedChannelsPlugin(ChannelsPlugin):
    """Across processes (Redis): what was queued while a publish was in flight goes out in one round trip,
    a pipeline of PUBLISH in queue order, where Litestar's worker awaits one EVALSHA per event in turn (its
    script is a PUBLISH per channel). A batch of 50 inbound messages queues 100 events (message.new,
    thread.updated): its last frame waited for 99 round trips, each a turn of a loop busy with webhooks.
    Subscribing is Litestar's backend, unchanged."""

    def __init__(self, *, redis: Redis, **kwargs: Any) -> None:
        super().__init__(backend=RedisChannelsPubSubBackend(redis=redis), **kwargs)
        self._redis = redis

    async def _pub_worker(self) -> None:
        while (queue := self._pub_queue) is not None:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for data, channels in batch:
                        for channel in dict.fromkeys(channels):
                            pipe.publish(channel, data)
                    await pipe.execute()
            except Exception:  # Redis down: these updates are lost (a page load shows them), not later ones
                log.warning("publishing %d live updates failed", len(batch), exc_info=True)
            finally:
                for _ in batch:
                    queue.task_done()


def make_channels_plugin(redis_url: str | None) -> ChannelsPlugin:
    options: dict[str, Any] = {
        "arbitrary_channels_allowed": True,
        "subscriber_max_backlog": 1000,
        "subscriber_backlog_strategy": "dropleft",
    }
    if redis_url:
        return PipelinedChannelsPlugin(redis=Redis.from_url(redis_url), **options)
    return InProcessChannelsPlugin(backend=MemoryChannelsBackend(), **options)


WAKE_INBOUND = "cluster:inbound"  # raw events committed: every process's inbound processor claims


class ClusterWake:
    """Wakes the inbound processors of the other processes when this one has committed raw events (a
    webhook, a poller), through the same channels (Redis pub/sub). Without it a processor in another
    process found new events only at its one-second poll; with per-chat claims (``InboundProcessor.claim``)
    it takes the chats the busy processor has not. Announcements in one turn of the event loop go out as
    one message; a process ignores its own. A lost announcement costs the poll, never an event."""

    def __init__(self, plugin: ChannelsPlugin) -> None:
        self.plugin = plugin
        self.me = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._scheduled = False

    def announce(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
        try:
            self.plugin.publish(self.me, channels=[WAKE_INBOUND])
        except Exception:  # live transport down: the other processes poll
            log.warning("announcing inbound events failed", exc_info=True)

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call ``wake`` whenever another process announces committed raw events (until ``stop``)."""
        mine = self.me.encode()
        while not stop.is_set():
            try:
                async with self.plugin.start_subscription([WAKE_INBOUND]) as sub:
                    async for data in sub.iter_events():
                        if (data if isinstance(data, bytes) else str(data).encode()) != mine:
                            wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("inbound wake-up subscription failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
