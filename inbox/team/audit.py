"""The audit log of admin actions: who did what to whom, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import AuditLog, utcnow


async def record(
    session: AsyncSession, actor_id: int | None, action: str, target: str = "", **details: Any
) -> AuditLog:
    row = AuditLog(
        actor_id=actor_id, action=action, target=target[:120], details=details, created_at=utcnow()
    )
    session.add(row)
    await session.flush()
    return row


async def entries(session: AsyncSession, *, before_id: int | None = None, limit: int = 100) -> list[AuditLog]:
    """Newest first, keyset-paginated on id."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    return list((await session.execute(query)).scalars())
