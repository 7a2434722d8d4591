"""Search across customers (name, phone in any format, email, identity display/username), message text
(PostgreSQL full text with the 'russian' configuration + GIN index; SQLite FTS5) and orders (number,
tracking) when the orders feature is installed. Matches come back highlighted as safe HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, Select, column, func, literal_column, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.db import is_postgres
from inbox.models import Customer, Identity, Message, Thread
from inbox.phones import try_normalize_phone
from inbox.team.canned import order_table

START, STOP = "\ue000", "\ue001"  # private-use markers: never in real text, replaced after escaping
WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY = 200


class BadQuery(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CustomerHit:
    customer_id: int
    thread_id: int | None
    name: Markup
    detail: Markup


@dataclass(frozen=True, slots=True)
class MessageHit:
    message_id: int
    thread_id: int
    customer_name: str
    direction: str
    created_at: datetime
    snippet: Markup


@dataclass(frozen=True, slots=True)
class OrderHit:
    order_id: int
    thread_id: int | None
    label: Markup


@dataclass(slots=True)
class Results:
    query: str
    customers: list[CustomerHit] = field(default_factory=list)
    messages: list[MessageHit] = field(default_factory=list)
    orders: list[OrderHit] = field(default_factory=list)
    next_before: int | None = None  # keyset cursor for more messages (message id)


def marked(raw: str) -> Markup:
    """Escape, then turn the private markers into <mark>."""
    return Markup(str(escape(raw)).replace(START, "<mark>").replace(STOP, "</mark>"))


def highlight(value: str, needle: str) -> Markup:
    if not needle:
        return Markup(escape(value))
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    return marked(pattern.sub(lambda m: START + m.group(0) + STOP, value))


def _like_variants(q: str) -> list[str]:
    """SQLite's LIKE folds ASCII case only: try the usual spellings of a Cyrillic word as well."""
    return list(dict.fromkeys([q, q.lower(), q.capitalize(), q.title(), q.upper()]))


def _contains(column: Any, q: str, postgres: bool) -> ColumnElement[bool]:
    if postgres:
        return column.ilike(f"%{_escape_like(q)}%", escape="\\")  # type: ignore[no-any-return]
    return or_(*[column.like(f"%{_escape_like(v)}%", escape="\\") for v in _like_variants(q)])


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts5_query(q: str) -> str:
    """User words -> an FTS5 query: every word must occur, as a prefix ("заказ" finds "заказы")."""
    words = WORD.findall(q)
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


FTS = table("message_fts", column("rowid"), column("message_fts"))


def message_query(session: AsyncSession, q: str, *, limit: int, before: int | None) -> Select[Any]:
    """Matching messages, newest first, keyset-paginated on the message id."""
    if is_postgres(session):
        tsq = func.websearch_to_tsquery(literal_column("'russian'"), q)
        snippet: ColumnElement[Any] = func.ts_headline(
            literal_column("'russian'"),
            func.coalesce(Message.text, ""),
            tsq,
            f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=10, MaxFragments=2",
        )
        match = func.to_tsvector(literal_column("'russian'"), func.coalesce(Message.text, "")).op("@@")(tsq)
        key: Any = Message.id
        source: Any = Message
    else:
        snippet = func.snippet(FTS.c.message_fts, 0, START, STOP, "…", 24)
        match = FTS.c.message_fts.op("MATCH")(fts5_query(q))
        key = FTS.c.rowid
        source = FTS.join(Message, Message.id == FTS.c.rowid)
    query = (
        select(Message.id, Message.thread_id, Message.direction, Message.created_at, snippet, Customer.name)
        .select_from(source)
        .join(Customer, Customer.id == Message.customer_id)
        .where(match)
    )
    if before is not None:
        query = query.where(key < before)
    return query.order_by(key.desc()).limit(limit)


async def search_messages(
    session: AsyncSession, q: str, *, limit: int = 20, before: int | None = None
) -> tuple[list[MessageHit], int | None]:
    if not WORD.search(q):
        return [], None
    rows = (await session.execute(message_query(session, q, limit=limit + 1, before=before))).all()
    hits: list[MessageHit] = []
    for mid, tid, direction, created, snippet, name in rows[:limit]:
        if direction == "event":
            continue
        when = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
        hits.append(MessageHit(int(mid), int(tid), name or "", str(direction), when, marked(snippet or "")))
    more = int(rows[limit - 1][0]) if len(rows) > limit else None
    return hits, more


async def search_customers(
    session: AsyncSession, q: str, region: str = "RU", limit: int = 20
) -> list[CustomerHit]:
    postgres = is_postgres(session)
    conditions: list[ColumnElement[bool]] = [_contains(Customer.name, q, postgres)]
    if "@" in q:
        conditions.append(Customer.email == q.strip().lower())
        conditions.append(_contains(Customer.email, q.strip().lower(), postgres))
    phone = try_normalize_phone(q, region)
    digits = re.sub(r"\D", "", q)
    if phone:
        conditions.append(Customer.phone == phone)
    elif len(digits) >= 5:
        conditions.append(Customer.phone.like(f"%{digits}%"))
    by_identity = (
        select(Identity.customer_id)
        .where(
            or_(
                _contains(Identity.display, q, postgres),
                _contains(Identity.username, q.lstrip("@"), postgres),
            )
        )
        .limit(200)
    )
    conditions.append(Customer.id.in_(by_identity))
    rows = await session.execute(
        select(Customer, Thread.id)
        .outerjoin(Thread, Thread.customer_id == Customer.id)
        .where(Customer.merged_into_id.is_(None), or_(*conditions))
        .order_by(Customer.id.desc())
        .limit(limit)
    )
    hits = []
    for customer, thread_id in rows.all():
        needle = q.strip()
        details = [d for d in (customer.phone, customer.email) if d]
        detail = Markup(" · ").join(
            highlight(d, phone if phone and d == phone else (needle if needle.lower() in d.lower() else ""))
            for d in details
        )
        hits.append(
            CustomerHit(customer.id, thread_id, highlight(customer.name or f"#{customer.id}", needle), detail)
        )
    return hits


async def search_orders(session: AsyncSession, q: str, limit: int = 10) -> list[OrderHit]:
    table = order_table()
    if table is None:
        return []
    cols = table.c
    needle = q.strip().lstrip("#№")
    conditions: list[ColumnElement[bool]] = []
    if needle.isdigit() and "number" in cols:
        conditions.append(cols.number == int(needle))
    if "tracking_number" in cols and needle:
        conditions.append(cols.tracking_number == needle)
    if not conditions:
        return []
    thread_col = cols.thread_id if "thread_id" in cols else literal_column("NULL")
    rows = await session.execute(
        select(cols.id, cols.number, cols.tracking_number, thread_col).where(or_(*conditions)).limit(limit)
    )
    out = []
    for oid, number, tracking, thread_id in rows.all():
        label = f"№{number}" + (f" · {tracking}" if tracking else "")
        out.append(OrderHit(int(oid), thread_id, highlight(label, needle)))
    return out


async def search(
    session: AsyncSession, q: str, *, region: str = "RU", before: int | None = None, limit: int = 20
) -> Results:
    q = q.strip()
    if len(q) > MAX_QUERY:
        raise BadQuery(f"a search is at most {MAX_QUERY} characters")
    results = Results(query=q)
    if not q:
        return results
    if before is None:
        results.customers = await search_customers(session, q, region)
        results.orders = await search_orders(session, q)
    results.messages, results.next_before = await search_messages(session, q, limit=limit, before=before)
    return results
