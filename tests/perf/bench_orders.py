"""Commerce benchmarks (not collected by the default test run): catalog import speed for a generated YML of
100 000 offers, and reservations per second when many buyers compete for the same few products.

    python -m tests.perf.bench_orders [--offers 100000] [--buyers 200] [--database-url URL]

Without ``--database-url`` it runs on a fresh SQLite file; pass a PostgreSQL URL (an empty database) to
measure there. Prints the figures; asserts only that the results are consistent (no oversell).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import func, select

from inbox.db import SessionFactory, make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import Customer, Product, Stock
from inbox.orders import service
from inbox.orders.errors import OutOfStock
from inbox.orders.importers import import_catalog
from inbox.orders.statuses import ensure_defaults
from inbox.orders.stock import warehouse_by_code


def write_yml(path: Path, offers: int, seed: int = 1) -> int:
    """A Yandex Market catalog with ``offers`` offers in 50 categories; returns its size in bytes."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<yml_catalog date="2026-11-25 10:00">\n<shop>\n')
        f.write("<name>Bench</name><company>Bench</company><url>https://shop.example.ru</url>\n")
        f.write('<currencies><currency id="RUR" rate="1"/></currencies>\n<categories>\n')
        for c in range(1, 51):
            f.write(f'<category id="{c}">Категория {c}</category>\n')
        f.write("</categories>\n<offers>\n")
        for i in range(offers):
            name = escape(f"Товар №{i} «{rnd.choice(['красный', 'синий', 'белый'])}»")
            f.write(
                f'<offer id="{i}" available="true"><name>{name}</name>'
                f"<price>{rnd.randint(100, 100000)}.{rnd.randint(0, 99):02d}</price>"
                f"<currencyId>RUR</currencyId><categoryId>{i % 50 + 1}</categoryId>"
                f"<vendorCode>SKU-{i:07d}</vendorCode><count>{rnd.randint(0, 50)}</count>"
                f"<description>Описание товара {i}</description></offer>\n"
            )
        f.write("</offers>\n</shop>\n</yml_catalog>\n")
    return path.stat().st_size


async def bench_import(factory: SessionFactory, path: Path, offers: int) -> tuple[float, int]:
    started = time.perf_counter()
    summary = await import_catalog(factory, path, "yml")
    seconds = time.perf_counter() - started
    imported = summary.created + summary.updated + summary.unchanged
    if imported != offers or summary.rejected:
        raise AssertionError(f"expected {offers} offers imported, got {imported}; {summary.rejected[:3]}")
    return seconds, imported


async def bench_reservations(
    factory: SessionFactory, buyers: int, products: int = 5, units: int = 30
) -> None:
    """``buyers`` concurrent drafts each add one unit of a random hot product (``units`` on hand each)."""
    async with transaction(factory) as s:
        await ensure_defaults(s)
        wh = await warehouse_by_code(s, "main")
        customer = Customer(name="Покупатель")
        s.add(customer)
        await s.flush()
        hot = []
        for i in range(products):
            p = Product(sku=f"HOT-{i}", name=f"Горячий товар {i}", price=100000)
            s.add(p)
            await s.flush()
            s.add(Stock(product_id=p.id, warehouse_id=wh.id, on_hand=units, reserved=0))
            hot.append(p.id)
        drafts = []
        for _ in range(buyers):
            drafts.append((await service.do_create_draft(s, customer_id=customer.id, actor=service.BOT)).id)
    rnd = random.Random(7)
    picks = [rnd.choice(hot) for _ in drafts]
    ok = refused = 0

    async def buy(order_id: int, product_id: int) -> None:
        nonlocal ok, refused
        try:
            async with transaction(factory) as s:
                order = await service.get_order(s, order_id)
                await service.do_add_line(s, order, product_id, 1, actor=service.BOT)
            ok += 1
        except OutOfStock:
            refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(buy(o, p) for o, p in zip(drafts, picks, strict=True)))
    seconds = time.perf_counter() - started
    async with factory() as s:
        reserved = (
            await s.execute(select(func.sum(Stock.reserved)).where(Stock.product_id.in_(hot)))
        ).scalar()
        over = (
            await s.execute(select(func.count()).select_from(Stock).where(Stock.reserved > Stock.on_hand))
        ).scalar_one()
    if reserved != ok or over:
        raise AssertionError(
            f"inconsistent: {ok} reservations made, {reserved} recorded, {over} oversold rows"
        )
    print(
        f"reservations: {buyers} buyers on {products} products x {units} units: {ok} reserved, "
        f"{refused} out of stock, {seconds:.2f}s, {buyers / seconds:.0f} attempts/s"
    )


async def run(url: str, offers: int, buyers: int, workdir: Path) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        yml = workdir / "bench.yml"
        size = write_yml(yml, offers)
        seconds, n = await bench_import(factory, yml, offers)
        rate = n / seconds
        print(f"catalog import (YML, {size / 1e6:.1f} MB): {n} offers in {seconds:.1f}s = {rate:.0f} rows/s")
        seconds2, _ = await bench_import(factory, yml, offers)
        print(f"catalog re-import (all unchanged): {n / seconds2:.0f} rows/s")
        await bench_reservations(factory, buyers)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        upgrade(url)
        asyncio.run(run(url, args.offers, args.buyers, workdir))


if __name__ == "__main__":
    main()
