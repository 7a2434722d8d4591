"""Canned replies: shared (owner None) and personal; placeholders filled from the thread's customer and
latest order. ``{customer.name}``, ``{customer.phone}``, ``{customer.email}``, ``{manager.name}``,
``{order.number}``, ``{order.tracking_url}``, ``{order.status}``, ``{order.tracking_number}``."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.i18n import _
from inbox.models import Base, CannedReply, Customer, Manager, Thread
from inbox.team.assignment import NotFound, TeamError

PLACEHOLDER = re.compile(r"\{(customer|order|manager)\.([a-z_]+)\}")
SHORTCUT = re.compile(r"^[\w\-]{1,40}$", re.UNICODE)
ORDER_FIELDS = ("number", "tracking_url", "tracking_number", "status")


def order_table() -> Table | None:
    """The orders table when the orders feature is installed (it registers in the shared metadata)."""
    for name in ("orders", "order"):
        table = Base.metadata.tables.get(name)
        if table is not None:
            return table
    return None


async def visible(session: AsyncSession, manager_id: int) -> list[CannedReply]:
    """Shared replies and this manager's own, by shortcut."""
    rows = await session.execute(
        select(CannedReply)
        .where(or_(CannedReply.owner_id.is_(None), CannedReply.owner_id == manager_id))
        .order_by(CannedReply.shortcut, CannedReply.id)
    )
    return list(rows.scalars())


async def create(
    session: AsyncSession, *, shortcut: str, title: str, body: str, owner_id: int | None
) -> CannedReply:
    short = shortcut.strip().lstrip("/")
    if not SHORTCUT.match(short):
        raise TeamError("a shortcut is 1 to 40 letters, digits, - or _")
    if not body.strip():
        raise TeamError("a canned reply needs a text")
    for m in PLACEHOLDER.finditer(body):
        if m.group(1) == "order" and m.group(2) not in ORDER_FIELDS:
            raise TeamError(f"unknown placeholder {m.group(0)}")
    clash = await session.execute(
        select(CannedReply.id).where(
            CannedReply.shortcut == short,
            CannedReply.owner_id.is_(None) if owner_id is None else CannedReply.owner_id == owner_id,
        )
    )
    if clash.scalar_one_or_none() is not None:
        raise TeamError(f"the shortcut /{short} is taken")
    reply = CannedReply(shortcut=short, title=title.strip() or short, body=body, owner_id=owner_id)
    session.add(reply)
    await session.flush()
    return reply


def check_body(body: str) -> None:
    if not body.strip():
        raise TeamError(_("A canned reply needs a text."))
    for m in PLACEHOLDER.finditer(body):
        if m.group(1) == "order" and m.group(2) not in ORDER_FIELDS:
            raise TeamError(_("Unknown placeholder %(name)s.") % {"name": m.group(0)})


async def editable(session: AsyncSession, reply_id: int, manager: Manager) -> CannedReply:
    """The reply if this manager may change it: shared ones an admin, personal ones their owner."""
    reply = await session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFound(f"no canned reply {reply_id}")
    if (reply.owner_id is None and manager.role != "admin") or reply.owner_id not in (None, manager.id):
        raise TeamError(_("Only an admin changes shared replies, and only its owner a personal one."))
    return reply


async def update(
    session: AsyncSession, reply_id: int, manager: Manager, *, shortcut: str, title: str, body: str
) -> CannedReply:
    reply = await editable(session, reply_id, manager)
    short = shortcut.strip().lstrip("/")
    if not SHORTCUT.match(short):
        raise TeamError(_("A shortcut is 1 to 40 letters, digits, - or _."))
    check_body(body)
    owner = reply.owner_id
    clash = await session.execute(
        select(CannedReply.id).where(
            CannedReply.shortcut == short,
            CannedReply.id != reply.id,
            CannedReply.owner_id.is_(None) if owner is None else CannedReply.owner_id == owner,
        )
    )
    if clash.scalar_one_or_none() is not None:
        raise TeamError(_("The shortcut /%(shortcut)s is taken.") % {"shortcut": short})
    reply.shortcut = short
    reply.title = title.strip() or short
    reply.body = body
    await session.flush()
    return reply


async def delete(session: AsyncSession, reply_id: int, manager: Manager) -> None:
    reply = await session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFound(f"no canned reply {reply_id}")
    if (reply.owner_id is None and manager.role != "admin") or reply.owner_id not in (None, manager.id):
        raise TeamError("only an admin deletes shared replies; personal ones only their owner")
    await session.delete(reply)


async def latest_order(session: AsyncSession, customer_id: int, thread_id: int) -> dict[str, Any]:
    table = order_table()
    if table is None:
        return {}
    cols = table.c
    query = select(table).where(cols.customer_id == customer_id)
    if "number" in cols:
        query = query.where(cols.number.is_not(None))
    row = (await session.execute(query.order_by(cols.id.desc()).limit(1))).mappings().first()
    return dict(row) if row else {}


async def render(session: AsyncSession, body: str, thread_id: int, manager: Manager) -> str:
    """Fill the placeholders for this thread; unknown or missing values become empty text."""
    thread = await session.get(Thread, thread_id)
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    customer = await session.get(Customer, thread.customer_id)
    assert customer is not None
    order: dict[str, Any] | None = None

    async def value(group: str, field: str) -> str:
        nonlocal order
        if group == "customer":
            v = getattr(customer, field, None) if field in {"name", "phone", "email"} else None
        elif group == "manager":
            v = manager.name if field == "name" else None
        else:
            if order is None:
                order = await latest_order(session, customer.id, thread_id)
            v = order.get(field) if field in ORDER_FIELDS else None
        return "" if v is None else str(v)

    parts: list[str] = []
    pos = 0
    for m in PLACEHOLDER.finditer(body):
        parts.append(body[pos : m.start()])
        parts.append(await value(m.group(1), m.group(2)))
        pos = m.end()
    parts.append(body[pos:])
    return "".join(parts)
