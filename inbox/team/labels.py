"""Labels on threads and on customers (one shared vocabulary)."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event
from inbox.db import insert_for
from inbox.models import Customer, CustomerLabel, Label, Thread, ThreadLabel
from inbox.team import Outcome, queued
from inbox.team.assignment import NotFound, TeamError

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


async def all_labels(session: AsyncSession) -> list[Label]:
    return list((await session.execute(select(Label).order_by(Label.name))).scalars())


async def create_label(session: AsyncSession, name: str, color: str = "#6b7280") -> Label:
    clean = " ".join(name.split())
    if not clean or len(clean) > 60:
        raise TeamError("a label name must have 1 to 60 characters")
    if not COLOR.match(color):
        raise TeamError(f"a label colour looks like #1a2b3c, got {color!r}")
    existing = (await session.execute(select(Label).where(Label.name == clean))).scalar_one_or_none()
    if existing is not None:
        return existing
    label = Label(name=clean, color=color)
    session.add(label)
    await session.flush()
    return label


async def _label(session: AsyncSession, label_id: int) -> Label:
    label = await session.get(Label, label_id)
    if label is None:
        raise NotFound(f"no label {label_id}")
    return label


async def label_thread(session: AsyncSession, thread_id: int, label_id: int, on: bool = True) -> Outcome:
    if await session.get(Thread, thread_id) is None:
        raise NotFound(f"no thread {thread_id}")
    await _label(session, label_id)
    if on:
        await session.execute(
            insert_for(session, ThreadLabel)
            .values(thread_id=thread_id, label_id=label_id)
            .on_conflict_do_nothing()
        )
    else:
        await session.execute(
            delete(ThreadLabel).where(ThreadLabel.thread_id == thread_id, ThreadLabel.label_id == label_id)
        )
    return queued(
        session, Outcome(events=[Event("thread.updated", thread_id=thread_id, data={"labels": True})])
    )


async def label_customer(session: AsyncSession, customer_id: int, label_id: int, on: bool = True) -> Outcome:
    if await session.get(Customer, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    await _label(session, label_id)
    if on:
        await session.execute(
            insert_for(session, CustomerLabel)
            .values(customer_id=customer_id, label_id=label_id)
            .on_conflict_do_nothing()
        )
    else:
        await session.execute(
            delete(CustomerLabel).where(
                CustomerLabel.customer_id == customer_id, CustomerLabel.label_id == label_id
            )
        )
    updated = Event("customer.updated", customer_id=customer_id, data={"labels": True})
    return queued(session, Outcome(events=[updated]))


async def thread_labels(session: AsyncSession, thread_ids: list[int]) -> dict[int, list[Label]]:
    if not thread_ids:
        return {}
    rows = await session.execute(
        select(ThreadLabel.thread_id, Label)
        .join(Label, Label.id == ThreadLabel.label_id)
        .where(ThreadLabel.thread_id.in_(thread_ids))
        .order_by(Label.name)
    )
    out: dict[int, list[Label]] = {}
    for tid, label in rows.all():
        out.setdefault(tid, []).append(label)
    return out


async def customer_labels(session: AsyncSession, customer_id: int) -> list[Label]:
    rows = await session.execute(
        select(Label)
        .join(CustomerLabel, CustomerLabel.label_id == Label.id)
        .where(CustomerLabel.customer_id == customer_id)
        .order_by(Label.name)
    )
    return list(rows.scalars())
