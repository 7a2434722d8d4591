"""Catalog import on both databases: CSV with bad rows, a generated YML with thousands of offers,
a CommerceML pair from 1C; every re-import is idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from inbox.db import SessionFactory, transaction
from inbox.models import Category, Product, Stock, Warehouse, product_related
from inbox.orders import stock as stock_ops
from inbox.orders.errors import ImportFormatError
from inbox.orders.importers import detect_format, import_catalog
from inbox.orders.statuses import ensure_defaults

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalog"


@pytest.fixture
async def seeded(factory: SessionFactory) -> SessionFactory:
    async with transaction(factory) as s:
        await ensure_defaults(s)
    return factory


async def _product(factory: SessionFactory, sku: str) -> Product:
    async with factory() as s:
        product = (await s.execute(select(Product).where(Product.sku == sku))).scalar_one()
        return product


async def _on_hand(factory: SessionFactory, sku: str, warehouse: str = "main") -> int | None:
    async with factory() as s:
        row = (
            await s.execute(
                select(Stock.on_hand)
                .join(Product, Product.id == Stock.product_id)
                .join(Warehouse, Warehouse.id == Stock.warehouse_id)
                .where(Product.sku == sku, Warehouse.code == warehouse)
            )
        ).scalar_one_or_none()
        return row


async def test_csv_with_bad_rows_then_reimport(seeded: SessionFactory, tmp_path: Path) -> None:
    path = FIXTURES / "products.csv"
    seen: list[tuple[int, int]] = []
    summary = await import_catalog(seeded, path, progress=lambda done, total: seen.append((done, total)))
    assert (summary.fmt, summary.created, summary.updated, summary.unchanged) == ("csv", 4, 0, 0)
    reasons = dict(summary.rejected)
    assert sorted(reasons) == [6, 7, 8, 9, 10, 11, 12]
    assert "sku is empty" in reasons[6]
    assert "BAD-PRICE" in reasons[7] and "not a number" in reasons[7]
    assert "negative" in reasons[8]
    assert "expected 10 columns, got 3" in reasons[9]
    assert "not an http(s) URL" in reasons[10]
    assert "duplicate sku 'TS-001' (first seen at 2)" in reasons[11]
    assert "active must be" in reasons[12]
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    tee = await _product(seeded, "TS-001")
    assert tee.price == 199000 and tee.name == "Футболка базовая белая" and tee.active
    assert tee.images == ["https://cdn.example.ru/ts-001-1.jpg", "https://cdn.example.ru/ts-001-2.jpg"]
    black = await _product(seeded, "TS-002")
    assert black.description == "Хлопок 100%.\nСтирка при 30 °C." and black.price == 199000
    hoodie = await _product(seeded, "HD-010")
    assert hoodie.price == 459000
    mug = await _product(seeded, "MUG-200")
    assert mug.price == 129050 and not mug.active
    assert await _on_hand(seeded, "TS-001") == 25 and await _on_hand(seeded, "MUG-200") is None
    async with seeded() as s:
        cat = await s.get(Category, tee.category_id)
        assert cat is not None and cat.name == "Футболки"
        parent = await s.get(Category, cat.parent_id)
        assert parent is not None and parent.name == "Одежда" and parent.parent_id is None
        related = (
            await s.execute(
                select(product_related.c.related_id).where(product_related.c.product_id == tee.id)
            )
        ).scalars()
        assert set(related) == {black.id, hoodie.id}

    again = await import_catalog(seeded, path, fmt="csv")
    assert (again.created, again.updated, again.unchanged, len(again.rejected)) == (0, 0, 4, 7)

    # 10 units get reserved; a new count of 5 must not break the reservations
    async with transaction(seeded) as s:
        wh = await stock_ops.warehouse_by_code(s, "main")
        await stock_ops.reserve(s, tee.id, wh.id, 10)
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "sku;name;price;stock\n"
        "TS-001;Футболка базовая белая;1 990,00;5\n"
        "TS-002;Футболка базовая чёрная;2 190;12\n",
        encoding="cp1251",
    )
    third = await import_catalog(seeded, changed)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    assert third.warnings and "below the 10 reserved" in third.warnings[0].reason
    assert await _on_hand(seeded, "TS-001") == 25
    assert (await _product(seeded, "TS-002")).price == 219000


def _generate_yml(path: Path, offers: int, price_bump: int = 0) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<yml_catalog date="2026-11-20T10:00:00+03:00">\n')
        f.write("<shop><name>Тест</name><company>ООО Тест</company><url>https://t.example.ru</url>\n")
        f.write('<currencies><currency id="RUB" rate="1"/></currencies>\n<categories>\n')
        for c in range(1, 21):
            parent = f' parentId="{(c - 1) // 5 * 5 + 1}"' if c % 5 != 1 else ""
            f.write(f'<category id="{c}"{parent}>Категория {c}</category>\n')
        f.write("</categories>\n<offers>\n")
        for i in range(1, offers + 1):
            price = 100 + i + (price_bump if i % 10 == 0 else 0)
            f.write(
                f'<offer id="{i}" available="{"false" if i % 97 == 0 else "true"}">'
                f"<url>https://t.example.ru/p/{i}</url><price>{price}.50</price><currencyId>RUB</currencyId>"
                f"<categoryId>{i % 20 + 1}</categoryId><picture>https://t.example.ru/i/{i}.jpg</picture>"
                f"<name>Товар номер {i}</name><vendorCode>SKU-{i:05d}</vendorCode>"
                f"<description>Описание товара {i} &amp; немного текста</description>"
                f'<param name="Цвет">красный</param><param name="Вес" unit="г">{i % 1000}</param>'
                f"<count>{i % 50}</count></offer>\n"
            )
        f.write("</offers>\n</shop>\n</yml_catalog>\n")


async def test_generated_yml_with_thousands_of_offers(seeded: SessionFactory, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    _generate_yml(path, 3000)
    assert detect_format(path) == "yml"
    calls: list[int] = []
    summary = await import_catalog(seeded, path, progress=lambda done, total: calls.append(done))
    assert (summary.created, summary.updated, summary.unchanged, summary.rejected) == (3000, 0, 0, [])
    assert summary.categories_created == 20 and len(calls) > 1
    async with seeded() as s:
        assert (await s.execute(select(func.count()).select_from(Product))).scalar_one() == 3000
        assert (await s.execute(select(func.count()).select_from(Stock))).scalar_one() == 3000
        if s.get_bind().dialect.name == "postgresql":
            # The import refreshed the planner's statistics as the table grew (without that, PostgreSQL
            # planned each batch's lookups for an empty table and a 100k import ran at ~330 offers/s).
            estimate = (
                await s.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'product'"))
            ).scalar_one()
            assert estimate >= 1000
    p = await _product(seeded, "SKU-00097")
    assert p.price == 19750 and p.active and p.external_id == "97" and p.attributes["_available"] == "false"
    assert p.attributes["Вес"] == "97 г" and p.attributes["Цвет"] == "красный"
    assert p.description == "Описание товара 97 & немного текста"
    assert await _on_hand(seeded, "SKU-00097") == 47
    async with seeded() as s:
        cat = await s.get(Category, p.category_id)
        assert cat is not None and cat.external_id == "yml:18"
        parent = await s.get(Category, cat.parent_id)
        assert parent is not None and parent.external_id == "yml:16"

    again = await import_catalog(seeded, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3000)
    _generate_yml(path, 3000, price_bump=7)
    third = await import_catalog(seeded, path)
    assert (third.created, third.updated, third.unchanged) == (0, 300, 2700)
    assert (await _product(seeded, "SKU-00010")).price == 11750


async def test_small_yml_rejects_foreign_currency_and_bad_price(seeded: SessionFactory) -> None:
    summary = await import_catalog(seeded, FIXTURES / "shop.yml")
    assert summary.created == 1
    assert [pos for pos, _ in summary.rejected] == [2, 3]
    assert "USD is not supported" in summary.rejected[0].reason
    assert "not a number" in summary.rejected[1].reason
    book = await _product(seeded, "BK-101")
    assert book.price == 59000 and book.attributes["Автор"] == "Агата Кристи"
    assert book.description == "<p>Классический детектив.</p>"
    assert await _on_hand(seeded, "BK-101") == 8


async def test_commerceml_pair_from_1c(seeded: SessionFactory, tmp_path: Path) -> None:
    first = await import_catalog(seeded, FIXTURES / "commerceml" / "import.xml")
    assert first.fmt == "commerceml"
    assert (first.created, first.categories_created) == (3, 3)
    assert first.rejected == [(4, "NO-NAME: Товар has no Наименование")]
    kettle = await _product(seeded, "KT-1700")
    assert kettle.external_id == "a1000000-0000-4000-8000-000000000001"
    assert kettle.attributes == {
        "Цвет": "Белый",
        "Мощность, Вт": "2200",
        "ВидНоменклатуры": "Товар",
        "Вес": "1.2",
    }
    assert kettle.images == ["import_files/a1/a1000000-0000-4000-8000-000000000001.jpg"]
    vacuum = await _product(seeded, "a1000000-0000-4000-8000-000000000002")  # no Артикул: Ид is the SKU
    assert vacuum.attributes == {"Цвет": "Чёрный"} and len(vacuum.images) == 2
    assert not (await _product(seeded, "KT-OLD")).active
    async with seeded() as s:
        cat = await s.get(Category, kettle.category_id)
        assert cat is not None and cat.name == "Чайники"
        parent = await s.get(Category, cat.parent_id)
        assert parent is not None and parent.name == "Бытовая техника"

    # 1C writes offers.xml in windows-1251 as often as in UTF-8
    offers = tmp_path / "offers.xml"
    raw = (FIXTURES / "commerceml" / "offers.xml").read_text(encoding="utf-8")
    offers.write_bytes(raw.replace('encoding="UTF-8"', 'encoding="windows-1251"').encode("cp1251"))
    second = await import_catalog(seeded, offers)
    assert (second.created, second.updated, second.unchanged) == (0, 2, 0)
    reasons = dict(second.rejected)
    assert "unknown product 'GHOST-1'" in reasons[3] and "USD is not supported" in reasons[4]
    assert (await _product(seeded, "KT-1700")).price == 249000
    assert (await _product(seeded, "a1000000-0000-4000-8000-000000000002")).price == 1599000
    assert await _on_hand(seeded, "KT-1700", "1c-s0000000-0000-4000-8000-000000000001") == 5
    assert await _on_hand(seeded, "KT-1700", "1c-s0000000-0000-4000-8000-000000000002") == 2
    assert await _on_hand(seeded, "KT-1700") is None
    assert await _on_hand(seeded, "a1000000-0000-4000-8000-000000000002") == 4

    shutil.copy(FIXTURES / "commerceml" / "import.xml", tmp_path / "import.xml")
    again = await import_catalog(seeded, tmp_path / "import.xml")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    again_offers = await import_catalog(seeded, offers)
    assert (again_offers.created, again_offers.updated, again_offers.unchanged) == (0, 0, 2)
    async with seeded() as s:
        assert (await s.execute(select(func.count()).select_from(Warehouse))).scalar_one() == 3


async def test_unreadable_files_are_refused(seeded: SessionFactory, tmp_path: Path) -> None:
    odd = tmp_path / "catalog.xml"
    odd.write_text("<?xml version='1.0'?><rss><channel/></rss>", encoding="utf-8")
    with pytest.raises(ImportFormatError, match="cannot tell the format"):
        await import_catalog(seeded, odd)
    broken = tmp_path / "broken.yml"
    broken.write_text("<yml_catalog><shop><offers><offer id='1'>", encoding="utf-8")
    with pytest.raises(ImportFormatError, match="broken XML"):
        await import_catalog(seeded, broken)
    headless = tmp_path / "x.csv"
    headless.write_text("artikul,title\n1,2\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match="lacks required columns"):
        await import_catalog(seeded, headless)
    with pytest.raises(ImportFormatError, match="unknown warehouse"):
        await import_catalog(seeded, FIXTURES / "products.csv", warehouse="moon")


async def test_a_nul_in_a_sku_is_stored_replaced_and_found_again(
    seeded: SessionFactory, tmp_path: Path
) -> None:
    """PostgreSQL refuses NUL in text: the SKU is stored with U+FFFD, and a second import of the same file
    must find that product (it looked the raw SKU up and inserted a duplicate key before)."""
    path = tmp_path / "nul.csv"
    path.write_text("sku,name,price,stock\nNUL\x00SKU,Носки,590,3\n", encoding="utf-8")
    first = await import_catalog(seeded, path, fmt="csv")
    assert (first.created, first.updated, first.rejected) == (1, 0, [])
    path.write_text("sku,name,price,stock\nNUL\x00SKU,Носки,690,3\n", encoding="utf-8")
    second = await import_catalog(seeded, path, fmt="csv")
    assert (second.created, second.updated, second.rejected) == (0, 1, [])
    assert (await _product(seeded, "NUL\ufffdSKU")).price == 69000
