"""Tasks for managers: a title, a due time, an assignee, a customer or an order. Overdue ones are flagged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.threads import THREAD_FILTERS
from inbox.i18n import _
from inbox.models import Customer, Manager, Order, SalesTask, Thread, utcnow
from inbox.sales import NotFound, SalesError


@dataclass(frozen=True, slots=True)
class TaskView:
    task: SalesTask
    overdue: bool
    assignee: str | None
    customer: str | None
    order_number: int | None


async def create_task(
    session: AsyncSession,
    *,
    title: str,
    due_at: datetime,
    assignee_id: int | None = None,
    customer_id: int | None = None,
    order_id: int | None = None,
    created_by_id: int | None = None,
    rule_id: int | None = None,
) -> SalesTask:
    clean = " ".join(title.split())
    if not clean or len(clean) > 300:
        raise SalesError(_("A task needs a title of 1 to 300 characters."))
    if due_at.tzinfo is None:
        raise SalesError(_("The due time needs a time zone."))
    if customer_id is None and order_id is None:
        raise SalesError(_("A task belongs to a customer or an order."))
    if assignee_id is not None and await session.get(Manager, assignee_id) is None:
        raise NotFound(_("No manager %(id)s.") % {"id": assignee_id})
    if order_id is not None:
        order = await session.get(Order, order_id)
        if order is None:
            raise NotFound(_("No order %(id)s.") % {"id": order_id})
        customer_id = customer_id or order.customer_id
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise NotFound(_("No customer %(id)s.") % {"id": customer_id})
    task = SalesTask(
        title=clean,
        due_at=due_at,
        assignee_id=assignee_id,
        customer_id=customer_id,
        order_id=order_id,
        created_by_id=created_by_id,
        rule_id=rule_id,
        created_at=utcnow(),
    )
    session.add(task)
    await session.flush()
    return task


async def complete_task(session: AsyncSession, task_id: int, done: bool = True) -> SalesTask:
    task = await session.get(SalesTask, task_id)
    if task is None:
        raise NotFound(_("No task %(id)s.") % {"id": task_id})
    task.done_at = utcnow() if done else None
    await session.flush()
    return task


async def list_tasks(
    session: AsyncSession,
    *,
    assignee_id: int | None = None,
    customer_id: int | None = None,
    include_done: bool = False,
    limit: int = 200,
    now: datetime | None = None,
) -> list[TaskView]:
    """Open tasks soonest first (done ones after them when asked)."""
    now = now or utcnow()
    query = (
        select(SalesTask, Manager.name, Customer.name, Order.number)
        .outerjoin(Manager, Manager.id == SalesTask.assignee_id)
        .outerjoin(Customer, Customer.id == SalesTask.customer_id)
        .outerjoin(Order, Order.id == SalesTask.order_id)
    )
    if assignee_id is not None:
        query = query.where(SalesTask.assignee_id == assignee_id)
    if customer_id is not None:
        query = query.where(SalesTask.customer_id == customer_id)
    if not include_done:
        query = query.where(SalesTask.done_at.is_(None))
    query = query.order_by(SalesTask.done_at.is_not(None), SalesTask.due_at, SalesTask.id).limit(limit)
    return [
        TaskView(task, task.done_at is None and task.due_at < now, manager, customer, number)
        for task, manager, customer, number in (await session.execute(query)).all()
    ]


def _task_filter(query: object, value: str) -> object:
    """``?f_tasks=overdue`` / ``?f_tasks=open``: threads whose customer has such a task."""
    cond = exists().where(SalesTask.customer_id == Thread.customer_id, SalesTask.done_at.is_(None))
    if value == "overdue":
        cond = cond.where(SalesTask.due_at < utcnow())
    return query.where(cond)  # type: ignore[attr-defined]


THREAD_FILTERS["tasks"] = _task_filter  # type: ignore[assignment]
