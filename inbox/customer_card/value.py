"""Lifetime value, defined once for the whole product: the total of a customer's submitted orders that are
not cancelled or returned (status group ``cancel``), in minor units. Drafts are not orders yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Order, OrderStatus

CANCEL_GROUP = "cancel"


def counts_for_value() -> ColumnElement[bool]:
    """The condition on ``orders`` rows that count for lifetime value (use it in any query that sums)."""
    cancelled = select(OrderStatus.code).where(OrderStatus.group == CANCEL_GROUP).scalar_subquery()
    return Order.number.is_not(None) & Order.status.not_in(cancelled)


@dataclass(frozen=True, slots=True)
class CustomerValue:
    lifetime_value: int  # minor units
    orders_count: int  # orders that count (not cancelled or returned)
    average_check: int  # lifetime_value // orders_count, 0 without orders
    last_order_at: datetime | None  # the newest submitted order of any status


async def customer_value(session: AsyncSession, customer_id: int) -> CustomerValue:
    total, count = (
        await session.execute(
            select(func.coalesce(func.sum(Order.total), 0), func.count(Order.id)).where(
                Order.customer_id == customer_id, counts_for_value()
            )
        )
    ).one()
    last = (
        await session.execute(
            select(func.max(func.coalesce(Order.submitted_at, Order.created_at))).where(
                Order.customer_id == customer_id, Order.number.is_not(None)
            )
        )
    ).scalar_one()
    total, count = int(total), int(count)
    return CustomerValue(total, count, total // count if count else 0, last)


async def lifetime_value(session: AsyncSession, customer_id: int) -> int:
    """Total of the customer's orders that are not cancelled or returned, in minor units."""
    return (await customer_value(session, customer_id)).lifetime_value
