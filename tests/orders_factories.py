"""Small factories for commerce tests: seeded defaults, a customer with a thread, products with stock."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.db import SessionFactory, transaction
from inbox.models import Customer, Product, Stock, Thread
from inbox.orders.statuses import ensure_defaults
from inbox.orders.stock import warehouse_by_code


@dataclass(frozen=True)
class World:
    customer_id: int
    thread_id: int
    warehouse_id: int
    products: dict[str, int]  # sku -> id


async def add_customer(
    session: AsyncSession, name: str = "Анна", locale: str | None = "ru", channel: str | None = "telegram"
) -> tuple[int, int]:
    customer = Customer(name=name, locale=locale)
    session.add(customer)
    await session.flush()
    thread = Thread(customer_id=customer.id, last_inbound_channel=channel)
    session.add(thread)
    await session.flush()
    return customer.id, thread.id


async def add_product(
    session: AsyncSession, sku: str, price: int, on_hand: int, warehouse_id: int, name: str | None = None
) -> int:
    product = Product(sku=sku, name=name or f"Товар {sku}", price=price)
    session.add(product)
    await session.flush()
    session.add(Stock(product_id=product.id, warehouse_id=warehouse_id, on_hand=on_hand, reserved=0))
    await session.flush()
    return product.id


async def make_world(factory: SessionFactory, stock: dict[str, tuple[int, int]] | None = None) -> World:
    """Defaults + a customer (ru, telegram) + products {sku: (price kopecks, on hand)}."""
    stock = stock if stock is not None else {"A-1": (199000, 10), "B-2": (50050, 3)}
    async with transaction(factory) as s:
        await ensure_defaults(s)
        wh = await warehouse_by_code(s, "main")
        customer_id, thread_id = await add_customer(s)
        products = {sku: await add_product(s, sku, price, qty, wh.id) for sku, (price, qty) in stock.items()}
        return World(customer_id, thread_id, wh.id, products)
