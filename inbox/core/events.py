"""Domain events and their one path: queued on the session, published after the transaction commits.

Services call :func:`emit` (``emit(session, Event("message.new", ...))``) and return domain results, not
lists of events. Session hooks keep the queue honest: events emitted inside a savepoint that rolls back, or a
transaction that rolls back, are dropped (they describe changes that never happened); on commit they move
to the session's committed queue. Whoever owns the bus publishes that queue: :meth:`EventBus.transaction`
(commit, then publish) or :meth:`EventBus.flush` after a commit of its own. Publishing is awaited, so the
in-process listeners (bots, auto-assignment) run before the caller goes on, as before.

Transport: any :class:`Publisher`; the web layer passes Litestar channels (memory backend in one process,
Redis pub/sub when INBOX_REDIS_URL is set, see ``inbox.web.live``). Subscribers that miss events resync
from the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

INBOX_CHANNEL = "inbox"  # everything every manager's inbox needs to refresh
_PENDING = "inbox.events.pending"  # [(transaction, channel, event)] not committed yet
_COMMITTED = "inbox.events.committed"  # [(channel, event)] committed, not published yet


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


# ---- the session queue ----------------------------------------------------------------------------------


def emit(session: AsyncSession | Session, *events: Event, channel: str = INBOX_CHANNEL) -> None:
    """Queue events on the session; they are published once its transaction commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    trans = sync.get_nested_transaction() or sync.get_transaction()
    pending: list[tuple[SessionTransaction | None, str, Event]] = sync.info.setdefault(_PENDING, [])
    pending.extend((trans, channel, ev) for ev in events)


def pending_mark(session: AsyncSession | Session) -> int:
    """How many events the session has queued so far; :func:`drop_pending_since` forgets later ones."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    return len(sync.info.get(_PENDING, []))


def drop_pending_since(session: AsyncSession | Session, mark: int) -> None:
    """Forget the events queued after ``mark`` (a step that decided to change nothing after all)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    pending = sync.info.get(_PENDING)
    if pending is not None:
        del pending[mark:]


def stock_changed(session: AsyncSession | Session, *product_ids: int) -> None:
    emit(session, Event(type="stock.changed", data={"product_ids": list(product_ids)}))


def _within(trans: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while trans is not None:
        if trans is ended:
            return True
        trans = trans.parent
    return False


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        root = previous_transaction.parent is None  # events queued before the transaction began go too
        session.info[_PENDING] = [
            p for p in pending if not (_within(p[0], previous_transaction) or (root and p[0] is None))
        ]


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if pending:
        committed: list[tuple[str, Event]] = session.info.setdefault(_COMMITTED, [])
        committed.extend((channel, ev) for _, channel, ev in pending)


def take_committed(session: AsyncSession | Session) -> list[tuple[str, Event]]:
    """The committed, unpublished events of the session (merged where possible); clears the queue."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    return merge(sync.info.pop(_COMMITTED, []))


def committed_events(session: AsyncSession | Session) -> list[Event]:
    """The committed events taken off the session, for code that hands them to a bus it does not own
    (the sales rules' runner); the bus publishes them with :meth:`EventBus.publish`."""
    return [ev for channel, ev in take_committed(session) if channel == INBOX_CHANNEL]


def merge(events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """Drop repeats and fold stock.changed events into one."""
    merged: list[tuple[str, Event]] = []
    stock_ids: list[int] = []
    for channel, ev in events:
        if ev.type == "stock.changed" and channel == INBOX_CHANNEL:
            stock_ids.extend(int(i) for i in ev.data.get("product_ids", []))
        elif (channel, ev) not in merged:
            merged.append((channel, ev))
    if stock_ids:
        merged.append(
            (INBOX_CHANNEL, Event(type="stock.changed", data={"product_ids": sorted(set(stock_ids))}))
        )
    return merged


# ---- the bus ----------------------------------------------------------------------------------------------


class Publisher(Protocol):
    """A cross-process transport of JSON events to named channels (Litestar's ChannelsPlugin is one)."""

    def publish(self, data: str, channels: list[str]) -> None: ...


SessionFactory = Callable[[], AsyncSession]


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
        """A listener that takes the events of one commit (or one publish() call) at once, after the
        per-event listeners: the bot answers a batch of inbound messages in one transaction."""
        self._batch_listeners.append(listener)

    @asynccontextmanager
    async def transaction(self, factory: SessionFactory) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on exit (rolls back on error); the events emitted on it
        are published after the commit."""
        async with factory() as session:
            try:
                async with session.begin():
                    yield session
            finally:
                events = take_committed(session)  # empty after a rollback
            await self._publish(events)

    async def flush(self, session: AsyncSession | Session) -> None:
        """Publish what the session has committed so far (for code that commits by itself)."""
        await self._publish(take_committed(session))

    async def publish(self, *events: Event, channel: str = INBOX_CHANNEL) -> None:
        """Publish events that need no transaction (presence, timers that only notify)."""
        await self._publish([(channel, ev) for ev in events])

    async def _publish(self, events: list[tuple[str, Event]]) -> None:
        for channel, ev in events:
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
        batch = tuple(ev for _, ev in events)
        for batch_listener in self._batch_listeners if batch else ():
            try:
                await batch_listener(batch)
            except Exception:
                log.exception("event listener failed on %d events", len(events))
