"""Trigger rules on SQLite and PostgreSQL: events found from what the database records, conditions, actions,
quiet hours, the default rules (the unpaid-order reminder among them), and once-only firing when two
workers evaluate the same rules at the same moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from inbox.customer_card.consent import record_consent
from inbox.db import SessionFactory, make_engine, make_session_factory, transaction
from inbox.models import (
    Cart,
    ChannelAccount,
    CustomerLabel,
    Message,
    Order,
    OrderHistory,
    Product,
    SalesTask,
    TriggerFire,
    TriggerRule,
    product_related,
)
from inbox.orders import service
from inbox.sales import triggers
from inbox.sales.config import SalesConfig
from inbox.settings import Settings
from tests.sales_world import Shop, add_customer, add_order, base_shop

NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow: outside the quiet hours


async def world(factory: SessionFactory) -> Shop:
    async with transaction(factory) as s:
        shop = await base_shop(s)
        for account in (await s.execute(select(ChannelAccount))).scalars():
            account.enabled = True
        await add_customer(s, shop, "Анна", ("telegram",))
        await add_customer(s, shop, "Борис", ("telegram",))
        return shop


async def outgoing(factory: SessionFactory, customer_id: int) -> list[str]:
    async with factory() as s:
        rows = await s.execute(
            select(Message.text)
            .where(Message.customer_id == customer_id, Message.direction == "out")
            .order_by(Message.id)
        )
        return [t or "" for t in rows.scalars()]


async def test_status_rule_sends_labels_and_creates_a_task_once(
    factory: SessionFactory, settings: Settings
) -> None:
    shop = await world(factory)
    anna, boris = shop.customers["Анна"], shop.customers["Борис"]
    async with transaction(factory) as s:
        rule = await triggers.create_rule(
            s,
            name="Отправлен",
            event="order_status",
            params={"status": "handed_to_delivery"},
            conditions=[{"field": "orders", "op": "gte", "value": 1}],
            actions=[
                {"kind": "send", "text": "{customer.name}, заказ №{order.number} передан в доставку"},
                {"kind": "label", "id": shop.labels["VIP"]},
                {"kind": "task", "text": "Проверить доставку №{order.number}", "hours": 48},
            ],
        )
        rule.created_at = NOON - timedelta(days=1)
        order_id = await add_order(s, shop, anna, 3000_00, NOON - timedelta(hours=5))
        s.add(
            OrderHistory(
                order_id=order_id,
                actor="manager",
                action="status",
                from_value="new",
                to_value="handed_to_delivery",
                at=NOON - timedelta(hours=1),
            )
        )
        # before the rule existed: not an event for it
        old = await add_order(s, shop, boris, 1000_00, NOON - timedelta(days=5))
        s.add(
            OrderHistory(
                order_id=old,
                actor="manager",
                action="status",
                from_value="new",
                to_value="handed_to_delivery",
                at=NOON - timedelta(days=3),
            )
        )
    fired, _ = await triggers.run_rules(factory, settings, NOON)
    assert fired == 1
    again, _ = await triggers.run_rules(factory, settings, NOON + timedelta(minutes=5))
    assert again == 0
    assert await outgoing(factory, anna) == ["Анна, заказ №1001 передан в доставку"]
    assert await outgoing(factory, boris) == []
    async with factory() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(CustomerLabel).where(CustomerLabel.customer_id == anna)
            )
            == 1
        )
        task = (await s.execute(select(SalesTask))).scalar_one()
        assert task.title == "Проверить доставку №1001" and task.rule_id == rule.id
        assert (await triggers.rule_stats(s))[rule.id] == 1
        fire = (await triggers.recent_fires(s, rule.id))[0]
        assert fire.done[0]["text"] == "Анна, заказ №1001 передан в доставку"


async def test_default_unpaid_reminder_and_quiet_hours(factory: SessionFactory, settings: Settings) -> None:
    shop = await world(factory)
    anna = shop.customers["Анна"]
    async with transaction(factory) as s:
        await add_order(s, shop, anna, 2500_00, NOON - timedelta(hours=30))  # unpaid for 30 h
        await add_order(s, shop, anna, 700_00, NOON - timedelta(hours=3))  # not yet 24 h
    night = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    fired, _ = await triggers.run_rules(factory, settings, night)
    assert fired == 0  # quiet hours: sending rules wait
    async with factory() as s:
        builtin = set((await s.execute(select(TriggerRule.builtin))).scalars())
        assert builtin == {"order_unpaid", "cart_abandoned", "cross_sell"}
    fired, _ = await triggers.run_rules(factory, settings, NOON)
    assert fired == 1
    assert await outgoing(factory, anna) == ["Заказ №1001 на 2\u00a0500\u00a0₽ ждёт оплаты."]


async def test_cart_reminder_needs_consent_and_no_purchase_since(
    factory: SessionFactory, settings: Settings
) -> None:
    shop = await world(factory)
    anna, boris = shop.customers["Анна"], shop.customers["Борис"]
    async with transaction(factory) as s:
        for cid in (anna, boris):
            await record_consent(s, cid, "telegram", True, "bot", at=NOON - timedelta(days=9))
        lines = [{"sku": "TEA", "name": "Чай", "qty": 2, "price": 500_00}]
        s.add(
            Cart(
                customer_id=anna,
                source="site",
                external_id="a1",
                lines=lines,
                total=1000_00,
                updated_at=NOON - timedelta(hours=5),
            )
        )
        s.add(
            Cart(
                customer_id=boris,
                source="site",
                external_id="b1",
                lines=lines,
                total=1000_00,
                updated_at=NOON - timedelta(hours=5),
            )
        )
        await add_order(s, shop, boris, 1000_00, NOON - timedelta(hours=1))  # Борис bought since
    await triggers.run_rules(factory, settings, NOON)
    texts = await outgoing(factory, anna)
    assert texts[0].startswith("В корзине остались товары: Чай. Оформим заказ?") and "«стоп»" in texts[0]
    assert all("корзин" not in t for t in await outgoing(factory, boris))
    await triggers.run_rules(factory, settings, NOON + timedelta(hours=10))
    assert len(await outgoing(factory, anna)) == 1  # once


async def test_cross_sell_after_delivery_suggests_related_goods(
    factory: SessionFactory, settings: Settings
) -> None:
    shop = await world(factory)
    anna = shop.customers["Анна"]
    async with transaction(factory) as s:
        await record_consent(s, anna, "telegram", True, "bot", at=NOON - timedelta(days=9))
        s.add(Product(sku="SPOON", name="Ложка", price=300_00))
        await s.flush()
        spoon = (await s.execute(select(Product.id).where(Product.sku == "SPOON"))).scalar_one()
        await s.execute(product_related.insert().values(product_id=shop.products["TEA"], related_id=spoon))
        await s.execute(
            product_related.insert().values(product_id=shop.products["TEA"], related_id=shop.products["CUP"])
        )
        order_id = await add_order(s, shop, anna, 500_00, NOON - timedelta(days=5), status="delivered")
        s.add(
            OrderHistory(
                order_id=order_id,
                actor="manager",
                action="status",
                from_value="in_delivery",
                to_value="delivered",
                at=NOON - timedelta(days=3, hours=1),
            )
        )
    await triggers.run_rules(factory, settings, NOON)
    (text,) = await outgoing(factory, anna)
    assert (
        text.startswith("С этим покупают:")
        and "Ложка — 300\u00a0₽" in text
        and "Товар CUP — 1\u00a0500\u00a0₽" in text
    )


async def test_two_workers_fire_a_rule_once(factory: SessionFactory, settings: Settings, db_url: str) -> None:
    shop = await world(factory)
    async with transaction(factory) as s:
        rule = await triggers.create_rule(
            s,
            name="Оплачен",
            event="order_paid",
            params={},
            actions=[{"kind": "send", "text": "Спасибо за оплату!"}],
        )
        rule.created_at = NOON - timedelta(days=1)
        for name in ("Анна", "Борис"):
            order_id = await add_order(s, shop, shop.customers[name], 1000_00, NOON - timedelta(hours=2))
            order = await s.get(Order, order_id)
            assert order is not None
            # paid as the order service records it (by hand or when a provider reports the payment)
            await service.do_set_payment(s, order, state="paid", amount=1000_00, actor=service.SYSTEM)
    engines = [make_engine(db_url) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(triggers.run_rules(make_session_factory(e), settings, NOON) for e in engines)
        )
    finally:
        for e in engines:
            await e.dispose()
    assert sum(n for n, _ in results) == 2
    for name in ("Анна", "Борис"):
        assert await outgoing(factory, shop.customers[name]) == ["Спасибо за оплату!"]
    async with factory() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(TriggerFire).where(TriggerFire.rule_id == rule.id)
            )
            == 2
        )
        assert await s.scalar(select(func.count()).select_from(Order)) == 2


def test_quiet_hours_wrap_midnight() -> None:
    from zoneinfo import ZoneInfo

    cfg, tz = SalesConfig(), ZoneInfo("Europe/Moscow")
    assert triggers.in_quiet_hours(cfg, datetime(2026, 6, 1, 18, 30, tzinfo=UTC), tz)  # 21:30
    assert triggers.in_quiet_hours(cfg, datetime(2026, 6, 1, 5, 0, tzinfo=UTC), tz)  # 08:00
    assert not triggers.in_quiet_hours(cfg, datetime(2026, 6, 1, 6, 0, tzinfo=UTC), tz)  # 09:00
    assert not triggers.in_quiet_hours(
        SalesConfig(quiet_start=0, quiet_end=0), datetime(2026, 6, 1, 22, tzinfo=UTC), tz
    )


async def test_birthday_rule_fires_once_a_year(factory: SessionFactory, settings: Settings) -> None:
    from datetime import date

    from inbox.models import Customer

    shop = await world(factory)
    anna, boris = shop.customers["Анна"], shop.customers["Борис"]
    async with transaction(factory) as s:
        for cid, born in ((anna, date(1990, 6, 1)), (boris, date(1990, 6, 2))):
            customer = await s.get(Customer, cid)
            assert customer is not None
            customer.birthday = born
        await record_consent(s, anna, "telegram", True, "bot", at=NOON - timedelta(days=9))
        await triggers.create_rule(
            s,
            name="ДР",
            event="birthday",
            params={},
            actions=[{"kind": "send", "text": "С днём рождения, {customer.name}!"}],
        )
    await triggers.run_rules(factory, settings, NOON)
    await triggers.run_rules(factory, settings, NOON + timedelta(hours=2))
    texts = await outgoing(factory, anna)
    assert len(texts) == 1 and texts[0].startswith("С днём рождения, Анна!")
    assert await outgoing(factory, boris) == []


async def test_a_bot_cart_left_behind_is_seen_and_reminded_once(
    factory: SessionFactory, settings: Settings
) -> None:
    from inbox.models import Stock
    from inbox.sales import carts

    shop = await world(factory)
    anna = shop.customers["Анна"]
    async with transaction(factory) as s:
        await record_consent(s, anna, "telegram", True, "bot", at=NOON - timedelta(days=9))
        s.add(Stock(product_id=shop.products["TEA"], warehouse_id=shop.warehouse_id, on_hand=5, reserved=0))
        await s.flush()
        draft = await service.do_create_draft(s, customer_id=anna, actor=service.BOT, source="bot")
        await service.do_add_line(s, draft, shop.products["TEA"], 2, actor=service.BOT)
    async with transaction(factory) as s:
        order = await s.get(Order, draft.id)
        assert order is not None
        order.updated_at = NOON - timedelta(hours=5)  # the customer left it five hours ago
        assert await carts.sync_bot_carts(s, NOON) == 1
        ((cart, _customer),) = await carts.open_carts(s)
        assert cart.source == "bot" and cart.total == 2 * 500_00 and cart.lines[0]["qty"] == 2
    await triggers.run_rules(factory, settings, NOON)
    await triggers.run_rules(factory, settings, NOON + timedelta(hours=3))
    texts = [t for t in await outgoing(factory, anna) if "корзине" in t]
    assert len(texts) == 1 and "Товар TEA" in texts[0]
    async with transaction(factory) as s:
        order = await s.get(Order, draft.id)
        assert order is not None
        await service.do_submit(s, order, actor=service.BOT)
        await carts.sync_bot_carts(s)
        assert await carts.open_carts(s) == []


async def test_joined_segment_fires_for_newcomers_only(factory: SessionFactory, settings: Settings) -> None:
    from inbox.sales import segments

    shop = await world(factory)
    anna, boris = shop.customers["Анна"], shop.customers["Борис"]
    async with transaction(factory) as s:
        for cid in (anna, boris):
            await record_consent(s, cid, "telegram", True, "bot", at=NOON - timedelta(days=9))
        buyers = await segments.create_segment(
            s, "Покупатели", conditions=[{"field": "orders", "op": "gte", "value": 1}]
        )
        await add_order(s, shop, anna, 100_00, NOON - timedelta(days=1))  # a member before the rule
        await triggers.create_rule(
            s,
            name="Новый покупатель",
            event="joined_segment",
            params={"segment_id": buyers.id},
            actions=[{"kind": "send", "text": "Спасибо за первый заказ!"}],
        )
    await triggers.run_rules(factory, settings, NOON)  # records who was there: Анна, without a message
    async with transaction(factory) as s:
        await add_order(s, shop, boris, 100_00, NOON)
    await triggers.run_rules(factory, settings, NOON + timedelta(minutes=5))
    await triggers.run_rules(factory, settings, NOON + timedelta(minutes=10))
    assert [t for t in await outgoing(factory, anna) if t.startswith("Спасибо")] == []  # was there before
    assert len([t for t in await outgoing(factory, boris) if t.startswith("Спасибо")]) == 1
    async with factory() as s:
        rule = (
            await s.execute(select(TriggerRule).where(TriggerRule.event == "joined_segment"))
        ).scalar_one()
        assert (await triggers.rule_stats(s))[rule.id] == 1


async def test_no_order_for_n_days(factory: SessionFactory, settings: Settings) -> None:
    shop = await world(factory)
    anna, boris = shop.customers["Анна"], shop.customers["Борис"]
    async with transaction(factory) as s:
        for cid in (anna, boris):
            await record_consent(s, cid, "telegram", True, "bot", at=NOON - timedelta(days=90))
        await add_order(s, shop, anna, 100_00, NOON - timedelta(days=31))
        await add_order(s, shop, boris, 100_00, NOON - timedelta(days=10))
        await triggers.create_rule(
            s,
            name="Скучаем",
            event="no_order",
            params={"days": 30},
            actions=[{"kind": "send", "text": "Давно не виделись"}],
        )
    await triggers.run_rules(factory, settings, NOON)
    await triggers.run_rules(factory, settings, NOON + timedelta(hours=1))
    assert [t for t in await outgoing(factory, anna) if t.startswith("Давно")] == [
        "Давно не виделись\n\nЧтобы отписаться, ответьте «стоп»."
    ]
    assert await outgoing(factory, boris) == []
