"""Order timers, once a minute: expire draft reservations, apply automatic transitions (with their
notifications and webhooks), and tell the responsible manager about orders past their status time limit.

``overdue_thread_ids`` lists the threads with at least one overdue order; the same rule is registered as the
thread list filter ``THREAD_FILTERS["overdue"]`` (``?f_overdue=1``), computed by the database clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from inbox.core.events import Event, EventBus, manager_channel
from inbox.core.threads import THREAD_FILTERS, BadFilter
from inbox.db import SessionFactory
from inbox.models import Order, OrderStatus, Thread, utcnow
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, run_order_action
from inbox.orders.payments.offers import emit_unpaid
from inbox.settings import Settings

log = logging.getLogger(__name__)
TICK_SECONDS = 60.0


class minutes_since(FunctionElement[float]):
    """Minutes from a stored UTC time to the database's now."""

    type = Float()
    inherit_cache = True


@compiles(minutes_since, "sqlite")
def _minutes_sqlite(element: minutes_since, compiler: SQLCompiler, **kw: object) -> str:
    return f"((julianday('now') - julianday({compiler.process(element.clauses, **kw)})) * 1440.0)"


@compiles(minutes_since, "postgresql")
def _minutes_pg(element: minutes_since, compiler: SQLCompiler, **kw: object) -> str:
    return f"(EXTRACT(EPOCH FROM (now() - {compiler.process(element.clauses, **kw)})) / 60.0)"


def has_overdue_order() -> ColumnElement[bool]:
    """EXISTS an order of the thread past its status time limit."""
    return exists(
        select(Order.id)
        .join(OrderStatus, OrderStatus.code == Order.status)
        .where(
            Order.thread_id == Thread.id,
            OrderStatus.time_limit_minutes.is_not(None),
            minutes_since(Order.status_changed_at) >= OrderStatus.time_limit_minutes,
        )
    )


def overdue_filter(query: Any, value: str) -> Any:
    """The thread list filter: ``1``/``true`` keeps threads with an overdue order, ``0`` those without."""
    if value.lower() in ("1", "true", "yes", "on"):
        return query.where(has_overdue_order())
    if value.lower() in ("0", "false", "no", "off"):
        return query.where(~has_overdue_order())
    raise BadFilter(f"overdue filter must be 1 or 0, got {value!r}")


THREAD_FILTERS["overdue"] = overdue_filter


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

        async def unpaid(session: AsyncSession, fx: Effects) -> int:
            return len(await emit_unpaid(session, fx, self.settings.unpaid_after_minutes, now))

        expired = await run_order_action(self.factory, self.bus, self.settings, expire, self.wake)
        moved = await run_order_action(self.factory, self.bus, self.settings, auto, self.wake)
        reported = await self.report_overdue(now)
        late = await run_order_action(self.factory, self.bus, self.settings, unpaid, self.wake)
        return {"expired": expired, "auto": moved, "overdue_reported": reported, "unpaid": late}

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
