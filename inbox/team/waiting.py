"""What needs doing: which open threads have a customer waiting for an answer, since when, and the counts
the inbox shows on its views (mine, unassigned, waiting).

A customer waits from their oldest inbound message that no outbound message (a manager's or the bot's)
has followed. Notes and system events are not answers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from inbox.core.threads import THREAD_FILTERS, ThreadFilter, thread_list_query
from inbox.models import Direction, Message, Thread, ThreadStatus

AWAITING = "awaiting"  # the list filter (?f_awaiting=1) behind the "Waiting" view
ACTIVE = "active"  # ?f_active=1: not closed (open, or waiting for the customer)


def _last_answer_id(thread_id: Any) -> Any:
    answer = aliased(Message)
    return (
        select(func.coalesce(func.max(answer.id), 0))
        .where(answer.thread_id == thread_id, answer.direction == Direction.OUT)
        .scalar_subquery()
    )


def awaiting_reply() -> Any:
    """SQL condition on Thread: open, and the newest inbound message has no outbound one after it, that is
    the thread's newest message in or out is inbound. Read as one step back through ix_message_thread
    (thread_id, id) from the thread's newest message, past any notes and events: asking instead whether some
    inbound message is newer than the newest outbound one read every message of the thread twice, the
    largest cost of the inbox page on a 1M-message database."""
    newest = aliased(Message)
    last_direction = (
        select(newest.direction)
        .where(newest.thread_id == Thread.id, newest.direction.in_([Direction.IN, Direction.OUT]))
        .order_by(newest.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return and_(Thread.status == ThreadStatus.OPEN, last_direction == Direction.IN)


def _filter(query: Any, value: str) -> Any:
    return query.where(awaiting_reply()) if value == "1" else query


def _active(query: Any, value: str) -> Any:
    return query.where(Thread.status != ThreadStatus.CLOSED) if value == "1" else query


THREAD_FILTERS[AWAITING] = _filter
THREAD_FILTERS[ACTIVE] = _active


async def waiting_since(session: AsyncSession, thread_ids: Iterable[int]) -> dict[int, datetime]:
    """Per open thread with an unanswered customer: the time of the oldest unanswered inbound message."""
    ids = list(thread_ids)
    if not ids:
        return {}
    query = (
        select(Message.thread_id, func.min(Message.created_at))
        .join(Thread, Thread.id == Message.thread_id)
        .where(
            Message.thread_id.in_(ids),
            Thread.status == ThreadStatus.OPEN,
            Message.direction == Direction.IN,
            Message.id > _last_answer_id(Message.thread_id),
        )
        .group_by(Message.thread_id)
    )
    return {tid: at for tid, at in (await session.execute(query)).all() if at is not None}


COUNT_CAP = 99  # the views show "99+" past this: counting every thread costs seconds on a large inbox


async def view_counts(session: AsyncSession, manager_id: int, cap: int = COUNT_CAP) -> dict[str, int]:
    """Threads not closed that are mine or unassigned, and those waiting for an answer (snoozed ones are
    not counted, as the lists do not show them). Each count stops at ``cap + 1``: "more than ``cap``" is
    all the views show, and an exact count of the waiting ones checks every open thread's messages (over
    three seconds with 100k customers and 1M messages on SQLite)."""
    views = {
        "mine": ThreadFilter(assignee_id=manager_id, extra={ACTIVE: "1"}),
        "unassigned": ThreadFilter(unassigned=True, extra={ACTIVE: "1"}),
        "waiting": ThreadFilter(extra={AWAITING: "1"}),
    }
    out: dict[str, int] = {}
    for name, filters in views.items():
        inner = thread_list_query(filters).order_by(None).limit(cap + 1).subquery()
        out[name] = (await session.execute(select(func.count()).select_from(inner))).scalar_one()
    return out
