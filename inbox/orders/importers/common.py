"""What every catalog importer shares: records, the summary, price parsing, byte counting for progress,
and the batched, idempotent writer.

Parsers are synchronous generators over a stream (never the whole file in memory) that yield
``CategoryRecord``, ``WarehouseRecord``, ``ProductRecord`` or ``Rejection``. The writer upserts products by
SKU (falling back to the source system's id), ``batch_size`` records per transaction, and counts each as
created, updated or unchanged, so that importing the same file twice creates nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, BinaryIO, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy import text as sql

from inbox import textsafe
from inbox.core.events import Event
from inbox.db import SessionFactory, is_postgres, transaction
from inbox.models import Category, Product, Stock, Warehouse, product_related, utcnow
from inbox.orders.errors import ImportFormatError
from inbox.orders.importers.bulk import insert_rows
from inbox.orders.sql import insert_ignore, table

Progress = Callable[[int, int], None]  # (bytes read so far, file size in bytes)
BATCH_SIZE = 500
MAX_PRICE = 10**12  # kopecks; anything above is a parsing accident


class Rejection(NamedTuple):
    position: int  # CSV: line number of the row's first line; XML: 1-based number of the element
    reason: str


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    key: str  # external id, unique per source ("yml:12", "1c:<Ид>", "path:Одежда/Куртки")
    name: str
    parent_key: str | None = None


@dataclass(frozen=True, slots=True)
class WarehouseRecord:
    external_id: str
    name: str


@dataclass(slots=True)
class ProductRecord:
    """One product as the source describes it; None means "the source does not say: keep what we have"."""

    position: int
    sku: str
    external_id: str | None = None
    name: str | None = None
    price: int | None = None
    description: str | None = None
    images: list[str] | None = None
    category_key: str | None = None
    attributes: dict[str, Any] | None = None
    active: bool | None = None
    related: list[str] | None = None
    stock: dict[str, int] | None = None  # warehouse code -> on hand
    stock_by_external: dict[str, int] | None = None  # warehouse external id -> on hand (CommerceML)
    offer_only: bool = False  # an offer (price/stock) for a product that must already exist


Item = CategoryRecord | WarehouseRecord | ProductRecord | Rejection


@dataclass(slots=True)
class ImportSummary:
    fmt: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)  # imported, but something was left out
    categories_created: int = 0

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.rejected)

    def event(self) -> Event:
        return Event(
            type="catalog.imported",
            data={
                "format": self.fmt,
                "created": self.created,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "rejected": len(self.rejected),
            },
        )


_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_PLAIN_PRICE = re.compile(r"(\d+)(?:\.(\d{1,2}))?")
_CURRENCY = re.compile(r"(₽|руб\.?|rub|р\.)$", re.IGNORECASE)


def parse_price(raw: str | None) -> int:
    """ "1 990,00", "1990.00", "1,990.50", "1990 ₽" → kopecks. ValueError with a reason otherwise."""
    if raw is None or not raw.strip():
        raise ValueError("price is empty")
    plain = _PLAIN_PRICE.fullmatch(raw)
    if plain is not None:  # "1990" or "1990.5" / "1990.50", what YML and most CSVs carry: no Decimal needed
        rubles, cents = plain.groups()
        kopecks = int(rubles) * 100 + int((cents or "0").ljust(2, "0"))
        if kopecks > MAX_PRICE:
            raise ValueError(f"price {raw!r} is implausibly large")
        return kopecks
    text = _CURRENCY.sub("", _SPACES.sub("", raw.strip())).strip()
    text = _SPACES.sub("", text)
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise ValueError(f"price {raw!r} is not a number")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards it
        raise ValueError(f"price {raw!r} is not a number") from exc
    kopecks = int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if kopecks > MAX_PRICE:
        raise ValueError(f"price {raw!r} is implausibly large")
    return kopecks


def parse_quantity(raw: str | None) -> int | None:
    """Stock count: "", None → None (not given); "5", "5.000" (1C writes decimals) → 5."""
    if raw is None or not raw.strip():
        return None
    if raw.isascii() and raw.isdigit():
        return int(raw)
    text = _SPACES.sub("", raw.strip()).replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"quantity {raw!r} is not a number") from exc
    if value < 0:
        return 0  # 1C reports negative balances; nothing can be sold from them
    if value != value.to_integral_value():
        raise ValueError(f"quantity {raw!r} is not a whole number")
    return int(value)


class CountingReader:
    """Wraps a binary file; reports bytes read through ``progress`` (throttled to ~1% steps)."""

    def __init__(self, raw: BinaryIO, total: int, progress: Progress | None) -> None:
        self.raw = raw
        self.total = total
        self.done = 0
        self.progress = progress
        self._step = max(total // 100, 64 * 1024)
        self._next = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.advance(len(data))
        return data

    def readline(self) -> bytes:
        data = self.raw.readline()
        self.advance(len(data))
        return data

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None and (self.done >= self._next or self.done >= self.total):
            self._next = self.done + self._step
            self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


@dataclass(slots=True)
class _Pending:
    products: list[ProductRecord] = field(default_factory=list)
    categories: list[CategoryRecord] = field(default_factory=list)


class CatalogWriter:
    """Buffers parsed records and writes them in batches, one transaction per batch."""

    def __init__(
        self, factory: SessionFactory, summary: ImportSummary, warehouse: str, batch_size: int = BATCH_SIZE
    ) -> None:
        self.factory = factory
        self.summary = summary
        self.default_warehouse = warehouse
        self.batch_size = batch_size
        self.pending = _Pending()
        self.categories: dict[str, int] = {}  # key -> id
        self.warehouses: dict[str, int] = {}  # code -> id
        self.warehouses_by_external: dict[str, str] = {}  # external id -> code
        self.seen: dict[str, int] = {}  # record identity -> position, to reject duplicates in one file
        self.related: dict[str, tuple[int, list[str]]] = {}  # sku -> (position, related skus)
        self.written = 0  # products written so far
        self.analyzed_at = 0  # ``written`` when the planner's statistics were last refreshed

    async def start(self) -> None:
        async with self.factory() as s:
            for code, wid in (await s.execute(select(Warehouse.code, Warehouse.id))).all():
                self.warehouses[code] = wid
            for ext, code in (await s.execute(select(Warehouse.external_id, Warehouse.code))).all():
                if ext is not None:
                    self.warehouses_by_external[ext] = code
        if self.default_warehouse not in self.warehouses:
            raise ImportFormatError(f"unknown warehouse {self.default_warehouse!r}")

    async def add(self, item: Item) -> None:
        if isinstance(item, Rejection):
            self.summary.rejected.append(item)
        elif isinstance(item, CategoryRecord):
            self.pending.categories.append(item)
        elif isinstance(item, WarehouseRecord):
            await self._warehouse(item)
        else:
            # Keys as the database stores them (a NUL becomes U+FFFD), so a re-import finds what it wrote.
            item.sku = textsafe.scrub(item.sku)
            item.external_id = textsafe.scrub(item.external_id)
            if item.related:
                item.related = textsafe.scrub(item.related)
            identity = (
                f"ext:{item.external_id}" if item.offer_only and item.external_id else f"sku:{item.sku}"
            )
            first = self.seen.get(identity)
            if first is not None:
                self.summary.rejected.append(
                    Rejection(item.position, f"duplicate sku {item.sku!r} (first seen at {first})")
                )
                return
            self.seen[identity] = item.position
            self.pending.products.append(item)
            if len(self.pending.products) >= self.batch_size:
                await self.flush()

    async def finish(self) -> ImportSummary:
        await self.flush()
        await self._write_related()
        return self.summary

    async def flush(self) -> None:
        if self.pending.categories:
            await self._write_categories(self.pending.categories)
            self.pending.categories = []
        if self.pending.products:
            batch, self.pending.products = self.pending.products, []
            await self._write_products(batch)
            self.written += len(batch)
            await self._refresh_statistics()

    async def _refresh_statistics(self) -> None:
        """PostgreSQL plans each batch's SKU and external-id lookups from statistics taken when the table was
        small (autovacuum analyses late, and asyncpg's prepared statements keep their generic plan), so a big
        first import scanned the whole growing table per batch. ANALYZE whenever the import has doubled
        what it wrote since the last one: a handful of times per import, milliseconds each."""
        if self.written < 1000 or self.written < 2 * self.analyzed_at:
            return
        self.analyzed_at = self.written
        async with transaction(self.factory) as s:
            if is_postgres(s):
                await s.execute(sql("ANALYZE product, stock"))

    async def _warehouse(self, rec: WarehouseRecord) -> None:
        if rec.external_id in self.warehouses_by_external:
            return
        code = f"1c-{rec.external_id}"[:64]
        async with transaction(self.factory) as s:
            await s.execute(
                insert_ignore(
                    s, Warehouse, {"code": code, "name": rec.name[:200], "external_id": rec.external_id}
                )
            )
            wid = (await s.execute(select(Warehouse.id).where(Warehouse.code == code))).scalar_one()
        self.warehouses[code] = wid
        self.warehouses_by_external[rec.external_id] = code

    async def _write_categories(self, records: list[CategoryRecord]) -> None:
        records = list({r.key: r for r in records}.values())  # a repeated id: the last one wins
        async with transaction(self.factory) as s:
            keys = [r.key for r in records]
            for key, cid in (
                await s.execute(
                    select(Category.external_id, Category.id).where(Category.external_id.in_(keys))
                )
            ).all():
                if key is not None:
                    self.categories[key] = cid
            rows: dict[str, Category] = {}
            for rec in records:
                cat = await s.get(Category, self.categories[rec.key]) if rec.key in self.categories else None
                if cat is None:
                    cat = Category(external_id=rec.key, name=rec.name[:200])
                    s.add(cat)
                    self.summary.categories_created += 1
                elif cat.name != rec.name[:200]:
                    cat.name = rec.name[:200]
                rows[rec.key] = cat
            await s.flush()
            for rec in records:
                self.categories[rec.key] = rows[rec.key].id
            for rec in records:
                parent = self.categories.get(rec.parent_key) if rec.parent_key else None
                if rows[rec.key].parent_id != parent:
                    rows[rec.key].parent_id = parent

    async def _write_products(self, batch: list[ProductRecord]) -> None:
        """Known products go through the ORM (compare, update what changed); new ones, and their stock rows,
        are inserted in bulk, one statement each per batch (``bulk.insert_rows``): an ORM object, or
        SQLAlchemy's per-value bind processing, per new product cost more than the database work."""
        async with transaction(self.factory) as s:
            skus = [r.sku for r in batch]
            by_sku = {
                p.sku: p for p in (await s.execute(select(Product).where(Product.sku.in_(skus)))).scalars()
            }
            ext_ids = [r.external_id for r in batch if r.external_id and r.sku not in by_sku]
            by_ext: dict[str, Product] = {}
            if ext_ids:
                for p in (await s.execute(select(Product).where(Product.external_id.in_(ext_ids)))).scalars():
                    if p.external_id is not None:
                        by_ext.setdefault(p.external_id, p)
            outcome: dict[int, str] = {}  # position -> created | updated | unchanged
            products: list[tuple[ProductRecord, int]] = []
            fresh: list[tuple[ProductRecord, dict[str, Any]]] = []
            for rec in batch:
                product = by_sku.get(rec.sku) or (by_ext.get(rec.external_id) if rec.external_id else None)
                if product is None:
                    if rec.offer_only or rec.name is None:
                        self.summary.rejected.append(
                            Rejection(rec.position, f"unknown product {rec.sku!r}: import the catalog first")
                        )
                        continue
                    fresh.append((rec, self._new_row(rec)))
                    outcome[rec.position] = "created"
                    continue
                outcome[rec.position] = "updated" if self._apply(rec, product) else "unchanged"
                products.append((rec, product.id))
            await s.flush()
            created: set[int] = set()
            if fresh:
                returned = await insert_rows(
                    s, table(Product), [row for _, row in fresh], utcnow(), returning=("sku", "id")
                )
                ids: dict[str, int] = {sku: pid for sku, pid in returned}
                for rec, row in fresh:
                    pid = ids[textsafe.scrub(row["sku"])]
                    products.append((rec, pid))
                    created.add(pid)
            for position in await self._write_stock(s, products, created):
                if outcome[position] == "unchanged":
                    outcome[position] = "updated"
            for rec, _pid in products:
                if rec.related is not None:
                    self.related[rec.sku] = (rec.position, rec.related)
        for value in outcome.values():
            if value == "created":
                self.summary.created += 1
            elif value == "updated":
                self.summary.updated += 1
            else:
                self.summary.unchanged += 1

    def _new_row(self, rec: ProductRecord) -> dict[str, Any]:
        """The columns of a new product: what ``Product(...)`` plus ``_apply`` would set."""
        assert rec.name is not None
        name = rec.name[:500]
        category: int | None = None
        if rec.category_key is not None:
            category = self.categories.get(rec.category_key)
            if category is None:
                self.summary.warnings.append(
                    Rejection(rec.position, f"unknown category {rec.category_key!r}")
                )
        return {
            "sku": rec.sku,
            "external_id": rec.external_id,
            "name": name,
            "description": rec.description if rec.description is not None else "",
            "price": rec.price or 0,
            "images": rec.images if rec.images is not None else [],
            "category_id": category,
            "attributes": rec.attributes if rec.attributes is not None else {},
            "active": rec.active if rec.active is not None else True,
            "search_key": f"{rec.sku} {name}".casefold(),
        }  # created_at and updated_at: the time of the INSERT (bulk.insert_rows)

    def _apply(self, rec: ProductRecord, product: Product) -> bool:
        changed = False

        def put(attr: str, value: Any) -> None:
            nonlocal changed
            if value is not None and getattr(product, attr) != value:
                setattr(product, attr, value)
                changed = True

        put("name", rec.name[:500] if rec.name else None)
        put("price", rec.price)
        put("description", rec.description)
        put("images", rec.images)
        put("attributes", rec.attributes)
        put("active", rec.active)
        if rec.external_id and product.external_id is None:
            put("external_id", rec.external_id)
        if rec.category_key is not None:
            category = self.categories.get(rec.category_key)
            if category is None:
                self.summary.warnings.append(
                    Rejection(rec.position, f"unknown category {rec.category_key!r}")
                )
            else:
                put("category_id", category)
        return changed

    async def _write_stock(
        self, s: Any, products: list[tuple[ProductRecord, int]], created: set[int]
    ) -> set[int]:
        """Set on-hand counts; returns the positions of the records whose stock changed. Products in
        ``created`` (inserted in this batch) have no stock rows yet: theirs are inserted in bulk."""
        changed: set[int] = set()
        wanted: list[tuple[ProductRecord, int, int, int]] = []  # record, product id, warehouse id, qty
        for rec, pid in products:
            counts: dict[str, int] = dict(rec.stock or {})
            for ext, qty in (rec.stock_by_external or {}).items():
                code = self.warehouses_by_external.get(ext)
                if code is None:
                    self.summary.warnings.append(Rejection(rec.position, f"unknown warehouse id {ext!r}"))
                    continue
                counts[code] = counts.get(code, 0) + qty
            for code, qty in counts.items():
                wid = self.warehouses.get(code)
                if wid is None:
                    self.summary.warnings.append(
                        Rejection(rec.position, f"unknown warehouse {code!r}: stock not changed")
                    )
                    continue
                wanted.append((rec, pid, wid, qty))
        if not wanted:
            return changed
        ids = sorted({pid for _, pid, _, _ in wanted if pid not in created})
        current: dict[tuple[int, int], Any] = {}
        if ids:
            current = {
                (row.product_id, row.warehouse_id): row
                for row in (await s.execute(select(Stock).where(Stock.product_id.in_(ids)))).scalars()
            }
        stock = table(Stock)
        new_rows: dict[tuple[int, int], dict[str, int]] = {}
        for rec, pid, wid, qty in wanted:
            row = current.get((pid, wid))
            if row is None:
                new_rows[(pid, wid)] = {"product_id": pid, "warehouse_id": wid, "on_hand": qty, "reserved": 0}
                changed.add(rec.position)
                continue
            if row.on_hand == qty:
                continue
            result = await s.execute(
                update(stock)
                .where(stock.c.product_id == pid, stock.c.warehouse_id == wid, stock.c.reserved <= qty)
                .values(on_hand=qty)
            )
            if result.rowcount == 0:
                self.summary.warnings.append(
                    Rejection(
                        rec.position, f"stock {qty} is below the {row.reserved} reserved: stock not changed"
                    )
                )
            else:
                changed.add(rec.position)
        await insert_rows(s, stock, list(new_rows.values()), utcnow())
        await s.flush()
        return changed

    async def _write_related(self) -> None:
        items = list(self.related.items())
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            skus = {sku for sku, _ in chunk} | {r for _, (_, rel) in chunk for r in rel}
            async with transaction(self.factory) as s:
                ids = dict(
                    (await s.execute(select(Product.sku, Product.id).where(Product.sku.in_(skus)))).all()
                )
                for sku, (position, related) in chunk:
                    pid = ids[sku]
                    want: set[int] = set()
                    for other in related:
                        if other not in ids:
                            self.summary.warnings.append(
                                Rejection(position, f"related sku {other!r} not found")
                            )
                        elif ids[other] != pid:
                            want.add(ids[other])
                    have = set(
                        (
                            await s.execute(
                                select(product_related.c.related_id).where(
                                    product_related.c.product_id == pid
                                )
                            )
                        ).scalars()
                    )
                    if have == want:
                        continue
                    await s.execute(delete(product_related).where(product_related.c.product_id == pid))
                    if want:
                        await s.execute(
                            product_related.insert(),
                            [{"product_id": pid, "related_id": r} for r in sorted(want)],
                        )
