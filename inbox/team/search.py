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

from inbox.core.phones import try_normalize_phone
from inbox.db import is_postgres
from inbox.models import Customer, Identity, Message, Thread
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
            func.coalesce(Message.text, literal_column("''")),
            tsq,
            f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=10, MaxFragments=2",
        )
        match = func.to_tsvector(
            literal_column("'russian'"), func.coalesce(Message.text, literal_column("''"))
        ).op("@@")(tsq)
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


# The indexed expressions of migration 0006 (rendered inline, so the planner matches them to the indexes).
CUSTOMER_DOC_PG = (
    "to_tsvector('simple', coalesce(customer.name, '') || ' ' || coalesce(customer.email, '') || ' ' "
    "|| translate(coalesce(customer.phone, ''), '+', ''))"
)
IDENTITY_DOC_PG = (
    "to_tsvector('simple', coalesce(identity.display, '') || ' ' || coalesce(identity.username, ''))"
)
CUSTOMER_FTS = table("customer_fts", column("rowid"), column("customer_fts"))
IDENTITY_FTS = table("identity_fts", column("rowid"), column("identity_fts"))
TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: what both full-text parsers keep


def _tokens(q: str) -> list[str]:
    return TOKEN.findall(q.lower())[:8]


def customer_id_queries(
    session: AsyncSession, q: str, region: str = "RU", limit: int = 50
) -> list[Select[Any]]:
    """Each query returns matching customer ids and is served by an index: exact phone (any input format),
    exact email, word prefixes in name / email / phone, word prefixes in channel display names and
    usernames."""
    queries: list[Select[Any]] = []
    phone = try_normalize_phone(q, region)
    if phone:
        queries.append(select(Customer.id).where(Customer.phone == phone))
    if "@" in q:
        queries.append(select(Customer.id).where(Customer.email == q.strip().lower()))
    words = _tokens(q)
    if words:
        if is_postgres(session):
            tsq = func.to_tsquery(literal_column("'simple'"), " & ".join(f"{w}:*" for w in words))
            # Ordered by "id + 0", not "id": given the primary key's order, the planner walks it backwards
            # testing every row's tsvector until it has `limit` matches, which for a rare word is the whole
            # table (about 1 s for 100k customers); this way it takes the GIN index and sorts the matches.
            queries.append(
                select(Customer.id)
                .where(literal_column(CUSTOMER_DOC_PG).op("@@")(tsq))
                .order_by((Customer.id + 0).desc())
            )
            queries.append(
                select(Identity.customer_id)
                .where(literal_column(IDENTITY_DOC_PG).op("@@")(tsq))
                .order_by((Identity.id + 0).desc())
            )
        else:
            match = " ".join('"' + w + '"*' for w in words)
            queries.append(
                select(CUSTOMER_FTS.c.rowid)
                .where(CUSTOMER_FTS.c.customer_fts.op("MATCH")(match))
                .order_by(CUSTOMER_FTS.c.rowid.desc())
            )
            queries.append(
                select(Identity.customer_id)
                .select_from(IDENTITY_FTS.join(Identity, Identity.id == IDENTITY_FTS.c.rowid))
                .where(IDENTITY_FTS.c.identity_fts.op("MATCH")(match))
                .order_by(IDENTITY_FTS.c.rowid.desc())
            )
    return [query.limit(limit) for query in queries]


def highlight_words(value: str, words: list[str]) -> Markup:
    """Mark the word prefixes the search matched."""
    if not words:
        return Markup(escape(value))
    pattern = re.compile(r"(?<![^\W_])(" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)
    return marked(pattern.sub(lambda m: START + m.group(0) + STOP, value))


async def search_customers(
    session: AsyncSession, q: str, region: str = "RU", limit: int = 20
) -> list[CustomerHit]:
    ids: set[int] = set()
    for query in customer_id_queries(session, q, region):
        ids.update(int(i) for i in (await session.execute(query)).scalars())
    if not ids:
        return []
    rows = await session.execute(
        select(Customer, Thread.id)
        .outerjoin(Thread, Thread.customer_id == Customer.id)
        .where(Customer.id.in_(sorted(ids)), Customer.merged_into_id.is_(None))
        .order_by(Customer.id.desc())
        .limit(limit)
    )
    phone = try_normalize_phone(q, region)
    words = _tokens(q)
    hits = []
    for customer, thread_id in rows.all():
        details = []
        if customer.phone:
            details.append(
                highlight(customer.phone, phone)
                if customer.phone == phone
                else highlight_words(customer.phone, words)
            )
        if customer.email:
            details.append(highlight_words(customer.email, words))
        name = highlight_words(customer.name or f"#{customer.id}", words)
        hits.append(CustomerHit(customer.id, thread_id, name, Markup(" · ").join(details)))
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
