"""The live-update transport of the web layer: Litestar channels, in memory in one process or over Redis
pub/sub (INBOX_REDIS_URL) across processes. :class:`inbox.core.events.EventBus` publishes to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

log = logging.getLogger(__name__)


def make_backend(redis_url: str | None) -> ChannelsBackend:
    if redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url))
    return MemoryChannelsBackend()


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


def make_channels_plugin(redis_url: str | None) -> ChannelsPlugin:
    plugin = ChannelsPlugin if redis_url else InProcessChannelsPlugin
    return plugin(
        backend=make_backend(redis_url),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )


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
