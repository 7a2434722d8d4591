"""Segments in the web inbox: the list with member counts, the editor (conditions as rows; the count updates
as you edit, through htmx), static segments from a CSV or a search, and the repeat-sales settings (RFM
thresholds shown and editable, attribution window, loyalty levels, quiet hours)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from inbox import i18n
from inbox.db import transaction
from inbox.models import Label, Segment
from inbox.sales import NotFound, SalesError, segments
from inbox.sales import config as sales_config
from inbox.sales.segments import FIELDS, RFM_GROUPS, channels
from inbox.team import labels
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


def field_names() -> dict[str, str]:
    _ = i18n._
    return {
        "channel": _("Channel"),
        "city": _("City"),
        "orders": _("Number of orders"),
        "total_spent": _("Total spent, ₽"),
        "avg_check": _("Average check, ₽"),
        "last_order": _("Last order"),
        "product": _("Bought product (SKU)"),
        "category": _("Bought from category (id)"),
        "label": _("Label"),
        "consent": _("Marketing consent"),
        "rfm": _("RFM group"),
    }


def op_names() -> dict[str, str]:
    _ = i18n._
    return {
        "is": _("is"),
        "is_not": _("is not"),
        "gte": "≥",
        "lte": "≤",
        "eq": "=",
        "within_days": _("within the last N days"),
        "before_days": _("more than N days ago"),
        "never": _("never"),
        "bought": _("bought"),
        "not_bought": _("did not buy"),
        "has": _("has"),
        "has_not": _("has not"),
        "given": _("given for"),
        "not_given": _("not given for"),
    }


def rfm_names() -> dict[str, str]:
    _ = i18n._
    return {
        "champions": _("Champions"),
        "loyal": _("Loyal"),
        "new": _("New"),
        "promising": _("Promising"),
        "at_risk": _("At risk"),
        "lost": _("Lost"),
        "none": _("No orders"),
    }


def conditions_from_form(form: Any) -> list[dict[str, Any]]:
    fields, ops, values = form.getall("field", []), form.getall("op", []), form.getall("value", [])
    out = []
    for field, op, value in zip(fields, ops, values + [""] * (len(fields) - len(values)), strict=False):
        if field:
            out.append({"field": field, "op": op, "value": value})
    return out


async def editor_context(request: AnyRequest, session: Any, segment: Segment | None) -> dict[str, Any]:
    all_labels: list[Label] = await labels.all_labels(session)
    return {
        "manager": manager_of(request),
        "segment": segment,
        "conditions": list(segment.conditions) if segment else [],
        "fields": FIELDS,
        "field_names": field_names(),
        "op_names": op_names(),
        "rfm_names": rfm_names(),
        "channels": channels(),
        "rfm_groups": RFM_GROUPS,
        "all_labels": all_labels,
        "config": await sales_config.load(session),
        "count": None,
        "error": None,
    }


class SegmentsController(Controller):
    @get("/segments", name="segments_page")
    async def page(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            config = await sales_config.load(session)
            items = [
                (s, await segments.count(session, segments.members_query(s, config)))
                for s in await segments.list_segments(session)
            ]
        return Template(
            "segments.html",
            context={
                "manager": manager_of(request),
                "items": items,
                "config": config,
                "rfm_names": rfm_names(),
            },
        )

    @get("/segments/new", name="segment_new")
    async def new(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            data = await editor_context(request, session, None)
        return Template("segment_edit.html", context=data)

    @get("/segments/{segment_id:int}", name="segment_edit")
    async def edit(self, request: AnyRequest, segment_id: FromPath[int]) -> Template:
        async with ctx(request).factory() as session:
            segment = await session.get(Segment, segment_id)
            if segment is None:
                raise NotFoundException(i18n._("No segment %(id)s.") % {"id": segment_id})
            data = await editor_context(request, session, segment)
            data["count"] = await segments.count(session, segments.members_query(segment, data["config"]))
            data["members"] = await segments.member_page(session, segment, data["config"], limit=50)
        return Template("segment_edit.html", context=data)

    @post("/segments/preview", name="segment_preview")
    async def preview(self, request: AnyRequest) -> Template:
        """The member count of the conditions being edited (an htmx fragment)."""
        form = await request.form()
        async with ctx(request).factory() as session:
            config = await sales_config.load(session)
            try:
                parsed = segments.parse_conditions(conditions_from_form(form))
                count: int | None = await segments.count(session, segments.dynamic_query(parsed, config))
                error = None
            except SalesError as exc:
                count, error = None, str(exc)
        return Template("_segment_count.html", context={"count": count, "error": error})

    @post("/segments", name="segment_save")
    async def save(self, request: AnyRequest) -> Template | Redirect:
        form = await request.form()
        segment_id = str(form.get("id") or "")
        kind = str(form.get("kind") or "dynamic")
        name = str(form.get("name") or "")
        on_dashboard = form.get("on_dashboard") == "1"
        conditions = conditions_from_form(form)
        try:
            async with transaction(ctx(request).factory) as session:
                if segment_id.isdigit():
                    segment = await segments.update_segment(
                        session, int(segment_id), name=name, conditions=conditions, on_dashboard=on_dashboard
                    )
                else:
                    ids: list[int] = []
                    missing = 0
                    if kind == "static":
                        upload = form.get("csv")
                        q = str(form.get("q") or "").strip()
                        if isinstance(upload, UploadFile) and upload.filename:
                            raw = await upload.read()
                            ids, missing = await segments.customers_from_csv(
                                session, raw.decode("utf-8-sig", errors="replace")
                            )
                        elif q:
                            ids = await segments.customers_from_search(session, q)
                        else:
                            raise SalesError(i18n._("Give a CSV file or a search for a static segment."))
                    segment = await segments.create_segment(
                        session,
                        name,
                        kind=kind,
                        conditions=conditions,
                        customer_ids=ids,
                        on_dashboard=on_dashboard,
                    )
        except (SalesError, NotFound) as exc:
            async with ctx(request).factory() as session:
                existing = await session.get(Segment, int(segment_id)) if segment_id.isdigit() else None
                data = await editor_context(request, session, existing)
            data["conditions"] = conditions
            data["error"] = str(exc)
            data["name"] = name
            return Template("segment_edit.html", context=data, status_code=400)
        return Redirect(
            path=f"/segments/{segment.id}" + (f"?missing={missing}" if not segment_id and missing else "")
        )

    @post("/segments/{segment_id:int}/delete", name="segment_delete")
    async def delete(self, request: AnyRequest, segment_id: FromPath[int]) -> Redirect:
        try:
            async with transaction(ctx(request).factory) as session:
                await segments.delete_segment(session, segment_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except SalesError as exc:
            raise ClientException(str(exc)) from exc
        return Redirect(path="/segments")
