"""Domain events and their publisher.

Events are published after the transaction that caused them commits. The web layer turns them into
SSE for browsers; bots subscribe in-process. Transport: any :class:`Publisher`; the web layer passes
Litestar channels (memory backend in one process, Redis pub/sub when INBOX_REDIS_URL is set, see
``inbox.web.live``). Subscribers that miss events resync from the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

INBOX_CHANNEL = "inbox"  # everything every manager's inbox needs to refresh


def manager_channel(manager_id: int) -> str:
    return f"manager:{manager_id}"


def visitor_channel(kind: str, account_id: int, visitor: str) -> str:
    """The live stream of one outside visitor of a channel (a website widget's visitor): only what that
    visitor may see is published here, never an inbox event."""
    return f"visitor:{kind}:{account_id}:{visitor}"


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
BatchListener = Callable[[tuple[Event, ...]], Awaitable[None]]


class Publisher(Protocol):
    """A cross-process transport of JSON events to named channels (Litestar's ChannelsPlugin is one)."""

    def publish(self, data: str, channels: list[str]) -> None: ...


class EventBus:
    """Publishes to a transport (Litestar channels, cross-process with Redis) and to in-process listeners
    (bots)."""

    def __init__(self, plugin: Publisher | None = None) -> None:
        self.plugin = plugin
        self._listeners: list[Listener] = []
        self._batch_listeners: list[BatchListener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish_to(self, channel: str, data: dict[str, Any]) -> None:
        """Transport only (no in-process listeners): JSON ``data`` to one named channel, e.g. a visitor's
        stream (:func:`visitor_channel`). Call it after the data is committed."""
        if self.plugin is None:
            return
        try:
            self.plugin.publish(json.dumps(data, ensure_ascii=False), channels=[channel])
        except Exception:  # a dead live-update transport must not undo committed work
            log.exception("publishing to %s failed", channel)

    def subscribe_batch(self, listener: BatchListener) -> None:
        """A listener that takes every publish() call's events at once (after the per-event listeners):
        the bot answers a batch of inbound messages in one transaction."""
        self._batch_listeners.append(listener)

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
        for batch_listener in self._batch_listeners if events else ():
            try:
                await batch_listener(events)
            except Exception:
                log.exception("event listener failed on %d events", len(events))
