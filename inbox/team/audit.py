"""The audit log: admin actions (audit_log, structured: an action code, a target and details) and order
changes (order_history); inbox.team.audit_text turns both into sentences when a page shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import AuditLog, Order, OrderHistory, utcnow


async def record(
    session: AsyncSession, actor_id: int | None, action: str, target: str = "", **details: Any
) -> AuditLog:
    row = AuditLog(
        actor_id=actor_id, action=action, target=target[:120], details=details, created_at=utcnow()
    )
    session.add(row)
    await session.flush()
    return row


async def entries(
    session: AsyncSession,
    *,
    before_id: int | None = None,
    before_at: datetime | None = None,
    limit: int = 100,
) -> list[AuditLog]:
    """Newest first, keyset-paginated on id (or on time, to page together with order changes)."""
    query = select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    if before_at is not None:
        query = query.where(AuditLog.created_at < before_at)
    return list((await session.execute(query)).scalars())


async def order_changes(
    session: AsyncSession, *, before_at: datetime | None = None, limit: int = 100
) -> list[tuple[OrderHistory, int | None]]:
    """Order history rows (with their order's number), newest first: the order side of the audit log."""
    query = (
        select(OrderHistory, Order.number)
        .join(Order, Order.id == OrderHistory.order_id)
        .order_by(OrderHistory.at.desc(), OrderHistory.id.desc())
        .limit(limit)
    )
    if before_at is not None:
        query = query.where(OrderHistory.at < before_at)
    return [(h, number) for h, number in (await session.execute(query)).all()]
