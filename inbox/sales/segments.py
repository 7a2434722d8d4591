"""Segments: dynamic ones are a list of conditions compiled to one SQL query (the same on SQLite and
PostgreSQL: cut-off times are computed here and bound, money is compared in kopecks, the average check as
``spent >= value * orders``); static ones list their members (from a CSV or a search result).

A condition is ``{"field": ..., "op": ..., "value": ...}``; all of a segment's conditions must hold.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, literal, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.kinds import all_kinds
from inbox.core.phones import try_normalize_phone
from inbox.core.threads import THREAD_FILTERS
from inbox.db import insert_for
from inbox.i18n import _
from inbox.models import (
    Broadcast,
    Customer,
    CustomerLabel,
    Identity,
    Order,
    OrderLine,
    Product,
    Segment,
    SegmentMember,
    Thread,
    utcnow,
)
from inbox.sales import NotFound, SalesError
from inbox.sales.config import SalesConfig
from inbox.sales.metrics import customer_stats, placed_order

RFM_GROUPS = ("champions", "loyal", "new", "promising", "at_risk", "lost", "none")


def channels() -> tuple[str, ...]:
    """The channel kinds a condition may name: every registered kind."""
    return tuple(info.kind for info in all_kinds())


# field -> the operators it takes
FIELDS: dict[str, tuple[str, ...]] = {
    "channel": ("is", "is_not"),
    "city": ("is", "is_not"),
    "orders": ("gte", "lte", "eq"),
    "total_spent": ("gte", "lte"),  # rubles
    "avg_check": ("gte", "lte"),  # rubles
    "last_order": ("within_days", "before_days", "never"),
    "product": ("bought", "not_bought"),  # SKU
    "category": ("bought", "not_bought"),  # category id
    "label": ("has", "has_not"),  # label id
    "consent": ("given", "not_given"),  # channel, or "any"
    "rfm": ("is", "is_not"),  # RFM_GROUPS
}


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value}


def parse_conditions(raw: Iterable[Any]) -> list[Condition]:
    """Check conditions from the API or the form; a clear message on anything malformed."""
    out: list[Condition] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise SalesError(_("Condition %(n)s is not an object.") % {"n": i})
        field, op, value = item.get("field"), item.get("op"), item.get("value")
        if field not in FIELDS:
            raise SalesError(_("Condition %(n)s: unknown field %(field)r.") % {"n": i, "field": field})
        if op not in FIELDS[field]:
            raise SalesError(
                _("Condition %(n)s: %(field)s takes %(ops)s.")
                % {"n": i, "field": field, "ops": ", ".join(FIELDS[field])}
            )
        out.append(Condition(field, op, _check_value(i, field, op, value)))
    return out


def _check_value(i: int, field: str, op: str, value: Any) -> Any:
    if field == "last_order" and op == "never":
        return None
    if field in ("orders", "total_spent", "avg_check", "last_order", "category", "label"):
        try:
            number = int(str(value).strip().replace(" ", ""))
        except ValueError:
            message = _("Condition %(n)s: %(field)s needs a number.") % {"n": i, "field": field}
            raise SalesError(message) from None
        if number < 0:
            raise SalesError(_("Condition %(n)s: the number cannot be negative.") % {"n": i})
        return number
    text = str(value or "").strip()
    if not text:
        raise SalesError(_("Condition %(n)s: %(field)s needs a value.") % {"n": i, "field": field})
    if field == "channel" and text not in channels():
        raise SalesError(_("Condition %(n)s: unknown channel %(v)r.") % {"n": i, "v": text})
    if field == "consent" and text not in (*channels(), "any"):
        raise SalesError(_("Condition %(n)s: unknown channel %(v)r.") % {"n": i, "v": text})
    if field == "rfm" and text not in RFM_GROUPS:
        raise SalesError(_("Condition %(n)s: unknown RFM group %(v)r.") % {"n": i, "v": text})
    return text


def rfm_scores(stats: Any, config: SalesConfig, now: datetime) -> tuple[Any, Any, Any]:
    """Recency, frequency and monetary scores (3 best, 1 worst) as SQL expressions over ``stats``."""
    r1, r2 = (now - timedelta(days=d) for d in config.rfm_recency_days)
    f1, f2 = config.rfm_frequency
    m1, m2 = config.rfm_monetary
    orders = func.coalesce(stats.c.orders, 0)
    spent = func.coalesce(stats.c.spent, 0)
    r = case((stats.c.last_order_at >= r1, 3), (stats.c.last_order_at >= r2, 2), else_=1)
    f = case((orders >= f1, 3), (orders >= f2, 2), else_=1)
    m = case((spent >= m1, 3), (spent >= m2, 2), else_=1)
    return r, f, m


def rfm_group(stats: Any, config: SalesConfig, now: datetime) -> Any:
    """The named RFM group (first match wins; no placed order: ``none``)."""
    r, f, m = rfm_scores(stats, config, now)
    return case(
        (func.coalesce(stats.c.orders, 0) == 0, literal("none")),
        (and_(r == 3, f == 3, m >= 2), literal("champions")),
        (and_(r >= 2, f >= 2), literal("loyal")),
        (and_(r == 3, f == 1), literal("new")),
        (and_(r == 2, f == 1), literal("promising")),
        (and_(r == 1, f >= 2), literal("at_risk")),
        else_=literal("lost"),
    )


def _consent_exists(channel: str) -> Any:
    from inbox.sales.consent import marketing_allowed

    return marketing_allowed(Customer.id, None if channel == "any" else channel)


def _predicate(c: Condition, stats: Any, config: SalesConfig, now: datetime) -> Any:
    orders = func.coalesce(stats.c.orders, 0)
    spent = func.coalesce(stats.c.spent, 0)
    if c.field == "channel":
        has = exists().where(Identity.customer_id == Customer.id, Identity.kind == c.value)
        return has if c.op == "is" else not_(has)
    if c.field == "city":
        city = func.coalesce(Customer.fields["city"].as_string(), "")
        return city == c.value if c.op == "is" else city != c.value
    if c.field == "orders":
        return {"gte": orders >= c.value, "lte": orders <= c.value, "eq": orders == c.value}[c.op]
    if c.field == "total_spent":
        return spent >= c.value * 100 if c.op == "gte" else spent <= c.value * 100
    if c.field == "avg_check":
        if c.op == "gte":
            return and_(orders > 0, spent >= orders * (c.value * 100))
        return and_(orders > 0, spent <= orders * (c.value * 100))
    if c.field == "last_order":
        if c.op == "never":
            return stats.c.last_order_at.is_(None)
        cutoff = now - timedelta(days=c.value)
        if c.op == "within_days":
            return stats.c.last_order_at >= cutoff
        return stats.c.last_order_at < cutoff
    if c.field in ("product", "category"):
        bought = (
            select(OrderLine.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.customer_id == Customer.id, *placed_order())
        )
        if c.field == "product":
            bought = bought.where(OrderLine.sku == c.value)
        else:
            bought = bought.join(Product, Product.id == OrderLine.product_id).where(
                Product.category_id == c.value
            )
        return exists(bought) if c.op == "bought" else not_(exists(bought))
    if c.field == "label":
        has = exists().where(CustomerLabel.customer_id == Customer.id, CustomerLabel.label_id == c.value)
        return has if c.op == "has" else not_(has)
    if c.field == "consent":
        given = _consent_exists(str(c.value))
        return given if c.op == "given" else not_(given)
    if c.field == "rfm":
        group = rfm_group(stats, config, now)
        return group == c.value if c.op == "is" else group != c.value
    raise SalesError(_("Unknown field %(field)r.") % {"field": c.field})  # pragma: no cover - parsed before


def dynamic_query(conditions: list[Condition], config: SalesConfig, now: datetime | None = None) -> Any:
    """``SELECT customer.id`` of live customers matching every condition."""
    now = now or utcnow()
    stats = customer_stats()
    query = (
        select(Customer.id.label("customer_id"))
        .outerjoin(stats, stats.c.customer_id == Customer.id)
        .where(Customer.merged_into_id.is_(None))
    )
    for c in conditions:
        query = query.where(_predicate(c, stats, config, now))
    return query


def members_query(segment: Segment, config: SalesConfig, now: datetime | None = None) -> Any:
    """``SELECT customer_id`` of a segment's members (dynamic or static)."""
    if segment.kind == "static":
        return (
            select(SegmentMember.customer_id.label("customer_id"))
            .join(Customer, Customer.id == SegmentMember.customer_id)
            .where(SegmentMember.segment_id == segment.id, Customer.merged_into_id.is_(None))
        )
    return dynamic_query(parse_conditions(segment.conditions), config, now)


async def count(session: AsyncSession, query: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())


async def get_segment(session: AsyncSession, segment_id: int) -> Segment:
    segment = await session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(_("No segment %(id)s.") % {"id": segment_id})
    return segment


async def list_segments(session: AsyncSession) -> list[Segment]:
    return list((await session.execute(select(Segment).order_by(Segment.name))).scalars())


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > 120:
        raise SalesError(_("A segment needs a name of 1 to 120 characters."))
    return clean


async def _check_unique(session: AsyncSession, name: str, own_id: int | None = None) -> None:
    query = select(Segment.id).where(Segment.name == name)
    if own_id is not None:
        query = query.where(Segment.id != own_id)
    if (await session.execute(query)).first() is not None:
        raise SalesError(_("A segment named %(name)r exists already.") % {"name": name})


async def create_segment(
    session: AsyncSession,
    name: str,
    *,
    kind: str = "dynamic",
    conditions: Iterable[Any] = (),
    customer_ids: Iterable[int] = (),
    on_dashboard: bool = False,
) -> Segment:
    if kind not in ("dynamic", "static"):
        raise SalesError(_("A segment is dynamic or static."))
    clean = _clean_name(name)
    await _check_unique(session, clean)
    parsed = parse_conditions(conditions) if kind == "dynamic" else []
    segment = Segment(
        name=clean,
        kind=kind,
        conditions=[c.to_json() for c in parsed],
        on_dashboard=on_dashboard,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(segment)
    await session.flush()
    if kind == "static":
        await add_members(session, segment, customer_ids)
    return segment


async def update_segment(
    session: AsyncSession, segment_id: int, *, name: str, conditions: Iterable[Any], on_dashboard: bool
) -> Segment:
    segment = await get_segment(session, segment_id)
    clean = _clean_name(name)
    await _check_unique(session, clean, segment.id)
    segment.name = clean
    if segment.kind == "dynamic":
        segment.conditions = [c.to_json() for c in parse_conditions(conditions)]
    segment.on_dashboard = on_dashboard
    segment.updated_at = utcnow()
    await session.flush()
    return segment


async def delete_segment(session: AsyncSession, segment_id: int) -> None:
    segment = await get_segment(session, segment_id)
    used = select(Broadcast.id).where(Broadcast.segment_id == segment.id).limit(1)
    if (await session.execute(used)).first() is not None:
        raise SalesError(_("Broadcasts were sent to this segment; it stays for their statistics."))
    await session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    await session.delete(segment)
    await session.flush()


async def add_members(session: AsyncSession, segment: Segment, customer_ids: Iterable[int]) -> int:
    """Add live customers to a static segment (unknown and merged ids are resolved or skipped)."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return 0
    added = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        live = select(
            literal(segment.id).label("segment_id"),
            func.coalesce(Customer.merged_into_id, Customer.id).label("customer_id"),
            literal(utcnow()).label("added_at"),
        ).where(Customer.id.in_(chunk))
        stmt = (
            insert_for(session, SegmentMember)
            .from_select(["segment_id", "customer_id", "added_at"], live)
            .on_conflict_do_nothing()
        )
        result = await session.execute(stmt)
        added += max(int(getattr(result, "rowcount", 0) or 0), 0)
    return added


async def customers_from_csv(session: AsyncSession, data: str) -> tuple[list[int], int]:
    """Customer ids named by a CSV (columns ``id``, ``phone`` or ``email``, any one per row; a file with
    no header is read as one column of phones or emails). Returns (ids found, rows not matched)."""
    rows = list(csv.reader(io.StringIO(data.lstrip("\ufeff"))))
    if not rows:
        raise SalesError(_("The CSV file is empty."))
    header = [h.strip().lower() for h in rows[0]]
    known = {"id", "phone", "email"}
    if known & set(header):
        body = rows[1:]
        get: Callable[[list[str], str], str] = lambda row, col: (  # noqa: E731
            row[header.index(col)].strip() if col in header and header.index(col) < len(row) else ""
        )
    else:
        body = rows
        header = ["value"]
        get = lambda row, col: row[0].strip() if row and col == "value" else ""  # noqa: E731
    ids: set[int] = set()
    missing = 0
    for row in body:
        if not any(cell.strip() for cell in row):
            continue
        found: int | None = None
        raw_id = get(row, "id")
        if raw_id.isdigit():
            found = (await session.execute(select(Customer.id).where(Customer.id == int(raw_id)))).scalar()
        contact = get(row, "email") or get(row, "phone") or get(row, "value")
        if found is None and contact:
            if "@" in contact:
                where = Customer.email == contact.lower()
            else:
                phone = try_normalize_phone(contact)
                where = Customer.phone == phone if phone else literal(False)
            found = (
                await session.execute(
                    select(func.coalesce(Customer.merged_into_id, Customer.id)).where(where).limit(1)
                )
            ).scalar()
        if found is None:
            missing += 1
        else:
            ids.add(int(found))
    return sorted(ids), missing


# Definitions the thread-list filter reads (the filter hook is synchronous): primed by :func:`prime` before
# the list query runs, so a definition is never older than the request that uses it.
_PRIMED: dict[int, tuple[Segment, SalesConfig]] = {}


async def prime(session: AsyncSession, segment_id: int) -> None:
    from inbox.sales.config import load

    segment = await session.get(Segment, segment_id)
    if segment is None:
        _PRIMED.pop(segment_id, None)
    else:
        _PRIMED[segment_id] = (segment, await load(session))


def _segment_filter(query: Any, value: str) -> Any:
    """``?f_segment=ID``: threads whose customer is in that segment (an unknown id shows nothing)."""
    primed = _PRIMED.get(int(value)) if value.isdigit() else None
    if primed is None:
        return query.where(literal(False))
    return query.where(Thread.customer_id.in_(members_query(*primed)))


THREAD_FILTERS["segment"] = _segment_filter


async def customers_from_search(session: AsyncSession, q: str, region: str = "RU") -> list[int]:
    """Live customers a search for ``q`` finds (name, phone, email, identities), for a static segment."""
    from inbox.team.search import customer_id_queries

    ids: set[int] = set()
    for query in customer_id_queries(session, q, region):
        ids.update(int(i) for i in (await session.execute(query)).scalars())
    return sorted(ids)


async def member_page(
    session: AsyncSession, segment: Segment, config: SalesConfig, *, after: int = 0, limit: int = 100
) -> list[Customer]:
    """Members by id, keyset-paginated (``after`` the last id seen)."""
    ids = members_query(segment, config).subquery()
    query = (
        select(Customer)
        .where(Customer.id.in_(select(ids.c.customer_id)), Customer.id > after)
        .order_by(Customer.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def dashboard_counts(session: AsyncSession) -> list[tuple[Segment, int]]:
    """Segments marked for the dashboard with their member counts."""
    from inbox.sales.config import load

    config = await load(session)
    rows = (
        await session.execute(select(Segment).where(Segment.on_dashboard).order_by(Segment.name))
    ).scalars()
    return [(s, await count(session, members_query(s, config))) for s in rows]
