"""Order timers, once a minute: expire draft reservations, apply automatic transitions (with their
notifications and webhooks), and tell the responsible manager about orders past their status time limit.

``overdue_thread_ids`` is the "overdue" filter of the thread list: threads with at least one overdue order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.db import SessionFactory
from inbox.events import Event, EventBus, manager_channel
from inbox.models import Thread, utcnow
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, run_order_action
from inbox.settings import Settings

log = logging.getLogger(__name__)
TICK_SECONDS = 60.0


async def overdue_thread_ids(session: AsyncSession, now: datetime | None = None) -> set[int]:
    """Threads that have an order past its status time limit."""
    return {
        item.order.thread_id
        for item in await service.find_overdue(session, now or utcnow(), limit=10_000)
        if item.order.thread_id is not None
    }


@dataclass
class OrderTimers:
    factory: SessionFactory
    bus: EventBus
    settings: Settings
    wake: Callable[[], None] | None = None
    # (order id, status entered at) already reported overdue by this process: report once per entry
    _reported: set[tuple[int, datetime]] = field(default_factory=set)

    async def tick(self, now: datetime | None = None) -> dict[str, int]:
        """One round; returns what it did (for logs and tests)."""
        now = now or utcnow()

        async def expire(session: AsyncSession, fx: Effects) -> int:
            return len(await service.expire_drafts(session, now))

        async def auto(session: AsyncSession, fx: Effects) -> int:
            changes = await service.apply_auto_transitions(session, now)
            for change in changes:
                await after_status(session, fx, change)
            return len(changes)

        expired = await run_order_action(self.factory, self.bus, self.settings, expire, self.wake)
        moved = await run_order_action(self.factory, self.bus, self.settings, auto, self.wake)
        reported = await self.report_overdue(now)
        return {"expired": expired, "auto": moved, "overdue_reported": reported}

    async def report_overdue(self, now: datetime) -> int:
        """An "order.overdue" event on the manager's channel: the order's manager, else the thread's
        assignee (nobody responsible: the shared inbox channel)."""
        async with self.factory() as session:
            items = await service.find_overdue(session, now)
            sent = 0
            current: set[tuple[int, datetime]] = set()
            for item in items:
                key = (item.order.id, item.order.status_changed_at)
                current.add(key)
                if key in self._reported:
                    continue
                manager_id = item.order.manager_id
                if manager_id is None and item.order.thread_id is not None:
                    thread = await session.get(Thread, item.order.thread_id)
                    manager_id = thread.assignee_id if thread else None
                event = Event(
                    "order.overdue",
                    thread_id=item.order.thread_id,
                    customer_id=item.order.customer_id,
                    data={
                        "order_id": item.order.id,
                        "number": item.order.number,
                        "status": item.status.code,
                        "due_at": item.due_at.isoformat(),
                        "manager_id": manager_id,
                    },
                )
                if manager_id is not None:
                    await self.bus.publish(event, channel=manager_channel(manager_id))
                else:
                    await self.bus.publish(event)
                sent += 1
            self._reported = current
        return sent

    async def run(self, stop: asyncio.Event, interval: float = TICK_SECONDS) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("order timers failed; retrying in a minute")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
