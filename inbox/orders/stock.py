"""Stock per warehouse and reservations.

Every change is one conditional UPDATE, so that concurrent orders can never oversell: the condition is
checked by the database on the row it locks (PostgreSQL re-checks it after a concurrent commit; SQLite
serialises writers with BEGIN IMMEDIATE). ``available = on_hand - reserved``.

ERP stock sync (``set_stock``) sets ``on_hand`` to the counted quantity. A count below what is already
reserved for orders is refused for that row (error "below_reserved"), never clamped: the reservations
belong to customers' orders, and a manager must cancel or move them first. The database enforces the same
rule with the CHECK constraint ``reserved <= on_hand``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import stock_changed
from inbox.i18n import _
from inbox.models import Product, Stock, Warehouse
from inbox.orders.errors import NotFound, OutOfStock, StockError
from inbox.orders.sql import table

_stock = table(Stock)


async def warehouse_by_code(session: AsyncSession, code: str) -> Warehouse:
    wh = (await session.execute(select(Warehouse).where(Warehouse.code == code))).scalar_one_or_none()
    if wh is None:
        raise NotFound(f"unknown warehouse {code!r}")
    return wh


async def get_or_create_warehouse(session: AsyncSession, code: str, name: str = "") -> Warehouse:
    wh = (await session.execute(select(Warehouse).where(Warehouse.code == code))).scalar_one_or_none()
    if wh is None:
        wh = Warehouse(code=code, name=name or code)
        session.add(wh)
        await session.flush()
    return wh


async def available(session: AsyncSession, product_id: int, warehouse_id: int) -> int:
    row = (
        await session.execute(
            select(Stock.on_hand - Stock.reserved).where(
                Stock.product_id == product_id, Stock.warehouse_id == warehouse_id
            )
        )
    ).scalar_one_or_none()
    return int(row or 0)


async def _rowcount(session: AsyncSession, stmt: Any) -> int:
    result = cast(CursorResult[Any], await session.execute(stmt))
    return int(result.rowcount)


async def reserve(session: AsyncSession, product_id: int, warehouse_id: int, qty: int) -> None:
    """Reserve ``qty`` units or raise ``OutOfStock`` with what is available."""
    if qty <= 0:
        raise StockError(f"quantity to reserve must be positive, got {qty}")
    stmt = (
        update(_stock)
        .where(
            _stock.c.product_id == product_id,
            _stock.c.warehouse_id == warehouse_id,
            _stock.c.on_hand - _stock.c.reserved >= qty,
        )
        .values(reserved=_stock.c.reserved + qty)
    )
    if await _rowcount(session, stmt) == 0:
        left = await available(session, product_id, warehouse_id)
        raise OutOfStock(
            _("only {left} available, {qty} requested").format(left=left, qty=qty), available=left
        )
    stock_changed(session, product_id)


async def release(session: AsyncSession, product_id: int, warehouse_id: int, qty: int) -> None:
    """Give back ``qty`` reserved units (cancel, quantity lowered, draft expired)."""
    if qty <= 0:
        raise StockError(f"quantity to release must be positive, got {qty}")
    stmt = (
        update(_stock)
        .where(
            _stock.c.product_id == product_id,
            _stock.c.warehouse_id == warehouse_id,
            _stock.c.reserved >= qty,
        )
        .values(reserved=_stock.c.reserved - qty)
    )
    if await _rowcount(session, stmt) == 0:
        raise StockError(f"cannot release {qty}: fewer units are reserved")
    stock_changed(session, product_id)


async def write_off(session: AsyncSession, product_id: int, warehouse_id: int, qty: int) -> None:
    """The reserved units left the warehouse (order completed): on_hand and reserved both drop by qty."""
    if qty <= 0:
        raise StockError(f"quantity to write off must be positive, got {qty}")
    stmt = (
        update(_stock)
        .where(
            _stock.c.product_id == product_id,
            _stock.c.warehouse_id == warehouse_id,
            _stock.c.reserved >= qty,
            _stock.c.on_hand >= qty,
        )
        .values(reserved=_stock.c.reserved - qty, on_hand=_stock.c.on_hand - qty)
    )
    if await _rowcount(session, stmt) == 0:
        raise StockError(f"cannot write off {qty}: fewer units are reserved")
    stock_changed(session, product_id)


async def set_on_hand(session: AsyncSession, product_id: int, warehouse_id: int, on_hand: int) -> bool:
    """Set the counted quantity. Returns whether it changed; raises StockError below the reserved count."""
    if on_hand < 0:
        raise StockError(f"on_hand must not be negative, got {on_hand}")
    row = (
        await session.execute(
            select(Stock.on_hand, Stock.reserved).where(
                Stock.product_id == product_id, Stock.warehouse_id == warehouse_id
            )
        )
    ).one_or_none()
    if row is None:
        session.add(Stock(product_id=product_id, warehouse_id=warehouse_id, on_hand=on_hand, reserved=0))
        await session.flush()
        stock_changed(session, product_id)
        return True
    if row.on_hand == on_hand:
        return False
    stmt = (
        update(_stock)
        .where(
            _stock.c.product_id == product_id,
            _stock.c.warehouse_id == warehouse_id,
            _stock.c.reserved <= on_hand,
        )
        .values(on_hand=on_hand)
    )
    if await _rowcount(session, stmt) == 0:
        reserved = (
            await session.execute(
                select(Stock.reserved).where(
                    Stock.product_id == product_id, Stock.warehouse_id == warehouse_id
                )
            )
        ).scalar_one()
        raise StockError(f"below_reserved: {reserved} units are reserved for orders, cannot set {on_hand}")
    stock_changed(session, product_id)
    return True


@dataclass(frozen=True, slots=True)
class RowError:
    index: int  # position in the request, from 0
    sku: str | None
    reason: str


@dataclass(slots=True)
class StockUpdateResult:
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    product_ids: list[int] = field(default_factory=list)


async def set_stock(
    session: AsyncSession, rows: Iterable[Mapping[str, Any]], default_warehouse: str = "main"
) -> StockUpdateResult:
    """Batch stock update for the ERP API: ``[{"sku": ..., "warehouse": "main", "on_hand": 5}, ...]``.

    Rows are independent: a bad row becomes an entry in ``errors`` (unknown sku, unknown warehouse,
    bad quantity, below_reserved) and the others still apply. Emits one ``stock.changed`` event.
    """
    result = StockUpdateResult()
    warehouses: dict[str, int] = {}
    for index, row in enumerate(rows):
        sku = row.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            result.errors.append(RowError(index, None, "sku is required"))
            continue
        on_hand = row.get("on_hand")
        if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
            result.errors.append(
                RowError(index, sku, f"on_hand must be a non-negative integer, got {on_hand!r}")
            )
            continue
        code = row.get("warehouse") or default_warehouse
        if not isinstance(code, str):
            result.errors.append(RowError(index, sku, f"warehouse must be a code, got {code!r}"))
            continue
        if code not in warehouses:
            wh = (
                await session.execute(select(Warehouse.id).where(Warehouse.code == code))
            ).scalar_one_or_none()
            if wh is None:
                result.errors.append(RowError(index, sku, f"unknown warehouse {code!r}"))
                continue
            warehouses[code] = wh
        product_id = (
            await session.execute(select(Product.id).where(Product.sku == sku.strip()))
        ).scalar_one_or_none()
        if product_id is None:
            result.errors.append(RowError(index, sku, f"unknown sku {sku!r}"))
            continue
        try:
            changed = await set_on_hand(session, product_id, warehouses[code], on_hand)
        except StockError as exc:
            result.errors.append(RowError(index, sku, exc.reason))
            continue
        if changed:
            result.updated += 1
            result.product_ids.append(product_id)
        else:
            result.unchanged += 1
    return result
