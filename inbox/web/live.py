"""The live-update transport of the web layer: Litestar channels, in memory in one process or over Redis
pub/sub (INBOX_REDIS_URL) across processes. :class:`inbox.core.events.EventBus` publishes to it."""

from __future__ import annotations

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend


def make_backend(redis_url: str | None) -> ChannelsBackend:
    if redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url))
    return MemoryChannelsBackend()


def make_channels_plugin(redis_url: str | None) -> ChannelsPlugin:
    return ChannelsPlugin(
        backend=make_backend(redis_url),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )
