"""Online / away per manager: the SSE stream beats (at most once a minute), the manager toggles away."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Manager, ManagerPresence, utcnow

ONLINE_WINDOW = timedelta(minutes=2)  # a heartbeat older than this means the browser is gone
HEARTBEAT_EVERY = 60.0  # seconds between heartbeat writes from one SSE stream


async def heartbeat(session: AsyncSession, manager_id: int, at: datetime | None = None) -> None:
    row = await session.get(ManagerPresence, manager_id)
    now = at or utcnow()
    if row is None:
        session.add(ManagerPresence(manager_id=manager_id, away=False, last_seen_at=now))
    else:
        row.last_seen_at = now


async def set_away(session: AsyncSession, manager_id: int, away: bool) -> None:
    row = await session.get(ManagerPresence, manager_id)
    if row is None:
        session.add(ManagerPresence(manager_id=manager_id, away=away, last_seen_at=utcnow()))
    else:
        row.away = away


async def is_away(session: AsyncSession, manager_id: int) -> bool:
    row = await session.get(ManagerPresence, manager_id)
    return bool(row and row.away)


async def online_manager_ids(session: AsyncSession, at: datetime | None = None) -> list[int]:
    """Active managers with a fresh heartbeat who are not away, by id."""
    since = (at or utcnow()) - ONLINE_WINDOW
    rows = await session.execute(
        select(Manager.id)
        .join(ManagerPresence, ManagerPresence.manager_id == Manager.id)
        .where(
            Manager.active.is_(True), ManagerPresence.away.is_(False), ManagerPresence.last_seen_at >= since
        )
        .order_by(Manager.id)
    )
    return list(rows.scalars())
