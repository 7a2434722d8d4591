"""Carts the bot, the widget or the shop's site started: visible to managers, and what the abandoned-cart
rule reminds of. A bot cart is a draft order; :func:`sync_bot_carts` mirrors drafts with lines here (and
marks them ordered once submitted). Site carts come through the API, the customer given by phone, email or
the shop's signed customer id (``<id>.<hex HMAC-SHA256 of the id with INBOX_SHOP_WEBHOOK_SECRET>``)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import live_customer
from inbox.core.phones import try_normalize_phone
from inbox.i18n import _
from inbox.models import DRAFT, Cart, Customer, Order, OrderLine, Thread, utcnow
from inbox.sales import NotFound, SalesError

MAX_LINES = 100


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    name: str
    qty: int
    price: int  # kopecks per unit


def sign_customer_id(secret: str, customer_id: int) -> str:
    digest = hmac.new(secret.encode(), str(customer_id).encode(), hashlib.sha256).hexdigest()
    return f"{customer_id}.{digest}"


def check_lines(raw: Any) -> list[CartLine]:
    if not isinstance(raw, list) or len(raw) > MAX_LINES:
        raise SalesError(_("Lines are a list of at most %(n)s items.") % {"n": MAX_LINES})
    out = []
    for i, item in enumerate(raw, 1):
        try:
            line = CartLine(
                sku=str(item["sku"])[:100],
                name=str(item.get("name") or item["sku"])[:300],
                qty=int(item["qty"]),
                price=int(item["price"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SalesError(_("Line %(n)s needs sku, qty and price (kopecks).") % {"n": i}) from None
        if line.qty <= 0 or line.price < 0:
            raise SalesError(
                _("Line %(n)s: the quantity must be positive and the price not negative.") % {"n": i}
            )
        out.append(line)
    return out


async def customer_for(
    session: AsyncSession,
    secret: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    signed_id: str | None = None,
    name: str = "",
) -> Customer:
    """The live customer a site cart belongs to; a new one (with a thread) for an unknown phone or email."""
    if signed_id:
        cid = signed_id.partition(".")[0]
        if (
            not secret
            or not cid.isdigit()
            or not hmac.compare_digest(sign_customer_id(secret, int(cid)), signed_id)
        ):
            raise SalesError(_("The signed customer id does not verify."))
        try:
            return await live_customer(session, int(cid))
        except LookupError:
            raise NotFound(_("No customer %(id)s.") % {"id": cid}) from None
    where: Any
    new: dict[str, Any]
    if email:
        clean = email.strip().lower()
        if "@" not in clean or len(clean) > 254:
            raise SalesError(_("The email address looks wrong."))
        where, new = Customer.email == clean, {"email": clean}
    elif phone:
        normal = try_normalize_phone(phone)
        if normal is None:
            raise SalesError(_("The phone number looks wrong."))
        where, new = Customer.phone == normal, {"phone": normal}
    else:
        raise SalesError(_("Give the customer's phone, email or signed id."))
    found = (
        await session.execute(select(Customer).where(where).order_by(Customer.id).limit(1))
    ).scalar_one_or_none()
    if found is not None:
        return await live_customer(session, found.id)
    customer = Customer(name=name.strip()[:200], **new)
    session.add(customer)
    await session.flush()
    session.add(Thread(customer_id=customer.id))
    await session.flush()
    return customer


async def upsert_site_cart(
    session: AsyncSession,
    customer: Customer,
    *,
    external_id: str | None,
    lines: list[CartLine],
    url: str | None,
    cart_id: int | None = None,
    status: str = "open",
) -> Cart:
    if status not in ("open", "ordered", "closed"):
        raise SalesError(_("A cart is open, ordered or closed."))
    if url is not None and not url.startswith(("https://", "http://")):
        raise SalesError(_("The cart link must be an http(s) URL."))
    cart: Cart | None = None
    if cart_id is not None:
        cart = await session.get(Cart, cart_id)
        if cart is None or cart.source != "site":
            raise NotFound(_("No cart %(id)s.") % {"id": cart_id})
    elif external_id:
        cart = (
            await session.execute(
                select(Cart).where(Cart.source == "site", Cart.external_id == external_id[:100])
            )
        ).scalar_one_or_none()
    now = utcnow()
    if cart is None:
        cart = Cart(
            customer_id=customer.id,
            source="site",
            external_id=(external_id or None) and external_id[:100],
            created_at=now,
        )
        session.add(cart)
    cart.customer_id = customer.id
    cart.lines = [{"sku": ln.sku, "name": ln.name, "qty": ln.qty, "price": ln.price} for ln in lines]
    cart.total = sum(ln.qty * ln.price for ln in lines)
    cart.url = url
    if status == "open" and cart.status != "open":
        cart.reminded_at = None
    cart.status = status
    cart.updated_at = now
    await session.flush()
    return cart


async def sync_bot_carts(session: AsyncSession, now: datetime | None = None) -> int:
    """Mirror the bot's draft orders with lines as carts; carts of drafts since submitted become ordered."""
    now = now or utcnow()
    drafts = list(
        (
            await session.execute(
                select(Order).where(
                    Order.status == DRAFT, Order.source == "bot", Order.updated_at > now - timedelta(days=30)
                )
            )
        ).scalars()
    )
    changed = 0
    for order in drafts:
        lines = list(
            (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars()
        )
        if not lines:
            continue
        cart = (
            await session.execute(select(Cart).where(Cart.source == "bot", Cart.external_id == str(order.id)))
        ).scalar_one_or_none()
        if cart is None:
            cart = Cart(
                customer_id=order.customer_id,
                source="bot",
                external_id=str(order.id),
                order_id=order.id,
                created_at=order.created_at,
            )
            session.add(cart)
        elif cart.updated_at >= order.updated_at and cart.status == "open":
            continue
        cart.lines = [{"sku": ln.sku, "name": ln.name, "qty": ln.qty, "price": ln.unit_price} for ln in lines]
        cart.total = sum(ln.qty * ln.unit_price for ln in lines)
        cart.customer_id = order.customer_id
        cart.status = "open"
        cart.updated_at = order.updated_at
        changed += 1
    submitted = await session.execute(
        select(Cart)
        .join(Order, Order.id == Cart.order_id)
        .where(Cart.source == "bot", Cart.status == "open", Order.status != DRAFT)
    )
    for cart in submitted.scalars():
        cart.status = "ordered"
        changed += 1
    await session.flush()
    return changed


async def open_carts(session: AsyncSession, limit: int = 200) -> list[tuple[Cart, Customer]]:
    rows = await session.execute(
        select(Cart, Customer)
        .join(Customer, Customer.id == Cart.customer_id)
        .where(Cart.status == "open", Cart.total > 0)
        .order_by(Cart.updated_at.desc())
        .limit(limit)
    )
    return [(c, cu) for c, cu in rows.all()]
