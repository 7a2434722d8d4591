"""The demo shop's own pages (signed-in managers of a demo shop only, like the customer page):

* ``/demo/site``: the shop's "website", a page that embeds the real ``/widget.js`` with the demo widget key,
  so a visitor chats into the inbox; it also lists the demo parcels with a "next status" button each;
* ``/demo/pay/<id>``: the demo payment provider's payment page ("Pay" / "Decline"), which completes the
  payment through the path a provider's notification takes (``inbox.orders.payments.demo``);
* ``POST /demo/parcels/<id>/advance``: the demo carrier moves the parcel one step, then it is checked like
  at a poll (``inbox.orders.carriers.demo``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select

from inbox import i18n
from inbox.db import transaction
from inbox.demo.extras import demo_widget_key
from inbox.models import Order, Payment, PaymentAccount, Product
from inbox.orders.carriers import demo as demo_carrier
from inbox.orders.errors import NotFound, OrderError
from inbox.orders.notify import format_rub
from inbox.orders.payments import demo as demo_pay
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
SHOWCASE = ("SN-101", "SN-105", "CL-201", "CL-203", "AC-301", "HM-402")


class DemoShopController(Controller):
    path = "/demo"

    @get("/site", name="demo_site")
    async def site(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            key = await demo_widget_key(session)
            products = list(
                (
                    await session.execute(
                        select(Product).where(Product.sku.in_(SHOWCASE)).order_by(Product.sku)
                    )
                ).scalars()
            )
            parcels = []
            for shipment, account in await demo_carrier.demo_parcels(session):
                order = await session.get(Order, shipment.order_id)
                reached = demo_carrier.reached(account, shipment.track)
                parcels.append(
                    {
                        "id": shipment.id,
                        "track": shipment.track,
                        "order": order.number if order else None,
                        "status": shipment.last_status or "",
                        "reached": reached,
                        "steps": len(demo_carrier.SCRIPT),
                        "next": demo_carrier.SCRIPT[reached][0]
                        if reached < len(demo_carrier.SCRIPT)
                        else None,
                    }
                )
            pending = (
                await session.execute(
                    select(Payment, Order)
                    .join(PaymentAccount, PaymentAccount.id == Payment.account_id)
                    .join(Order, Order.id == Payment.order_id)
                    .where(PaymentAccount.kind == demo_pay.KIND, Payment.status.in_(("new", "pending")))
                    .order_by(Payment.id)
                )
            ).all()
            payments = [
                {"id": p.external_id, "order": o.number, "amount": format_rub(p.amount)}
                for p, o in pending
                if p.external_id
            ]
        return Template(
            "demo_site.html",
            context={
                "widget_key": key,
                "products": [(p, format_rub(p.price)) for p in products],
                "parcels": parcels,
                "payments": payments,
            },
        )

    @get("/pay/{payment_id:str}", name="demo_pay")
    async def pay_page(self, request: AnyRequest, payment_id: FromPath[str]) -> Template:
        async with ctx(request).factory() as session:
            try:
                row, order = await demo_pay.find(session, payment_id)
            except NotFound as exc:
                raise NotFoundException(i18n._("There is no such demo payment.")) from exc
        return Template("demo_pay.html", context=_pay_context(row, order, None))

    @post("/pay/{payment_id:str}", name="demo_pay_decide", status_code=200)
    async def pay_decide(
        self,
        request: AnyRequest,
        payment_id: FromPath[str],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        app = ctx(request)
        try:
            row = await demo_pay.decide(
                app.factory,
                app.bus,
                app.settings,
                payment_id,
                data.get("action") == "pay",
                app.wake_dispatcher,
            )
        except NotFound as exc:
            raise NotFoundException(i18n._("There is no such demo payment.")) from exc
        async with app.factory() as session:
            row, order = await demo_pay.find(session, payment_id)
        return Template("demo_pay.html", context=_pay_context(row, order, row.status))

    @post("/parcels/{shipment_id:int}/advance", name="demo_parcel_advance", status_code=303)
    async def advance(self, request: AnyRequest, shipment_id: FromPath[int]) -> Redirect:
        app = ctx(request)
        try:
            async with transaction(app.factory) as session:
                await demo_carrier.advance(session, shipment_id)
        except NotFound as exc:
            raise NotFoundException(i18n._("There is no such demo parcel.")) from exc
        except OrderError:
            pass  # delivered already: nothing moves
        app.wake_dispatcher()
        return Redirect(path="/demo/site#parcels", status_code=303)


def _pay_context(row: Payment, order: Order, done: str | None) -> dict[str, Any]:
    return {
        "payment_id": row.external_id,
        "status": done or row.status,
        "order_number": order.number,
        "amount": format_rub(row.amount),
    }
