"""Catalog reads for the web, the API and the bots: search, product cards with stock, related products,
categories, and order lists."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import DRAFT, Category, Order, Product, Stock, Warehouse, product_related
from inbox.orders.errors import NotFound


@dataclass(frozen=True, slots=True)
class StockLevel:
    warehouse: str  # code
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class ProductView:
    product: Product
    available: int  # over all warehouses


def _available_total() -> ColumnElement[int]:
    return func.coalesce(func.sum(Stock.on_hand - Stock.reserved), 0)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_products(
    session: AsyncSession,
    query: str = "",
    *,
    category_id: int | None = None,
    active_only: bool = True,
    in_stock_only: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> list[ProductView]:
    """Products whose SKU or name contain every word of ``query`` (any case), with total availability."""
    stmt = (
        select(Product, _available_total())
        .outerjoin(Stock, Stock.product_id == Product.id)
        .group_by(Product.id)
        .order_by(Product.name, Product.id)
        .limit(min(max(limit, 1), 200))
        .offset(max(offset, 0))
    )
    q = query.strip()
    if q:
        for word in q.casefold().split():
            stmt = stmt.where(Product.search_key.like(f"%{_escape_like(word)}%", escape="\\"))
    if category_id is not None:
        stmt = stmt.where(Product.category_id == category_id)
    if active_only:
        stmt = stmt.where(Product.active.is_(True))
    if in_stock_only:
        stmt = stmt.having(_available_total() > 0)
    rows = await session.execute(stmt)
    return [ProductView(product=p, available=int(a)) for p, a in rows.all()]


async def get_product_by_sku(session: AsyncSession, sku: str) -> Product:
    product = (await session.execute(select(Product).where(Product.sku == sku))).scalar_one_or_none()
    if product is None:
        raise NotFound(f"unknown sku {sku!r}")
    return product


async def stock_levels(session: AsyncSession, product_id: int) -> list[StockLevel]:
    rows = await session.execute(
        select(Warehouse.code, Stock.on_hand, Stock.reserved)
        .join(Warehouse, Warehouse.id == Stock.warehouse_id)
        .where(Stock.product_id == product_id)
        .order_by(Warehouse.code)
    )
    return [StockLevel(code, on_hand, reserved) for code, on_hand, reserved in rows.all()]


async def related_products(session: AsyncSession, product_id: int, active_only: bool = True) -> list[Product]:
    stmt = (
        select(Product)
        .join(product_related, product_related.c.related_id == Product.id)
        .where(product_related.c.product_id == product_id)
        .order_by(Product.name)
    )
    if active_only:
        stmt = stmt.where(Product.active.is_(True))
    return list((await session.execute(stmt)).scalars())


async def categories(session: AsyncSession) -> list[Category]:
    """All categories (build the tree from ``parent_id``)."""
    return list((await session.execute(select(Category).order_by(Category.name))).scalars())


async def list_orders(
    session: AsyncSession,
    *,
    customer_id: int | None = None,
    thread_id: int | None = None,
    statuses: list[str] | None = None,
    include_drafts: bool = False,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Order]:
    """Newest first; keyset pagination with ``before_id`` (pass the last id of the previous page)."""
    stmt = select(Order).order_by(Order.id.desc()).limit(min(max(limit, 1), 500))
    if customer_id is not None:
        stmt = stmt.where(Order.customer_id == customer_id)
    if thread_id is not None:
        stmt = stmt.where(Order.thread_id == thread_id)
    if statuses:
        stmt = stmt.where(Order.status.in_(statuses))
    if not include_drafts:
        stmt = stmt.where(Order.status != DRAFT)
    if before_id is not None:
        stmt = stmt.where(Order.id < before_id)
    return list((await session.execute(stmt)).scalars())
