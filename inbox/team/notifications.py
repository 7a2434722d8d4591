"""In-inbox notifications: assigned to you, mentioned in a note, a customer waiting too long."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event
from inbox.db import insert_for
from inbox.models import Customer, Notification, Thread, ThreadStatus, utcnow
from inbox.team import Outcome, queued


class Kind(StrEnum):
    ASSIGNED = "assigned"
    MENTION = "mention"
    WAITING = "waiting"


async def notify(
    session: AsyncSession,
    manager_id: int,
    kind: Kind,
    text: str,
    *,
    thread_id: int | None = None,
    message_id: int | None = None,
    actor_id: int | None = None,
    dedup_key: str | None = None,
) -> Outcome:
    """Store a notification (once per dedup key) and return the live event for that manager's stream."""
    values = {
        "manager_id": manager_id,
        "kind": str(kind),
        "text": text[:300],
        "thread_id": thread_id,
        "message_id": message_id,
        "actor_id": actor_id,
        "dedup_key": dedup_key,
        "created_at": utcnow(),
    }
    stmt = insert_for(session, Notification).values(**values)
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["manager_id", "kind", "dedup_key"])
    result = await session.execute(stmt.returning(Notification.id))
    new_id = result.scalar_one_or_none()
    if new_id is None:
        return Outcome()
    event = Event(
        "notification.new",
        thread_id=thread_id,
        message_id=message_id,
        data={"id": new_id, "kind": str(kind), "text": text[:300]},
    )
    return queued(session, Outcome(personal=[(manager_id, event)]))


async def unread(session: AsyncSession, manager_id: int, limit: int = 30) -> list[Notification]:
    rows = await session.execute(
        select(Notification)
        .where(Notification.manager_id == manager_id, Notification.read_at.is_(None))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def recent(
    session: AsyncSession, manager_id: int, *, before_id: int | None = None, limit: int = 30
) -> list[Notification]:
    query = select(Notification).where(Notification.manager_id == manager_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list((await session.execute(query.order_by(Notification.id.desc()).limit(limit))).scalars())


async def unread_count(session: AsyncSession, manager_id: int) -> int:
    count = await session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.manager_id == manager_id, Notification.read_at.is_(None))
    )
    return int(count.scalar_one())


async def mark_read(session: AsyncSession, manager_id: int, notification_id: int | None = None) -> None:
    """One notification, or all of this manager's when ``notification_id`` is None."""
    stmt = update(Notification).where(Notification.manager_id == manager_id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    await session.execute(stmt.values(read_at=utcnow()))


async def notify_waiting(session: AsyncSession, minutes: int, now: datetime | None = None) -> Outcome:
    """Customers whose last message is older than ``minutes`` with no answer since: tell the assignee.

    "Not answered" = the thread is open (a manager reply moves it to waiting). One notice per inbound
    message (the dedup key is the thread's last inbound time), so the scan can run as often as it likes.
    Unassigned threads are ignored here: they show in the Unassigned view.
    """
    out = Outcome()
    if minutes <= 0:
        return out
    now = now or utcnow()
    cutoff = now - timedelta(minutes=minutes)
    rows = await session.execute(
        select(Thread.id, Thread.assignee_id, Thread.last_inbound_at, Customer.name)
        .join(Customer, Customer.id == Thread.customer_id)
        .where(
            and_(
                Thread.status == ThreadStatus.OPEN,
                Thread.assignee_id.is_not(None),
                Thread.last_inbound_at.is_not(None),
                Thread.last_inbound_at < cutoff,
                Thread.last_inbound_at >= now - timedelta(days=2),
            )
        )
        .limit(500)
    )
    for thread_id, assignee_id, last_inbound, name in rows.all():
        assert assignee_id is not None and last_inbound is not None
        waited = int((now - last_inbound).total_seconds() // 60)
        out.extend(
            await notify(
                session,
                assignee_id,
                Kind.WAITING,
                f"{name or '#' + str(thread_id)}: {waited} min",
                thread_id=thread_id,
                dedup_key=f"t{thread_id}:{last_inbound.timestamp():.0f}",
            )
        )
    return out
