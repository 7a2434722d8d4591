"""REST API for the shop's systems (ERP, site): products, stock, orders. Mounted by app.py under /api/v1 on
the router whose before_request is require_token. Money is in kopecks. Lists return {"items", "next"}.

Refusals carry the reason in ``detail``: 404 unknown order/SKU, 409 out of stock or a forbidden status
transition, 400 invalid input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import _by_vouched_contact, thread_for
from inbox.core.phones import InvalidPhone, normalize_phone
from inbox.core.types import ContactHints
from inbox.db import transaction
from inbox.models import Customer, Order, Product
from inbox.orders import catalog, service
from inbox.orders.carriers.service import start_tracking
from inbox.orders.carriers.tracking import order_events
from inbox.orders.conversation import Effects, after_status, after_tracking, run_order_action
from inbox.orders.errors import (
    InvalidInput,
    NotFound,
    OrderError,
    OrdersError,
    OutOfStock,
    StockError,
    TransitionRefused,
)
from inbox.orders.payments import service as payments
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.orders.stock import RowError, set_stock
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


# --- wire types ------------------------------------------------------------------------------------------


class ProductOut(msgspec.Struct):
    id: int
    sku: str
    name: str
    price: int
    description: str
    active: bool
    available: int
    vat_code: int = 1  # 54-ФЗ VAT rate (YooKassa vat_code): 1 без НДС, 2 0%, 3 10%, 4 20%, …


class ProductPage(msgspec.Struct):
    items: list[ProductOut]
    next: str | None


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    name: str | None = None
    price: int | None = None
    description: str | None = None
    active: bool | None = None
    vat_code: int | None = None


class RowErrorOut(msgspec.Struct):
    index: int
    sku: str | None
    reason: str


class BatchResult(msgspec.Struct):
    created: int
    updated: int
    unchanged: int
    errors: list[RowErrorOut]


class _BatchRefused(Exception):
    """Rolls a refused stock batch back (raised inside the transaction)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad lines")
        self.errors = errors


class StockIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    on_hand: int
    warehouse: str = "main"


class CustomerIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""
    phone: str | None = None
    email: str | None = None


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    qty: int
    warehouse: str = "main"


class DeliveryIn(msgspec.Struct, forbid_unknown_fields=True):
    method: str | None = None
    address: str | None = None
    cost: int = 0


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    state: str = "unpaid"
    amount: int = 0


class TrackingIn(msgspec.Struct, forbid_unknown_fields=True):
    carrier: str
    number: str


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    customer: CustomerIn
    lines: list[LineIn]
    delivery: DeliveryIn | None = None
    payment: PaymentIn | None = None
    comment: str = ""


class OrderPatch(msgspec.Struct, forbid_unknown_fields=True):
    status: str | None = None
    notify: bool = True
    tracking: TrackingIn | None = None
    payment: PaymentIn | None = None
    comment: str | None = None


class LineOut(msgspec.Struct):
    sku: str
    name: str
    qty: int
    unit_price: int


class DeliveryOut(msgspec.Struct):
    method: str | None
    address: str | None
    cost: int


class PaymentOut(msgspec.Struct):
    state: str
    amount: int
    history: list[dict[str, Any]] = msgspec.field(default_factory=list)  # payments and refunds


class PaymentLinkOut(msgspec.Struct):
    url: str
    provider: str


class TrackingOut(msgspec.Struct):
    carrier: str | None
    number: str | None
    url: str | None
    events: list[dict[str, Any]] = msgspec.field(default_factory=list)  # parcel events, oldest first


class OrderOut(msgspec.Struct):
    id: int
    number: int | None
    status: str
    source: str
    customer_id: int
    thread_id: int | None
    lines: list[LineOut]
    subtotal: int
    delivery: DeliveryOut
    total: int
    payment: PaymentOut
    comment: str
    tracking: TrackingOut
    created_at: datetime
    status_changed_at: datetime


class OrderPage(msgspec.Struct):
    items: list[OrderOut]
    next: str | None


# --- helpers ---------------------------------------------------------------------------------------------


def refused(exc: OrdersError) -> ClientException:
    if isinstance(exc, NotFound):
        return NotFoundException(exc.reason)
    if isinstance(exc, InvalidInput):
        return ClientException(exc.reason, status_code=422, extra={"field": exc.field})
    if isinstance(exc, OutOfStock | TransitionRefused | StockError | OrderError):
        return ClientException(exc.reason, status_code=409)
    return ClientException(exc.reason)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit():
        raise ClientException("malformed cursor")
    return int(cursor)


def _limit(limit: int, top: int = 500) -> int:
    if not 1 <= limit <= top:
        raise ClientException(f"limit must be between 1 and {top}")
    return limit


async def order_out(session: AsyncSession, order: Order) -> OrderOut:
    lines = await service.order_lines(session, order.id)
    return OrderOut(
        id=order.id,
        number=order.number,
        status=order.status,
        source=order.source,
        customer_id=order.customer_id,
        thread_id=order.thread_id,
        lines=[LineOut(ln.sku, ln.name, ln.qty, ln.unit_price) for ln in lines],
        subtotal=order.subtotal,
        delivery=DeliveryOut(order.delivery_method, order.delivery_address, order.delivery_cost),
        total=order.total,
        payment=PaymentOut(
            order.payment_state, order.paid_amount, await payments.payment_history(session, order.id)
        ),
        comment=order.comment,
        tracking=TrackingOut(
            order.carrier, order.tracking_number, order.tracking_url, await order_events(session, order.id)
        ),
        created_at=order.created_at,
        status_changed_at=order.status_changed_at,
    )


async def customer_for_order(session: AsyncSession, data: CustomerIn, region: str) -> Customer:
    """A verified phone/email match (the same rule as inbound resolution); else a customer created by an
    earlier API order with the same contact; else a new customer with unverified contacts."""
    phone: str | None = None
    if data.phone:
        try:
            phone = normalize_phone(data.phone, region)
        except InvalidPhone as exc:
            raise InvalidInput("customer.phone", str(exc)) from exc
    email = data.email.strip().lower() if data.email else None
    if email is not None and ("@" not in email or len(email) > 254):
        raise InvalidInput("customer.email", f"not an email address: {data.email!r}")
    if phone is None and email is None:
        raise InvalidInput("customer", "the customer needs a phone or an email")
    found = await _by_vouched_contact(session, ContactHints(phone=phone, email=email))
    if found is not None:
        return found
    cond = Customer.phone == phone if phone else Customer.email == email
    for candidate in (
        await session.execute(
            select(Customer).where(cond, Customer.merged_into_id.is_(None)).order_by(Customer.id)
        )
    ).scalars():
        if (candidate.fields or {}).get("source") == "api":
            return candidate
    customer = Customer(
        name=data.name.strip()[:200], phone=phone, email=email, fields={"source": "api"}, tags=[]
    )
    session.add(customer)
    await session.flush()
    return customer


# --- the controller --------------------------------------------------------------------------------------


class OrdersApi(Controller):
    """Mounted by app.py under /api/v1 next to ApiV1 (bearer tokens)."""

    @get("/products", name="api_products")
    async def products(
        self,
        request: AnyRequest,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
        q: FromQuery[str] = "",
    ) -> ProductPage:
        """Products by id; ``q`` filters by words of the name or SKU."""
        after = _cursor(cursor)
        limit = _limit(limit)
        async with ctx(request).factory() as session:
            stmt = select(Product).order_by(Product.id).limit(limit)
            if after is not None:
                stmt = stmt.where(Product.id > after)
            for word in q.casefold().split():
                stmt = stmt.where(Product.search_key.contains(word, autoescape=True))
            rows = list((await session.execute(stmt)).scalars())
            items = []
            for p in rows:
                free = sum(level.available for level in await catalog.stock_levels(session, p.id))
                items.append(
                    ProductOut(p.id, p.sku, p.name, p.price, p.description, p.active, free, p.vat_code)
                )
        return ProductPage(items=items, next=str(rows[-1].id) if len(rows) == limit else None)

    @put("/products", name="api_put_products")
    async def put_products(self, request: AnyRequest, data: JSONBody[list[ProductIn]]) -> BatchResult:
        """Upsert by SKU; rows are independent (a bad row is an error entry, the others apply)."""
        if len(data) > 5000:
            raise ClientException("at most 5000 products per request")
        result = BatchResult(0, 0, 0, [])
        async with transaction(ctx(request).factory) as session:
            for index, row in enumerate(data):
                sku = row.sku.strip()
                reason = _product_problem(row, sku)
                if reason:
                    result.errors.append(RowErrorOut(index, row.sku, reason))
                    continue
                product = (
                    await session.execute(select(Product).where(Product.sku == sku))
                ).scalar_one_or_none()
                if product is None:
                    if not row.name or row.price is None:
                        result.errors.append(
                            RowErrorOut(index, sku, "a new product needs a name and a price")
                        )
                        continue
                    session.add(
                        Product(
                            sku=sku,
                            name=row.name,
                            price=row.price,
                            description=row.description or "",
                            active=True if row.active is None else row.active,
                            vat_code=row.vat_code or 1,
                            images=[],
                            attributes={},
                        )
                    )
                    result.created += 1
                    continue
                changes = {
                    k: v
                    for k, v in (
                        ("name", row.name),
                        ("price", row.price),
                        ("description", row.description),
                        ("active", row.active),
                        ("vat_code", row.vat_code),
                    )
                    if v is not None and getattr(product, k) != v
                }
                for k, v in changes.items():
                    setattr(product, k, v)
                if changes:
                    result.updated += 1
                else:
                    result.unchanged += 1
        return result

    @put("/stock", name="api_put_stock")
    async def put_stock(self, request: AnyRequest, data: JSONBody[list[StockIn]]) -> BatchResult:
        """Counted quantities per SKU and warehouse. The batch applies whole or not at all: any bad line
        (unknown SKU or warehouse, a negative count, a count below what orders reserve) answers 422 naming
        every bad line (``extra.errors``: index from 0, sku, reason) and nothing is applied."""
        if len(data) > 10000:
            raise ClientException("at most 10000 rows per request")
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                outcome = await set_stock(
                    session, [{"sku": r.sku, "warehouse": r.warehouse, "on_hand": r.on_hand} for r in data]
                )
                if outcome.errors:
                    raise _BatchRefused(outcome.errors)
        except _BatchRefused as refused:
            errors = refused.errors
            lines = "; ".join(f"line {e.index} (sku {e.sku or '?'}): {e.reason}" for e in errors[:20])
            more = f"; and {len(errors) - 20} more" if len(errors) > 20 else ""
            raise ClientException(
                f"stock batch refused, nothing applied: {lines}{more}",
                status_code=422,
                extra={"errors": [{"index": e.index, "sku": e.sku, "reason": e.reason} for e in errors]},
            ) from None
        return BatchResult(created=0, updated=outcome.updated, unchanged=outcome.unchanged, errors=[])

    @get("/orders", name="api_orders")
    async def orders(
        self,
        request: AnyRequest,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
        status: FromQuery[str | None] = None,
        customer_id: FromQuery[int | None] = None,
    ) -> OrderPage:
        """Newest first; ``next`` pages back."""
        before = _cursor(cursor)
        limit = _limit(limit)
        async with ctx(request).factory() as session:
            rows = await catalog.list_orders(
                session,
                customer_id=customer_id,
                statuses=[status] if status else None,
                before_id=before,
                limit=limit,
            )
            items = [await order_out(session, o) for o in rows]
        return OrderPage(items=items, next=str(rows[-1].id) if len(rows) == limit else None)

    @post("/orders", name="api_create_order", status_code=201)
    async def create_order(self, request: AnyRequest, data: JSONBody[OrderIn]) -> OrderOut:
        """A submitted order in the customer's thread; every line reserves stock or the whole order is
        refused (409 with the reason)."""
        if not data.lines:
            raise ClientException("an order needs at least one line")
        app = ctx(request)

        async def action(session: AsyncSession, fx: Effects) -> OrderOut:
            customer = await customer_for_order(session, data.customer, app.settings.default_region)
            thread = await thread_for(session, customer.id)
            order = await service.do_create_draft(
                session, customer_id=customer.id, thread_id=thread.id, actor=service.API, source="api"
            )
            for index, line in enumerate(data.lines):
                try:
                    product = await catalog.get_product_by_sku(session, line.sku)
                    await service.do_add_line(
                        session, order, product.id, line.qty, actor=service.API, warehouse=line.warehouse
                    )
                except OutOfStock as exc:
                    raise OutOfStock(f"line {index} ({line.sku}): {exc.reason}", exc.available) from exc
                except InvalidInput as exc:
                    where = f"lines[{index}].{exc.field}"
                    raise InvalidInput(where, f"line {index} ({line.sku}): {exc.reason}") from exc
                except OrdersError as exc:
                    raise type(exc)(f"line {index} ({line.sku}): {exc.reason}") from exc
            if data.delivery is not None:
                d = data.delivery
                await service.do_set_delivery(
                    session, order, method=d.method, address=d.address, cost=d.cost, actor=service.API
                )
            if data.payment is not None:
                await service.do_set_payment(
                    session, order, state=data.payment.state, amount=data.payment.amount, actor=service.API
                )
            if data.comment:
                await service.do_set_comment(session, order, data.comment, actor=service.API)
            change = await service.do_submit(session, order, actor=service.API)
            await after_status(session, fx, change)
            return await order_out(session, change.order)

        try:
            return await run_order_action(app.factory, app.bus, app.settings, action, app.wake_dispatcher)
        except OrdersError as exc:
            raise refused(exc) from exc

    @get("/orders/{number:int}", name="api_order")
    async def order(self, request: AnyRequest, number: FromPath[int]) -> OrderOut:
        async with ctx(request).factory() as session:
            try:
                found = await service.get_order_by_number(session, number)
            except OrdersError as exc:
                raise refused(exc) from exc
            return await order_out(session, found)

    @patch("/orders/{number:int}", name="api_patch_order")
    async def patch_order(
        self, request: AnyRequest, number: FromPath[int], data: JSONBody[OrderPatch]
    ) -> OrderOut:
        """Tracking first (so that the status notification can carry the link), then payment, comment and
        the status (409 with the reason when the transition is not allowed)."""
        app = ctx(request)

        async def action(session: AsyncSession, fx: Effects) -> OrderOut:
            order = await service.get_order_by_number(session, number)
            if data.tracking is not None:
                order = await service.do_set_tracking(
                    session,
                    order,
                    carrier=data.tracking.carrier,
                    track=data.tracking.number,
                    actor=service.API,
                )
                await after_tracking(session, fx, order)
                await start_tracking(session, order, order.tracking_number or "")
            if data.payment is not None:
                order = await service.do_set_payment(
                    session, order, state=data.payment.state, amount=data.payment.amount, actor=service.API
                )
            if data.comment is not None:
                order = await service.do_set_comment(session, order, data.comment, actor=service.API)
            if data.status is not None:
                change = await service.do_change_status(session, order, data.status, actor=service.API)
                await after_status(session, fx, change, notify=data.notify)
                order = change.order
            return await order_out(session, order)

        try:
            return await run_order_action(app.factory, app.bus, app.settings, action, app.wake_dispatcher)
        except OrdersError as exc:
            raise refused(exc) from exc


class PaymentLinkApi(Controller):
    """Mounted by app.py under /api/v1 next to OrdersApi (bearer tokens)."""

    @post("/orders/{number:int}/payment-link", name="api_payment_link", status_code=200)
    async def payment_link(self, request: AnyRequest, number: FromPath[int]) -> PaymentLinkOut:
        """The payment link for what is still due (the same link the bot and the order panel send):
        404 unknown order, 409 nothing to pay or no provider connected, 502 the provider refused,
        503 the provider is unavailable (try again: the same payment is reused)."""
        app = ctx(request)
        async with app.factory() as session:
            try:
                order = await service.get_order_by_number(session, number)
            except OrdersError as exc:
                raise refused(exc) from exc
        try:
            link = await payments.payment_link(app.factory, app.settings, order.id)
        except ProviderUnavailable as exc:
            raise HTTPException(exc.reason, status_code=503) from exc
        except ProviderRefused as exc:
            raise HTTPException(exc.reason, status_code=502) from exc
        except OrdersError as exc:
            raise ClientException(exc.reason, status_code=409) from exc
        return PaymentLinkOut(url=link.url, provider=link.provider)


def _product_problem(row: ProductIn, sku: str) -> str | None:
    if not sku or len(sku) > 100:
        return "sku must be 1 to 100 characters"
    if row.name is not None and not 1 <= len(row.name.strip()) <= 500:
        return "name must be 1 to 500 characters"
    if row.price is not None and not 0 <= row.price <= 10**12:
        return f"price must be a non-negative amount in kopecks, got {row.price}"
    if row.vat_code is not None and not 1 <= row.vat_code <= 12:
        return f"vat_code must be a 54-FZ VAT code from 1 to 12, got {row.vat_code}"
    return None
