"""Read side of the conversation: thread lists with keyset pagination, a thread's messages, read marks."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.models import Customer, Identity, Message, Thread


class BadCursor(ValueError):
    pass


def encode_cursor(*parts: object) -> str:
    raw = json.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[object]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("malformed cursor") from exc
    if not isinstance(value, list):
        raise BadCursor("malformed cursor")
    return value


@dataclass(frozen=True, slots=True)
class ThreadRow:
    thread: Thread
    customer: Customer
    channels: tuple[str, ...]


async def list_threads(
    session: AsyncSession,
    *,
    limit: int = 50,
    cursor: str | None = None,
    status: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
) -> tuple[list[ThreadRow], str | None]:
    """Threads by last activity (newest first), keyset-paginated on (last_message_at, id)."""
    query = select(Thread, Customer).join(Customer, Customer.id == Thread.customer_id)
    query = query.where(Customer.merged_into_id.is_(None))
    if status:
        query = query.where(Thread.status == status)
    if assignee_id is not None:
        query = query.where(Thread.assignee_id == assignee_id)
    if unassigned:
        query = query.where(Thread.assignee_id.is_(None))
    if cursor:
        parts = decode_cursor(cursor)
        try:
            at, tid = datetime.fromisoformat(str(parts[0])), int(str(parts[1]))
        except (IndexError, ValueError) as exc:
            raise BadCursor("malformed cursor") from exc
        query = query.where(
            or_(Thread.last_message_at < at, and_(Thread.last_message_at == at, Thread.id < tid))
        )
    query = query.order_by(Thread.last_message_at.desc(), Thread.id.desc()).limit(limit + 1)
    rows = (await session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    customer_ids = [c.id for _, c in rows]
    kinds: dict[int, set[str]] = {}
    if customer_ids:
        for cid, kind in (
            await session.execute(
                select(Identity.customer_id, Identity.kind)
                .where(Identity.customer_id.in_(customer_ids))
                .distinct()
            )
        ).all():
            kinds.setdefault(cid, set()).add(kind)
    out = [ThreadRow(t, c, tuple(sorted(kinds.get(c.id, set())))) for t, c in rows]
    next_cursor = encode_cursor(rows[-1][0].last_message_at, rows[-1][0].id) if more and rows else None
    return out, next_cursor


async def thread_messages(
    session: AsyncSession,
    thread_id: int,
    *,
    limit: int = 100,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[Message]:
    """A page of a thread's messages in chronological order (the newest ``limit`` before ``before_id``)."""
    query = select(Message).where(Message.thread_id == thread_id).options(selectinload(Message.attachments))
    if after_id is not None:
        query = query.where(Message.id > after_id).order_by(Message.id).limit(limit)
        return list((await session.execute(query)).scalars())
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = list((await session.execute(query.order_by(Message.id.desc()).limit(limit))).scalars())
    rows.reverse()
    return rows


async def mark_read(session: AsyncSession, thread_id: int) -> None:
    await session.execute(
        update(Thread).where(Thread.id == thread_id, Thread.unread_count > 0).values(unread_count=0)
    )
