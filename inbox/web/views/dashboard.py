"""Dashboard: SVG charts drawn on the server, date range + manager filters, CSV of every chart's table;
a page per manager."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from markupsafe import Markup

from inbox import i18n
from inbox.core.threads import ThreadFilter, ThreadRow, list_threads
from inbox.models import Manager
from inbox.sales.segments import dashboard_counts as dashboard_segments
from inbox.team.assignment import active_managers
from inbox.team.stats import BadRange, Period, Table, dashboard, period
from inbox.web.auth import manager_of
from inbox.web.charts import bar_chart, line_chart
from inbox.web.filters import channel_label
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


def header_labels() -> dict[str, str]:
    """The page shows the tables' columns in the manager's language (the CSV keeps the machine names)."""
    return {
        "day": i18n._("Day"),
        "channel": i18n._("Channel"),
        "direction": i18n._("Direction"),
        "count": i18n._("Count"),
        "manager_id": "ID",
        "manager": i18n._("Manager"),
        "median_min": i18n._("median, min"),
        "p90_min": i18n._("p90, min"),
        "kind": i18n._("Kind"),
        "threads": i18n._("threads"),
        "state": i18n._("State"),
    }


def value_labels() -> dict[str, str]:
    return {
        "in": i18n._("in"),
        "out": i18n._("out"),
        "open": i18n._("Open"),
        "unassigned": i18n._("Unassigned"),
        "waiting": i18n._("Waiting"),
        "snoozed": i18n._("Snoozed"),
        "bot_only": i18n._("Bot only"),
        "handed_off": i18n._("Handed off to managers"),
    }


def shown(table: Table) -> Table:
    """A copy of ``table`` for the page: headers and known values (states, directions, channels) in the
    manager's language."""
    heads, values = header_labels(), value_labels()

    def cell(header: str, value: object) -> object:
        if header == "channel":
            return channel_label(str(value)) or value
        return values.get(value, value) if isinstance(value, str) else value

    return Table(
        table.name,
        table.title,
        [heads.get(h, h) for h in table.headers],
        [[cell(h, v) for h, v in zip(table.headers, row, strict=False)] for row in table.rows],
    )


def charts(tables: dict[str, Table], p: Period) -> dict[str, Markup]:
    days = [d.isoformat() for d in p.days()]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for day, channel, direction, count in tables["messages"].rows:
        way = i18n._("in") if direction == "in" else i18n._("out")
        name = f"{channel_label(str(channel)) or '?'} {way}"
        if str(day) in index:
            series[name][index[str(day)]] += float(str(count))
    out = {"messages": line_chart(i18n._("Messages per channel per day"), days, dict(sorted(series.items())))}
    legend = [i18n._("median, min"), i18n._("p90, min")]
    for key, title in (
        ("first_response", i18n._("First response time")),
        ("resolution", i18n._("Resolution time")),
    ):
        rows = [(str(r[1]), [float(str(r[3])), float(str(r[4]))]) for r in tables[key].rows]
        out[key] = bar_chart(title, rows, legend)
    names = value_labels()
    out["threads"] = bar_chart(
        i18n._("Threads now"),
        [(names.get(str(r[0]), str(r[0])), [float(str(r[1]))]) for r in tables["threads"].rows],
        [i18n._("threads")],
    )
    out["bots"] = bar_chart(
        i18n._("Bots"),
        [(names.get(str(r[0]), str(r[0])), [float(str(r[1]))]) for r in tables["bots"].rows],
        [i18n._("threads")],
    )
    return out


class DashboardController(Controller):
    @get("/dashboard", name="dashboard")
    async def page(
        self,
        request: AnyRequest,
        start: FromQuery[str | None] = None,
        end: FromQuery[str | None] = None,
        manager: FromQuery[int | None] = None,
    ) -> Template:
        return await self._render(request, start, end, manager)

    @get("/managers/{manager_id:int}", name="manager_page")
    async def manager_page(
        self,
        request: AnyRequest,
        manager_id: FromPath[int],
        start: FromQuery[str | None] = None,
        end: FromQuery[str | None] = None,
    ) -> Template:
        return await self._render(request, start, end, manager_id, per_manager=True)

    @get("/dashboard/csv/{name:str}", name="dashboard_csv")
    async def csv_export(
        self,
        request: AnyRequest,
        name: FromPath[str],
        start: FromQuery[str | None] = None,
        end: FromQuery[str | None] = None,
        manager: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        p = self._period(request, start, end, manager)
        async with ctx(request).factory() as session:
            tables = await dashboard(session, p)
        table = tables.get(name)
        if table is None:
            raise NotFoundException(f"no table {name!r}: one of {', '.join(tables)}")
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(table.headers)
        writer.writerows(table.rows)
        filename = f"{name}_{p.start.isoformat()}_{p.end.isoformat()}.csv"
        return Response(
            content=buf.getvalue().encode("utf-8-sig"),  # BOM: spreadsheet apps read Cyrillic right
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def _period(self, request: AnyRequest, start: str | None, end: str | None, manager: int | None) -> Period:
        try:
            return period(start, end, ctx(request).settings.timezone, manager)
        except BadRange as exc:
            raise ClientException(str(exc)) from exc

    async def _render(
        self,
        request: AnyRequest,
        start: str | None,
        end: str | None,
        manager_id: int | None,
        per_manager: bool = False,
    ) -> Template:
        error = ""
        try:
            p = period(start, end, ctx(request).settings.timezone, manager_id)
        except BadRange as exc:  # a date typed by hand or a start after the end: say so on the page itself
            error = str(exc)
            p = period(None, None, ctx(request).settings.timezone, manager_id)
        async with ctx(request).factory() as session:
            tables = await dashboard(session, p)
            team = await active_managers(session)
            subject = await session.get(Manager, manager_id) if manager_id else None
            segment_counts = await dashboard_segments(session)
            threads: list[ThreadRow] = []
            if per_manager and subject is not None:
                threads, _ = await list_threads(
                    session, filters=ThreadFilter(assignee_id=subject.id), limit=20
                )
        if manager_id and subject is None:
            raise NotFoundException(i18n._("No such manager."))
        query = {"start": p.start.isoformat(), "end": p.end.isoformat()}
        if manager_id:
            query["manager"] = str(manager_id)
        return Template(
            "dashboard.html",
            context={
                "manager": manager_of(request),
                "tables": {name: shown(table) for name, table in tables.items()},
                "charts": charts(tables, p),
                "period": p,
                "team": team,
                "subject": subject,
                "per_manager": per_manager,
                "threads": threads,
                "query": query,
                "segment_counts": segment_counts,
                "error": error,
            },
            status_code=400 if error else 200,
        )
