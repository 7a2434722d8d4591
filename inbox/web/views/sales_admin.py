"""Admin pages of repeat sales: trigger rules (how often each fired and what it sent; a new rule; on / off)
and the settings (RFM thresholds, attribution window, cart reminder, cross-sell delay, quiet hours, loyalty
levels). Mounted under /admin behind require_admin."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select

from inbox import i18n
from inbox.db import transaction
from inbox.models import OrderStatus, TriggerRule
from inbox.sales import NotFound, SalesError, triggers
from inbox.sales import config as sales_config
from inbox.sales import segments as segments_service
from inbox.sales.config import Level
from inbox.team import labels
from inbox.team.assignment import active_managers
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


def _int(form: Any, name: str, default: int) -> int:
    raw = str(form.get(name) or "").strip().replace(" ", "")
    if not raw:
        return default
    try:
        value = int(float(raw.replace(",", ".")))
    except ValueError:
        raise SalesError(i18n._("Expected a number, got %(v)r.") % {"v": raw}) from None
    if value < 0:
        raise SalesError(i18n._("The number cannot be negative."))
    return value


class SalesAdmin(Controller):
    @get("/rules", name="admin_rules")
    async def rules(self, request: AnyRequest) -> Template:
        return await self._rules(request, None)

    async def _rules(self, request: AnyRequest, error: str | None) -> Template:
        async with ctx(request).factory() as session:
            async with session.begin():
                await triggers.ensure_default_rules(session, await sales_config.load(session))
            items = list((await session.execute(select(TriggerRule).order_by(TriggerRule.id))).scalars())
            counts = await triggers.rule_stats(session)
            recent = {r.id: await triggers.recent_fires(session, r.id, limit=5) for r in items}
            statuses = list(
                (await session.execute(select(OrderStatus).order_by(OrderStatus.position))).scalars()
            )
            context = {
                "manager": manager_of(request),
                "items": items,
                "counts": counts,
                "recent": recent,
                "events": triggers.event_names(),
                "actions": triggers.action_names(),
                "statuses": statuses,
                "segments": await segments_service.list_segments(session),
                "all_labels": await labels.all_labels(session),
                "team": await active_managers(session),
                "error": error,
            }
        return Template("admin_rules.html", context=context, status_code=400 if error else 200)

    @post("/rules", name="admin_rule_create")
    async def create(self, request: AnyRequest) -> Template | Redirect:
        form = await request.form()
        event = str(form.get("event") or "")
        name, _marketing = triggers.EVENTS.get(event, (None, False))
        params: dict[str, Any] = {}
        if name is not None:
            params[name] = form.get(name) or form.get("number")
        if form.get("marketing") is not None:
            params["marketing"] = form.get("marketing") == "1"
        action: dict[str, Any] = {"kind": str(form.get("action") or "")}
        if action["kind"] in ("send", "notify", "task"):
            action["text"] = str(form.get("text") or "")
        if action["kind"] == "task":
            action["hours"] = str(form.get("hours") or "24")
        if action["kind"] in ("label", "assign"):
            action["id"] = str(form.get("target") or "")
        try:
            async with transaction(ctx(request).factory) as session:
                await triggers.create_rule(
                    session, name=str(form.get("name") or ""), event=event, params=params, actions=[action]
                )
        except SalesError as exc:
            return await self._rules(request, str(exc))
        return Redirect(path="/admin/rules")

    @post("/rules/{rule_id:int}/enabled", name="admin_rule_enabled")
    async def enabled(self, request: AnyRequest, rule_id: FromPath[int]) -> Redirect:
        form = await request.form()
        try:
            async with transaction(ctx(request).factory) as session:
                rule = await triggers.get_rule(session, rule_id)
                rule.enabled = form.get("enabled") == "1"
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        return Redirect(path="/admin/rules")

    @get("/sales", name="admin_sales")
    async def settings_page(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            config = await sales_config.load(session)
        return Template(
            "admin_sales.html", context={"manager": manager_of(request), "config": config, "error": None}
        )

    @post("/sales", name="admin_sales_save")
    async def save(self, request: AnyRequest) -> Template | Redirect:
        form = await request.form()
        async with ctx(request).factory() as session:
            config = await sales_config.load(session)
        try:
            levels = []
            for name, threshold, discount in zip(
                form.getall("level_name", []),
                form.getall("level_threshold", []),
                form.getall("level_discount", []),
                strict=False,
            ):
                if not str(name).strip():
                    continue
                pct = _int({"x": discount}, "x", 0)
                if pct > 90:
                    raise SalesError(i18n._("A discount is at most 90%."))
                levels.append(Level(str(name).strip()[:40], _int({"x": threshold}, "x", 0) * 100, pct))
            hours = (_int(form, "quiet_start", config.quiet_start), _int(form, "quiet_end", config.quiet_end))
            if any(h > 23 for h in hours):
                raise SalesError(i18n._("Hours are 0 to 23."))
            new = replace(
                config,
                rfm_recency_days=(
                    _int(form, "r1", config.rfm_recency_days[0]),
                    _int(form, "r2", config.rfm_recency_days[1]),
                ),
                rfm_frequency=(
                    _int(form, "f1", config.rfm_frequency[0]),
                    _int(form, "f2", config.rfm_frequency[1]),
                ),
                rfm_monetary=(
                    _int(form, "m1", config.rfm_monetary[0] // 100) * 100,
                    _int(form, "m2", config.rfm_monetary[1] // 100) * 100,
                ),
                attribution_days=_int(form, "attribution_days", config.attribution_days),
                cart_reminder_hours=_int(form, "cart_reminder_hours", config.cart_reminder_hours),
                cross_sell_days=_int(form, "cross_sell_days", config.cross_sell_days),
                quiet_start=hours[0],
                quiet_end=hours[1],
                levels=tuple(sorted(levels, key=lambda lv: lv.threshold)) or config.levels,
            )
            async with transaction(ctx(request).factory) as session:
                await sales_config.save(
                    session, sales_config.SalesConfig.from_json(json.loads(json.dumps(new.to_json())))
                )
        except SalesError as exc:
            return Template(
                "admin_sales.html",
                context={"manager": manager_of(request), "config": config, "error": str(exc)},
                status_code=400,
            )
        return Redirect(path="/admin/sales")
