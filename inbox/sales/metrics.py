"""Per-customer order figures that segments, RFM, loyalty and triggers share: number of orders, total spent
(the customer card's lifetime value), last order time. One aggregate subquery, the same SQL on both DBs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from inbox.models import DRAFT, Order, OrderStatus


def placed_order() -> Any:
    """Orders that count: submitted and not in a cancel-group status."""
    cancelled = select(OrderStatus.code).where(OrderStatus.group == "cancel").scalar_subquery()
    return Order.status != DRAFT, Order.status.not_in(cancelled), Order.submitted_at.is_not(None)


def customer_stats() -> Any:
    """Subquery (customer_id, orders, spent, last_order_at) over placed orders."""
    return (
        select(
            Order.customer_id.label("customer_id"),
            func.count(Order.id).label("orders"),
            func.coalesce(func.sum(Order.total), 0).label("spent"),
            func.max(Order.submitted_at).label("last_order_at"),
        )
        .where(*placed_order())
        .group_by(Order.customer_id)
        .subquery("cstats")
    )
