"""Per-customer order figures that segments, RFM, loyalty and triggers share, as one aggregate subquery (the
same SQL on both databases). Total spent is the customer card's lifetime value and the order count and last
order date follow the card too (:mod:`inbox.customer_card.value`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from inbox.customer_card.value import counts_for_value
from inbox.models import Order


def placed_order() -> Any:
    """Orders that count (lifetime value's definition: submitted, not cancelled or returned)."""
    return (counts_for_value(),)


def customer_stats() -> Any:
    """Subquery (customer_id, orders, spent, last_order_at): orders and spent count what lifetime value
    counts; the last order is the newest submitted one of any status, as the card shows it."""
    counted = counts_for_value()
    return (
        select(
            Order.customer_id.label("customer_id"),
            func.count(case((counted, Order.id))).label("orders"),
            func.coalesce(func.sum(case((counted, Order.total), else_=0)), 0).label("spent"),
            func.max(func.coalesce(Order.submitted_at, Order.created_at)).label("last_order_at"),
        )
        .where(Order.number.is_not(None))
        .group_by(Order.customer_id)
        .subquery("cstats")
    )
