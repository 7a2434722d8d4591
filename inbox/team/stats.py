"""Dashboard numbers: messages per channel per day, first-response and resolution times per manager,
thread counts, bot-handled vs handed-off; extra tables from other features through STATS_HOOKS.
Every chart is backed by a ``Table`` (the CSV export is the same table)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.db import is_postgres
from inbox.models import Author, Manager, Message, Thread, ThreadStatus, utcnow


class BadRange(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # inclusive
    timezone: str
    manager_id: int | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, self.tz)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, self.tz)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def period(start: str | None, end: str | None, timezone: str, manager_id: int | None = None) -> Period:
    today = datetime.now(ZoneInfo(timezone)).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=13)
    except ValueError as exc:
        raise BadRange(i18n._("Dates look like 2026-11-25.")) from exc
    if first > last:
        raise BadRange(i18n._("The start date is after the end date."))
    if (last - first).days > 366:
        raise BadRange(i18n._("At most one year at a time."))
    return Period(first, last, timezone, manager_id)


@dataclass(slots=True)
class Table:
    name: str  # url-safe: /dashboard/<name>.csv
    title: str
    headers: list[str]
    rows: list[list[object]] = field(default_factory=list)


StatsHook = Callable[[AsyncSession, Period], Awaitable[Table]]
# Other features add tables here (orders: per-status counts, revenue; bots: intents). Each renders as a
# table with a CSV export on the dashboard.
STATS_HOOKS: dict[str, StatsHook] = {}


def _day_expr(session: AsyncSession, p: Period) -> Any:
    if is_postgres(session):
        return func.date(func.timezone(p.timezone, Message.created_at))
    offset = p.since.utcoffset() or timedelta()
    hours = int(offset.total_seconds() // 60)
    return func.date(Message.created_at, f"{hours:+d} minutes")


async def messages_per_day(session: AsyncSession, p: Period) -> Table:
    day = _day_expr(session, p)
    query = (
        select(day, Message.channel, Message.direction, func.count())
        .where(
            Message.created_at >= p.since,
            Message.created_at < p.until,
            Message.direction.in_(("in", "out")),
        )
        .group_by(day, Message.channel, Message.direction)
    )
    if p.manager_id is not None:
        query = query.where(Message.manager_id == p.manager_id)
    rows = (await session.execute(query)).all()
    table = Table("messages", "Messages per channel per day", ["day", "channel", "direction", "count"])
    for d, channel, direction, count in sorted(rows, key=lambda r: (str(r[0]), str(r[1]), str(r[2]))):
        table.rows.append([str(d), channel or "", direction, int(count)])
    return table


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


@dataclass(slots=True)
class _Flow:
    first_response: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    resolution: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    bot_only: int = 0
    handed_off: int = 0


async def _flow(session: AsyncSession, p: Period) -> _Flow:
    """One pass over the period's messages in thread order. First response: from the first unanswered
    customer message to the next manager reply. Resolution: from the first customer message after the
    previous close to the close (a status event)."""
    rows = await session.stream(
        select(
            Message.thread_id,
            Message.direction,
            Message.author,
            Message.manager_id,
            Message.created_at,
            Message.meta,
        )
        .where(
            Message.created_at >= p.since,
            Message.created_at < p.until,
            Message.direction.in_(("in", "out", "event")),
        )
        .order_by(Message.thread_id, Message.id)
        .execution_options(yield_per=5000)
    )
    out = _Flow()
    current: int | None = None
    waiting_since: datetime | None = None
    opened_at: datetime | None = None
    bot = manager = False

    def close_thread() -> None:
        if bot and manager:
            out.handed_off += 1
        elif bot:
            out.bot_only += 1

    async for thread_id, direction, author, manager_id, at, meta in rows:
        if thread_id != current:
            if current is not None:
                close_thread()
            current, waiting_since, opened_at, bot, manager = thread_id, None, None, False, False
        if direction == "in":
            waiting_since = waiting_since or at
            opened_at = opened_at or at
        elif direction == "out":
            if author == Author.BOT:
                bot = True
            elif author == Author.MANAGER and manager_id is not None:
                manager = True
                if waiting_since is not None:
                    out.first_response[manager_id].append((at - waiting_since).total_seconds())
                waiting_since = None
        elif isinstance(meta, dict) and meta.get("kind") == "status" and meta.get("status") == "closed":
            if opened_at is not None and manager_id is not None:
                out.resolution[manager_id].append((at - opened_at).total_seconds())
            opened_at = waiting_since = None
    if current is not None:
        close_thread()
    return out


async def response_times(session: AsyncSession, p: Period) -> tuple[Table, Table, Table]:
    flow = await _flow(session, p)
    names = dict((await session.execute(select(Manager.id, Manager.name))).all())
    tables = []
    for key, title, data in (
        ("first_response", "First response time per manager (minutes)", flow.first_response),
        ("resolution", "Resolution time per manager (minutes)", flow.resolution),
    ):
        table = Table(key, title, ["manager_id", "manager", "count", "median_min", "p90_min"])
        for mid in sorted(data):
            if p.manager_id is not None and mid != p.manager_id:
                continue
            values = data[mid]
            table.rows.append(
                [
                    mid,
                    names.get(mid, f"#{mid}"),
                    len(values),
                    round(statistics.median(values) / 60, 1),
                    round(_pct(values, 0.9) / 60, 1),
                ]
            )
        tables.append(table)
    bots = Table("bots", "Conversations handled by bots vs handed off", ["kind", "threads"])
    bots.rows = [["bot_only", flow.bot_only], ["handed_off", flow.handed_off]]
    return tables[0], tables[1], bots


async def thread_counts(session: AsyncSession, p: Period) -> Table:
    now = utcnow()
    awake = or_(Thread.snoozed_until.is_(None), Thread.snoozed_until <= now)
    mine = Thread.assignee_id == p.manager_id if p.manager_id is not None else literal_column("1") == 1
    pairs = [
        ("open", and_(Thread.status == ThreadStatus.OPEN, awake, mine)),
        ("unassigned", and_(Thread.status != ThreadStatus.CLOSED, Thread.assignee_id.is_(None), awake)),
        ("waiting", and_(Thread.status == ThreadStatus.WAITING, awake, mine)),
        ("snoozed", and_(Thread.snoozed_until > now, mine)),
    ]
    table = Table("threads", "Threads now", ["state", "threads"])
    for name, cond in pairs:
        count = (await session.execute(select(func.count()).select_from(Thread).where(cond))).scalar_one()
        table.rows.append([name, int(count)])
    return table


async def dashboard(session: AsyncSession, p: Period) -> dict[str, Table]:
    first, resolution, bots = await response_times(session, p)
    tables = {
        "messages": await messages_per_day(session, p),
        "first_response": first,
        "resolution": resolution,
        "threads": await thread_counts(session, p),
        "bots": bots,
    }
    for name, hook in STATS_HOOKS.items():
        tables[name] = await hook(session, p)
    return tables
