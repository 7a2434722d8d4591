"""Catalog reads on both databases: search (Cyrillic, any case), stock levels, related, order lists."""

from __future__ import annotations

from sqlalchemy import insert

from inbox.db import SessionFactory, transaction
from inbox.models import Product, product_related
from inbox.orders import catalog
from inbox.orders import service as svc
from tests.orders_factories import make_world


async def test_search_stock_related_and_order_lists(factory: SessionFactory) -> None:
    world = await make_world(
        factory, {"TS-001": (199000, 5), "TS-002": (199000, 0), "MUG-1": (59000, 2), "100%_SALE": (100, 1)}
    )
    async with transaction(factory) as s:
        tee = await s.get(Product, world.products["TS-001"])
        assert tee is not None
        tee.name = "Футболка БЕЛАЯ"
        (await s.get(Product, world.products["TS-002"])).name = "Футболка чёрная"  # type: ignore[union-attr]
        (await s.get(Product, world.products["MUG-1"])).active = False  # type: ignore[union-attr]
        await s.execute(
            insert(product_related),
            [
                {"product_id": tee.id, "related_id": world.products["TS-002"]},
                {"product_id": tee.id, "related_id": world.products["MUG-1"]},
            ],
        )
    order_id = (await _order(factory, world)).id
    async with factory() as s:
        found = await catalog.search_products(s, "футболка")
        assert [v.product.sku for v in found] == ["TS-001", "TS-002"]
        assert [v.available for v in found] == [4, 0]  # one unit is reserved by the order
        assert [v.product.sku for v in await catalog.search_products(s, "белая ФУТБОЛКА")] == ["TS-001"]
        assert [v.product.sku for v in await catalog.search_products(s, "футболка", in_stock_only=True)] == [
            "TS-001"
        ]
        assert await catalog.search_products(s, "кружка") == []  # MUG-1 is inactive and named otherwise
        assert [v.product.sku for v in await catalog.search_products(s, "mug", active_only=False)] == [
            "MUG-1"
        ]
        assert [v.product.sku for v in await catalog.search_products(s, "100%")] == ["100%_SALE"]
        assert await catalog.search_products(s, "0%_s") != [] and await catalog.search_products(s, "_x") == []
        [level] = await catalog.stock_levels(s, world.products["TS-001"])
        assert (level.warehouse, level.on_hand, level.reserved, level.available) == ("main", 5, 1, 4)
        assert [p.sku for p in await catalog.related_products(s, world.products["TS-001"])] == ["TS-002"]
        assert (await catalog.get_product_by_sku(s, "TS-002")).id == world.products["TS-002"]
        assert await catalog.list_orders(s, customer_id=world.customer_id) == []  # drafts hidden
        drafts = await catalog.list_orders(s, customer_id=world.customer_id, include_drafts=True)
        assert [o.id for o in drafts] == [order_id]


async def _order(factory: SessionFactory, world):  # type: ignore[no-untyped-def]
    async with transaction(factory) as s:
        order = await svc.do_create_draft(s, customer_id=world.customer_id, actor=svc.API)
        await svc.do_add_line(s, order, world.products["TS-001"], 1, actor=svc.API)
        return order
