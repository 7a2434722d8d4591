"""Loyalty on SQLite and PostgreSQL: the level follows lifetime value, its discount is applied to order lines
that managers and the bot add (and only once the shop sets a discount)."""

from __future__ import annotations

from datetime import timedelta

from inbox.db import SessionFactory, transaction
from inbox.models import Stock, utcnow
from inbox.orders import service
from inbox.sales import config as sales_config
from inbox.sales import loyalty
from inbox.sales.config import Level, SalesConfig
from tests.sales_world import add_customer, add_order, base_shop


async def test_level_discount_applies_to_new_lines(factory: SessionFactory) -> None:
    async with transaction(factory) as s:
        shop = await base_shop(s)
        anna = await add_customer(s, shop, "Анна", ("telegram",))
        boris = await add_customer(s, shop, "Борис", ("telegram",))
        await add_order(s, shop, anna, 12_000_00, utcnow() - timedelta(days=3))
        await add_order(s, shop, anna, 50_000_00, utcnow() - timedelta(days=2), status="cancelled")
        s.add(Stock(product_id=shop.products["CUP"], warehouse_id=shop.warehouse_id, on_hand=10, reserved=0))
    async with transaction(factory) as s:
        # default levels have no discounts: prices stay as they are
        draft = await service.do_create_draft(s, customer_id=anna, actor=service.BOT, source="bot")
        line = await service.do_add_line(s, draft, shop.products["CUP"], 1, actor=service.BOT)
        assert line.unit_price == 1500_00
        await sales_config.save(
            s,
            SalesConfig(
                levels=(Level("Bronze", 0, 0), Level("Silver", 10_000_00, 3), Level("Gold", 50_000_00, 5))
            ),
        )
    async with transaction(factory) as s:
        standing = await loyalty.standing(s, anna)  # the cancelled 50 000 ₽ does not count
        assert standing.level is not None and standing.level.name == "Silver" and standing.spent == 12_000_00
        assert standing.left_to_next == 38_000_00
        for_anna = await service.do_create_draft(s, customer_id=anna, actor=service.API)
        line = await service.do_add_line(s, for_anna, shop.products["CUP"], 2, actor=service.API)
        assert line.unit_price == 1455_00  # 1500 ₽ less 3 %
        for_boris = await service.do_create_draft(s, customer_id=boris, actor=service.BOT, source="bot")
        line = await service.do_add_line(s, for_boris, shop.products["CUP"], 1, actor=service.BOT)
        assert line.unit_price == 1500_00  # Bronze: no discount
