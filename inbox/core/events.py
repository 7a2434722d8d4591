"""Domain events and their publisher.

Events are published after the transaction that caused them commits. The web layer turns them into
SSE for browsers; bots subscribe in-process. Transport: Litestar channels (memory backend in one process,
Redis pub/sub when INBOX_REDIS_URL is set). Subscribers that miss events resync from the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

log = logging.getLogger(__name__)

INBOX_CHANNEL = "inbox"  # everything every manager's inbox needs to refresh


def manager_channel(manager_id: int) -> str:
    return f"manager:{manager_id}"


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # message.new, message.updated, thread.updated, customer.updated, order.*, stock.changed
    thread_id: int | None = None
    message_id: int | None = None
    customer_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


Listener = Callable[[Event], Awaitable[None]]


class EventBus:
    """Publishes to Litestar channels (cross-process with Redis) and to in-process listeners (bots)."""

    def __init__(self, plugin: ChannelsPlugin | None = None) -> None:
        self.plugin = plugin
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, *events: Event, channel: str = INBOX_CHANNEL) -> None:
        for ev in events:
            if self.plugin is not None:
                try:
                    self.plugin.publish(ev.to_json(), channels=[channel])
                except Exception:  # a dead live-update transport must not undo a committed message
                    log.exception("publishing %s failed", ev.type)
            for listener in self._listeners:
                try:
                    await listener(ev)
                except Exception:
                    log.exception("event listener failed on %s", ev.type)


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
