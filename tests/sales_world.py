"""A small shop for the repeat-sales tests: customers on channels with orders, labels and cities whose
segment membership is computed by hand in the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.db import SessionFactory, transaction
from inbox.models import (
    ChannelAccount,
    Customer,
    CustomerLabel,
    Identity,
    Label,
    Order,
    OrderLine,
    Product,
    Thread,
    utcnow,
)
from inbox.orders.statuses import ensure_defaults
from inbox.orders.stock import warehouse_by_code


@dataclass
class Shop:
    accounts: dict[str, int] = field(default_factory=dict)  # kind -> account id
    customers: dict[str, int] = field(default_factory=dict)  # name -> id
    products: dict[str, int] = field(default_factory=dict)  # sku -> id
    labels: dict[str, int] = field(default_factory=dict)
    warehouse_id: int = 0
    numbers: int = 1000  # the last order number given


async def base_shop(session: AsyncSession) -> Shop:
    await ensure_defaults(session)
    shop = Shop(warehouse_id=(await warehouse_by_code(session, "main")).id)
    for kind in ("telegram", "vk", "email", "sms"):
        account = ChannelAccount(
            kind=kind, name=f"{kind}-shop", settings={}, secrets={}, state={}, enabled=False
        )
        session.add(account)
        await session.flush()
        shop.accounts[kind] = account.id
    for sku, price in (("TEA", 500_00), ("CUP", 1500_00)):
        product = Product(sku=sku, name=f"Товар {sku}", price=price)
        session.add(product)
        await session.flush()
        shop.products[sku] = product.id
    label = Label(name="VIP")
    session.add(label)
    await session.flush()
    shop.labels["VIP"] = label.id
    return shop


async def add_customer(
    session: AsyncSession,
    shop: Shop,
    name: str,
    channels: tuple[str, ...] = ("telegram",),
    city: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> int:
    customer = Customer(
        name=name, locale="ru", fields={"city": city} if city else {}, email=email, phone=phone
    )
    session.add(customer)
    await session.flush()
    session.add(Thread(customer_id=customer.id, last_inbound_channel=channels[0] if channels else None))
    for kind in channels:
        session.add(
            Identity(
                kind=kind,
                account_id=shop.accounts[kind],
                external_id=email if kind == "email" and email else f"{kind}-{customer.id}",
                customer_id=customer.id,
                display=name,
            )
        )
    await session.flush()
    shop.customers[name] = customer.id
    return customer.id


async def add_order(
    session: AsyncSession,
    shop: Shop,
    customer_id: int,
    total: int,
    placed: datetime,
    status: str = "new",
    sku: str = "TEA",
) -> int:
    shop.numbers += 1
    order = Order(
        number=shop.numbers,
        customer_id=customer_id,
        status=status,
        source="chat",
        subtotal=total,
        total=total,
        submitted_at=placed,
        status_changed_at=placed,
        created_at=placed,
    )
    session.add(order)
    await session.flush()
    session.add(
        OrderLine(
            order_id=order.id,
            product_id=shop.products[sku],
            warehouse_id=shop.warehouse_id,
            sku=sku,
            name=sku,
            qty=1,
            unit_price=total,
        )
    )
    await session.flush()
    return order.id


async def label_customer(session: AsyncSession, customer_id: int, label_id: int) -> None:
    session.add(CustomerLabel(customer_id=customer_id, label_id=label_id))
    await session.flush()


def days_ago(n: float) -> datetime:
    return utcnow() - timedelta(days=n)


async def segment_shop(factory: SessionFactory) -> Shop:
    """Five customers (amounts in kopecks, hand-computed figures in the comments):

    - Анна   telegram, Москва, VIP; orders 3000 ₽ (5 d), 2000 ₽ (40 d) CUP -> 2 orders, 5000 ₽, avg 2500
    - Борис  vk, Казань;           order 60000 ₽ (10 d) + a cancelled 9999 ₽ (3 d) -> 1 order, 60000 ₽,
      last order 3 days ago (the card's last order date counts any submitted order)
    - Вера   email, Москва;        orders 1000 ₽ x6 (1..6 d) -> 6 orders, 6000 ₽, avg 1000
    - Глеб   sms;                   order 12000 ₽ (200 d) -> 1 order, 12000 ₽
    - Дина   telegram + email;      no orders
    """
    async with transaction(factory) as s:
        shop = await base_shop(s)
        anna = await add_customer(s, shop, "Анна", ("telegram",), city="Москва")
        await label_customer(s, anna, shop.labels["VIP"])
        await add_order(s, shop, anna, 3000_00, days_ago(5))
        await add_order(s, shop, anna, 2000_00, days_ago(40), sku="CUP")
        boris = await add_customer(s, shop, "Борис", ("vk",), city="Казань")
        await add_order(s, shop, boris, 60000_00, days_ago(10))
        await add_order(s, shop, boris, 9999_00, days_ago(3), status="cancelled")
        vera = await add_customer(s, shop, "Вера", ("email",), city="Москва", email="vera@example.ru")
        for d in range(1, 7):
            await add_order(s, shop, vera, 1000_00, days_ago(d))
        gleb = await add_customer(s, shop, "Глеб", ("sms",), phone="+79990000004")
        await add_order(s, shop, gleb, 12000_00, days_ago(200))
        await add_customer(s, shop, "Дина", ("telegram", "email"), email="dina@example.ru")
        return shop


def signed_in(base: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=20, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post("/login", data={"email": email, "password": password, "_csrf_token": token.group(1)})
    assert r.status_code == 302, r.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken") or token.group(1)
    return client


async def api_token(factory: SessionFactory) -> dict[str, str]:
    from inbox.core.security import new_api_token, token_digest
    from inbox.models import ApiToken

    token = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name=f"erp-{token[:6]}", token_sha256=token_digest(token)))
    return {"Authorization": f"Bearer {token}"}


def api_client(base: str, headers: dict[str, str]) -> httpx.Client:
    """A blocking client: the server runs in its own thread (tests.server.threaded_server)."""
    return httpx.Client(base_url=base, headers=headers, timeout=20)


def shop_time(settings_timezone: str, hour: int) -> datetime:
    """The next moment (from now) the shop's clock shows ``hour``:00, in UTC: ticks of the sales worker
    inside or outside the quiet hours whatever the time the tests run at."""
    from zoneinfo import ZoneInfo

    from inbox.models import utcnow

    now = utcnow()
    local = now.astimezone(ZoneInfo(settings_timezone))
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)
    return at.astimezone(now.tzinfo)


def noon_zone() -> str:
    """A time zone where it is about noon now (for a server process, whose clock a test cannot set)."""
    from inbox.models import utcnow

    offset = 12 - utcnow().hour  # -11 … +12; Etc/GMT-N is N hours east of UTC
    return f"Etc/GMT{-offset:+d}"
