"""The live-update transport of the web layer: Litestar channels, in memory in one process or over Redis
pub/sub (INBOX_REDIS_URL) across processes. :class:`inbox.core.events.EventBus` publishes to it."""

from __future__ import annotations

from collections.abc import Iterable

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend


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
