"""Per-customer order statistics for the order panel; money follows the one lifetime value definition in
:mod:`inbox.customer_card.value`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.customer_card.value import CANCEL_GROUP
from inbox.models import DRAFT, Order
from inbox.orders.statuses import load_statuses


@dataclass(frozen=True, slots=True)
class OrderSummary:
    id: int
    number: int | None
    status: str
    group: str  # status group, "draft" for drafts
    total: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerStats:
    orders_count: int  # submitted orders (drafts and discarded drafts excluded)
    completed: int
    cancelled: int
    active: int
    total_spent: int  # kopecks: the lifetime value (inbox.customer_card.value), orders not cancelled/returned
    average_order_value: int  # kopecks, total_spent over those orders; 0 when none
    orders: list[OrderSummary] = field(default_factory=list)  # newest first, drafts included


async def customer_order_stats(session: AsyncSession, customer_id: int) -> CustomerStats:
    statuses = await load_statuses(session)
    rows = await session.execute(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    summaries: list[OrderSummary] = []
    completed = cancelled = active = spent = 0
    for order in rows.scalars():
        group = (
            DRAFT if order.status == DRAFT else (s.group if (s := statuses.get(order.status)) else "unknown")
        )
        summaries.append(
            OrderSummary(order.id, order.number, order.status, group, order.total, order.created_at)
        )
        if order.number is None:  # a draft, or a draft discarded before submit: not an order yet
            continue
        if group == CANCEL_GROUP:
            cancelled += 1
            continue
        spent += order.total
        if group == "complete":
            completed += 1
        else:
            active += 1
    return CustomerStats(
        orders_count=completed + cancelled + active,
        completed=completed,
        cancelled=cancelled,
        active=active,
        total_spent=spent,
        average_order_value=spent // (completed + active) if completed + active else 0,
        orders=summaries,
    )
