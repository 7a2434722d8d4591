"""The order panel beside a thread (htmx fragments) and the status admin page. Signed-in managers only:
app.py mounts it on a router whose before_request is require_manager.

Every change re-renders the whole panel; a refused change renders it with the reason (status 200, so that
htmx swaps it in). The browser re-fetches the panel on "order.*" and "stock.changed" events (orders.js).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import live_customer
from inbox.core.outbox import NoChannel
from inbox.models import DRAFT, Manager, Order, OrderStatus, Product, Thread
from inbox.orders import catalog, service
from inbox.orders.carriers.service import (
    account_of_kind,
    choose_point,
    find_points,
    pending_cdek,
    quote_cdek,
    register_cdek,
    shipment_labels,
    start_tracking,
)
from inbox.orders.carriers.tracking import order_events
from inbox.orders.conversation import Effects, after_status, after_tracking, run_order_action
from inbox.orders.defaults import GROUPS
from inbox.orders.delivery_names import delivery_code, delivery_names
from inbox.orders.errors import OrderError, OrdersError
from inbox.orders.importers.common import parse_price
from inbox.orders.notify import format_rub
from inbox.orders.payments import service as payments
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.orders.payments.links import send_payment_link
from inbox.orders.stats import customer_order_stats
from inbox.orders.statuses import (
    dump_toml,
    export_statuses,
    load_statuses,
    parse_toml,
    replace_statuses,
    status_name,
)
from inbox.orders.stock import available
from inbox.orders.tracking import list_carriers
from inbox.sales import loyalty
from inbox.team import audit, audit_text
from inbox.web.auth import manager_of
from inbox.web.state import ctx
from inbox.web.status_form import defs_from_form

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _cdek_error(exc: ProviderUnavailable | ProviderRefused | OrdersError) -> str:
    """What the panel says when a СДЭК call fails."""
    if isinstance(exc, ProviderUnavailable):
        return i18n._("СДЭК is unavailable; try again in a minute.")
    if isinstance(exc, ProviderRefused):
        return i18n._("СДЭК refused: %(reason)s") % {"reason": exc.reason}
    return exc.reason


def _money(raw: str | None, name: str) -> int:
    text = (raw or "").strip()
    if not text:
        return 0
    try:
        return parse_price(text)
    except ValueError as exc:  # the parser's reason is English: say what to type, in the manager's language
        hint = i18n._("%(field)s: type an amount in rubles, e.g. 350 or 350,50") % {"field": name}
        raise OrdersError(hint) from exc


def _int(raw: str | None, name: str) -> int:
    text = (raw or "").strip()
    if not text.isdigit():
        raise OrdersError(i18n._("%(field)s: type a whole number") % {"field": name})
    return int(text)


async def _pick_order(session: AsyncSession, thread: Thread, order_id: int | None) -> Order | None:
    if order_id:
        order = await session.get(Order, order_id)
        if order is None or order.thread_id != thread.id:
            raise NotFoundException(i18n._("No such order."))
        return order
    statuses = await load_statuses(session)
    for order in await catalog.list_orders(session, thread_id=thread.id, include_drafts=True, limit=20):
        status = statuses.get(order.status)
        if order.status == DRAFT or (status is not None and status.group not in ("complete", "cancel")):
            return order
    return None


async def panel_context(
    session: AsyncSession, thread_id: int, order_id: int | None, error: str | None = None
) -> dict[str, Any]:
    thread = await session.get(Thread, thread_id)
    if thread is None:
        raise NotFoundException(i18n._("No such conversation."))
    customer = await live_customer(session, thread.customer_id)
    order = await _pick_order(session, thread, order_id)
    statuses = await load_statuses(session)
    locale = i18n.current()
    lines: list[dict[str, Any]] = []
    related: list[Product] = []
    allowed: list[OrderStatus] = []
    if order is not None:
        in_order: set[int] = set()
        for line in await service.order_lines(session, order.id):
            lines.append(
                {
                    "line": line,
                    "available": await available(session, line.product_id, line.warehouse_id),
                }
            )
            in_order.add(line.product_id)
        seen: set[int] = set()
        for pid in sorted(in_order):
            for p in await catalog.related_products(session, pid):
                if p.id not in in_order and p.id not in seen:
                    seen.add(p.id)
                    related.append(p)
        current = statuses.get(order.status)
        if current is not None:
            allowed = [statuses[c] for c in current.transitions if c in statuses]
    related_views: list[dict[str, Any]] = []
    for p in related[:6]:
        free = sum(level.available for level in await catalog.stock_levels(session, p.id))
        related_views.append({"product": p, "available": free})
    stats = await customer_order_stats(session, customer.id)
    history = list(reversed(await service.order_history(session, order.id)))[:30] if order else []
    names = dict((await session.execute(select(Manager.id, Manager.name))).all()) if history else {}

    def status_label(code: str) -> str:
        return status_name(statuses[code], locale) if code in statuses else i18n._("Draft")

    fields = (
        [getattr(order, c.key) for c in Order.__table__.columns] if order is not None else None,
        [(ln["line"].id, ln["line"].qty, ln["available"]) for ln in lines],
        [(r["product"].id, r["available"]) for r in related_views],
        [s.code for s in allowed],
        [(o.id, o.status, o.total) for o in stats.orders],
        [h.id for h in history],
    )
    return {
        # what the panel shows, for the browser's "has anything changed?" re-fetch
        "digest": hashlib.sha256(repr(fields).encode()).hexdigest()[:20],
        "order_panel": True,
        "thread": thread,
        "customer": customer,
        "order": order,
        "lines": lines,
        "related": related_views,
        "allowed": allowed,
        "statuses": statuses,
        "status_label": status_label,
        "history": [
            {
                "at": h.at,
                "who": audit_text.actor_name(h.actor, h.manager_id, names),
                "text": audit_text.order_change(h, status_label, names),
                "action": h.action,
            }
            for h in history
        ],
        "editable": order is not None
        and (
            order.status == DRAFT
            or (
                statuses.get(order.status) is not None and statuses[order.status].group in ("new", "approval")
            )
        ),
        "carriers": await list_carriers(session),
        "stats": stats,
        "standing": await loyalty.standing(session, customer.id),
        "rub": format_rub,
        "delivery_methods": list(delivery_names().values()),
        "product_ids": sorted({ln["line"].product_id for ln in lines} | {p.id for p in related}),
        "error": error,
        "payments": await payments.payment_history(session, order.id) if order is not None else [],
        "pay_summary": payments.payment_summary(order) if order is not None else "unpaid",
        "pay_due": payments.due(order) if order is not None else 0,
        "parcel_events": await order_events(session, order.id) if order is not None else [],
        "has_cdek": order is not None and await account_of_kind(session, "cdek") is not None,
        "can_cdek": order is not None
        and order.status != DRAFT
        and not order.tracking_number
        and await account_of_kind(session, "cdek") is not None
        and not await pending_cdek(session, order.id),
        "cdek_pending": order is not None and await pending_cdek(session, order.id),
        "labels": await shipment_labels(session, order.id) if order is not None else [],
        "can_link": order is not None
        and order.status != DRAFT
        and payments.due(order) > 0
        and await payments.has_link_account(session),
    }


class OrdersController(Controller):
    @get("/ui/threads/{thread_id:int}/order-panel", name="order_panel")
    async def panel(
        self,
        request: AnyRequest,
        thread_id: FromPath[int],
        order: FromQuery[int | None] = None,
        digest: FromQuery[str | None] = None,
    ) -> Template | Response[str]:
        """The panel; 204 when ``digest`` says the browser already shows exactly this (live re-fetch)."""
        async with ctx(request).factory() as session:
            data = await panel_context(session, thread_id, order)
        if digest is not None and digest == data["digest"]:
            return Response(content="", status_code=204)
        return Template("_order_panel.html", context=data)

    @get("/ui/orders/{order_id:int}/products", name="order_products")
    async def products(
        self, request: AnyRequest, order_id: FromPath[int], q: FromQuery[str] = ""
    ) -> Template:
        async with ctx(request).factory() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise NotFoundException(i18n._("No such order."))
            found = await catalog.search_products(session, q, limit=15) if q.strip() else []
        return Template(
            "_order_products.html", context={"order": order, "found": found, "q": q, "rub": format_rub}
        )

    async def _act(
        self,
        request: AnyRequest,
        thread_id: int,
        order_id: int | None,
        action: Any,
    ) -> Template:
        """Run a change; re-render the panel, with the reason when the change was refused."""
        app = ctx(request)
        error: str | None = None
        try:
            result = await run_order_action(app.factory, app.bus, app.settings, action, app.wake_dispatcher)
            if isinstance(result, Order):
                order_id = result.id
        except OrdersError as exc:
            error = exc.reason
        async with app.factory() as session:
            data = await panel_context(session, thread_id, order_id, error)
        return Template("_order_panel.html", context=data)

    async def _order(self, request: AnyRequest, order_id: int) -> Order:
        async with ctx(request).factory() as session:
            order = await session.get(Order, order_id)
        if order is None or order.thread_id is None:
            raise NotFoundException(i18n._("No such order."))
        return order

    @post("/ui/threads/{thread_id:int}/orders", name="order_new")
    async def new_order(self, request: AnyRequest, thread_id: FromPath[int]) -> Template:
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> Order:
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFoundException(i18n._("No such conversation."))
            return await service.do_create_draft(
                session, customer_id=thread.customer_id, thread_id=thread.id, actor=actor
            )

        return await self._act(request, thread_id, None, action)

    @post("/ui/orders/{order_id:int}/lines", name="order_add_line")
    async def add_line(self, request: AnyRequest, order_id: FromPath[int], data: Form) -> Template:
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> None:
            qty = _int(data.get("qty") or "1", i18n._("Quantity"))
            await service.do_add_line(
                session, order, _int(data.get("product_id"), "product"), qty, actor=actor
            )

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/lines/{line_id:int}", name="order_line_qty")
    async def change_line(
        self, request: AnyRequest, order_id: FromPath[int], line_id: FromPath[int], data: Form
    ) -> Template:
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> None:
            qty = _int(data.get("qty"), i18n._("Quantity"))
            await service.do_change_quantity(session, order, line_id, qty, actor=actor)

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/lines/{line_id:int}/remove", name="order_line_remove")
    async def remove_line(
        self, request: AnyRequest, order_id: FromPath[int], line_id: FromPath[int]
    ) -> Template:
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> None:
            await service.do_remove_line(session, order, line_id, actor=actor)

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/details", name="order_details")
    async def details(self, request: AnyRequest, order_id: FromPath[int], data: Form) -> Template:
        """Delivery, payment and comment in one form."""
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> None:
            current = await service.get_order(session, order.id)
            method = delivery_code(data.get("delivery_method"))
            address = data.get("delivery_address") or ""
            cost = _money(data.get("delivery_cost"), i18n._("Delivery cost"))
            if (method, address.strip() or None, cost) != (
                current.delivery_method,
                current.delivery_address,
                current.delivery_cost,
            ):
                await service.do_set_delivery(
                    session, current, method=method, address=address, cost=cost, actor=actor
                )
            state = data.get("payment_state") or "unpaid"
            paid = _money(data.get("paid_amount"), i18n._("Paid"))
            if (state, paid) != (current.payment_state, current.paid_amount):
                await service.do_set_payment(session, current, state=state, amount=paid, actor=actor)
            comment = data.get("comment") or ""
            if comment != current.comment:
                await service.do_set_comment(session, current, comment, actor=actor)

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/submit", name="order_submit")
    async def submit(self, request: AnyRequest, order_id: FromPath[int]) -> Template:
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> None:
            change = await service.do_submit(session, order, actor=actor)
            await after_status(session, fx, change)

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/status", name="order_status")
    async def status(self, request: AnyRequest, order_id: FromPath[int], data: Form) -> Template:
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)
        notify = data.get("notify") in ("1", "on", "true")

        async def action(session: AsyncSession, fx: Effects) -> None:
            code = (data.get("status") or "").strip()
            if order.status == DRAFT and code:
                statuses = await load_statuses(session)
                if code in statuses and statuses[code].group == "cancel":
                    change = await service.do_cancel(session, order, actor=actor, code=code)
                    await after_status(session, fx, change, notify=False)
                    return
            change = await service.do_change_status(session, order, code, actor=actor)
            await after_status(session, fx, change, notify=notify)

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/tracking", name="order_tracking")
    async def tracking(self, request: AnyRequest, order_id: FromPath[int], data: Form) -> Template:
        order = await self._order(request, order_id)
        actor = service.Actor.manager(manager_of(request).id)

        async def action(session: AsyncSession, fx: Effects) -> None:
            updated = await service.do_set_tracking(
                session,
                order,
                carrier=(data.get("carrier") or "").strip(),
                track=(data.get("tracking_number") or "").strip(),
                actor=actor,
            )
            await after_tracking(session, fx, updated)
            await start_tracking(session, updated, updated.tracking_number or "")

        return await self._act(request, order.thread_id or 0, order.id, action)

    @post("/ui/orders/{order_id:int}/delivery-quote", name="order_delivery_quote")
    async def delivery_quote(self, request: AnyRequest, order_id: FromPath[int]) -> Template:
        """СДЭК's tariff for the order's address becomes its delivery cost."""
        order = await self._order(request, order_id)
        app = ctx(request)
        actor = service.Actor.manager(manager_of(request).id)
        error: str | None = None
        try:
            await quote_cdek(app.factory, app.bus, app.settings, order.id, actor, app.wake_dispatcher)
        except (ProviderUnavailable, ProviderRefused, OrdersError) as exc:
            error = _cdek_error(exc)
        async with app.factory() as session:
            data = await panel_context(session, order.thread_id or 0, order.id, error)
        return Template("_order_panel.html", context=data)

    @post("/ui/orders/{order_id:int}/pickup-points", name="order_pickup_points")
    async def pickup_points(self, request: AnyRequest, order_id: FromPath[int], data: Form) -> Template:
        """СДЭК's pickup points in the typed city, to choose one in the panel."""
        order = await self._order(request, order_id)
        app = ctx(request)
        error: str | None = None
        city_code: int | None = None
        points: list[Any] = []
        city = (data.get("city") or "").strip()
        try:
            city_code, points = await find_points(app.factory, app.settings, city)
            if city_code is None or not points:
                error = i18n._("СДЭК has no pickup points in %(city)s.") % {"city": city}
        except (ProviderUnavailable, ProviderRefused, OrdersError) as exc:
            error = _cdek_error(exc)
        async with app.factory() as session:
            ctx_data = await panel_context(session, order.thread_id or 0, order.id, error)
        ctx_data.update({"point_options": points, "point_city": city, "point_city_code": city_code})
        return Template("_order_panel.html", context=ctx_data)

    @post("/ui/orders/{order_id:int}/pickup-point", name="order_pickup_point")
    async def pickup_point(self, request: AnyRequest, order_id: FromPath[int], data: Form) -> Template:
        """The chosen СДЭК pickup point becomes the order's delivery, at the tariff's cost."""
        order = await self._order(request, order_id)
        app = ctx(request)
        actor = service.Actor.manager(manager_of(request).id)
        error: str | None = None
        raw_city = (data.get("city_code") or "").strip()
        code = (data.get("point") or "").strip()
        try:
            if not raw_city.isdigit() or not code:
                raise OrderError(i18n._("Choose a pickup point."))
            await choose_point(
                app.factory, app.bus, app.settings, order.id, int(raw_city), code, actor, app.wake_dispatcher
            )
        except (ProviderUnavailable, ProviderRefused, OrdersError) as exc:
            error = _cdek_error(exc)
        async with app.factory() as session:
            data_ = await panel_context(session, order.thread_id or 0, order.id, error)
        return Template("_order_panel.html", context=data_)

    @post("/ui/orders/{order_id:int}/cdek", name="order_cdek")
    async def cdek(self, request: AnyRequest, order_id: FromPath[int]) -> Template:
        """Register the order with СДЭК (number + label PDF); tracking starts."""
        order = await self._order(request, order_id)
        app = ctx(request)
        error: str | None = None
        try:
            await register_cdek(app.factory, app.bus, app.settings, order.id, app.wake_dispatcher)
        except (ProviderUnavailable, ProviderRefused, OrdersError) as exc:
            error = _cdek_error(exc)
        async with app.factory() as session:
            data = await panel_context(session, order.thread_id or 0, order.id, error)
        return Template("_order_panel.html", context=data)

    @post("/ui/orders/{order_id:int}/payment-link", name="order_payment_link")
    async def payment_link(self, request: AnyRequest, order_id: FromPath[int]) -> Template:
        """Make (or reuse) the payment link for what is due and send it in the conversation."""
        order = await self._order(request, order_id)
        app = ctx(request)
        manager_id = manager_of(request).id
        error: str | None = None
        try:
            link = await payments.payment_link(app.factory, app.settings, order.id)
        except ProviderUnavailable:
            error = i18n._("The payment provider is unavailable; try again in a minute.")
        except ProviderRefused as exc:
            error = i18n._("The payment provider refused: %(reason)s") % {"reason": exc.reason}
        except OrdersError as exc:
            error = exc.reason
        else:

            async def action(session: AsyncSession, fx: Effects) -> None:
                current = await service.get_order(session, order.id)
                try:
                    await send_payment_link(session, fx, current, link, manager_id=manager_id)
                except NoChannel as exc:
                    raise OrderError(i18n._("The customer has no channel to send the link to.")) from exc

            return await self._act(request, order.thread_id or 0, order.id, action)
        async with app.factory() as session:
            data = await panel_context(session, order.thread_id or 0, order.id, error)
        return Template("_order_panel.html", context=data)


class OrderStatusesAdmin(Controller):
    """The status configuration: a table with the transitions matrix, and the same as TOML (import / export,
    validated with parse_toml). app.py mounts it on the /admin router (before_request require_admin)."""

    @get("/order-statuses", name="order_statuses")
    async def statuses_page(self, request: AnyRequest) -> Template:
        return await self._page(request)

    @post("/order-statuses/table", name="order_statuses_table")
    async def statuses_table(self, request: AnyRequest, data: Form) -> Template:
        manager = manager_of(request)
        app = ctx(request)
        try:
            async with app.factory() as session, session.begin():
                defs = defs_from_form(await export_statuses(session), data)
                await replace_statuses(session, defs)
                await audit.record(
                    session, manager.id, "order_statuses.save", "", count=len(defs), via="table"
                )
        except OrdersError as exc:
            return await self._page(request, error=exc.reason, status_code=400)
        return await self._page(request, saved=True)

    @post("/order-statuses", name="order_statuses_save")
    async def statuses_save(self, request: AnyRequest, data: Form) -> Template:
        manager = manager_of(request)
        text = data.get("toml") or ""
        try:
            defs = parse_toml(text)
            app = ctx(request)
            async with app.factory() as session, session.begin():
                await replace_statuses(session, defs)
                await audit.record(
                    session, manager.id, "order_statuses.save", "", count=len(defs), via="toml"
                )
        except OrdersError as exc:
            return await self._page(request, error=exc.reason, toml=text, status_code=400)
        return await self._page(request, saved=True)

    async def _page(
        self,
        request: AnyRequest,
        *,
        error: str | None = None,
        saved: bool = False,
        toml: str | None = None,
        status_code: int = 200,
    ) -> Template:
        async with ctx(request).factory() as session:
            defs = await export_statuses(session)
        locale = i18n.current()
        return Template(
            "order_statuses.html",
            context={
                "defs": defs,
                "groups": GROUPS,
                "label": lambda d: d.names.get(locale) or d.names.get("ru") or d.code,
                "toml": dump_toml(defs) if toml is None else toml,
                "error": error,
                "saved": saved,
                "manager": manager_of(request),
            },
            status_code=status_code,
        )
