"""Orders on both databases: reservations under concurrency, numbering, the status matrix, expiry,
cancel/complete stock effects, notifications, ERP stock sync, overdue timers, stats, webhooks."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from inbox.core.events import Event, EventBus
from inbox.db import SessionFactory, transaction
from inbox.models import Customer, Manager, Order, OrderLine, Stock
from inbox.orders import service as svc
from inbox.orders.errors import NotFound, OrderError, OutOfStock, StatusConfigError, TransitionRefused
from inbox.orders.notify import plan_notification
from inbox.orders.stats import customer_order_stats
from inbox.orders.statuses import StatusDef, export_statuses, replace_statuses
from inbox.orders.stock import set_stock
from inbox.orders.webhooks import encode, order_payload, sign, signed_request, verify
from tests.orders_factories import add_customer, make_world

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MGR = svc.API  # managers need a manager row; the API actor is enough here


async def _stock(factory: SessionFactory, product_id: int, warehouse_id: int) -> tuple[int, int]:
    async with factory() as s:
        row = await s.get(Stock, (product_id, warehouse_id))
        assert row is not None
        return row.on_hand, row.reserved


async def _draft_with(factory: SessionFactory, world, lines: dict[str, int], now=T0) -> int:  # type: ignore[no-untyped-def]
    async with transaction(factory) as s:
        order = await svc.do_create_draft(
            s, customer_id=world.customer_id, thread_id=world.thread_id, actor=MGR, now=now
        )
        for sku, qty in lines.items():
            await svc.do_add_line(s, order, world.products[sku], qty, actor=MGR, now=now)
        return order.id


async def test_fifty_concurrent_reservations_of_ten_units(factory: SessionFactory) -> None:
    world = await make_world(factory, {"LAST": (100000, 10)})
    drafts = []
    async with transaction(factory) as s:
        for _ in range(50):
            drafts.append((await svc.do_create_draft(s, customer_id=world.customer_id, actor=MGR)).id)

    async def buy(order_id: int) -> bool:
        try:
            async with transaction(factory) as s:
                order = await svc.get_order(s, order_id)
                await svc.do_add_line(s, order, world.products["LAST"], 1, actor=svc.BOT)
            return True
        except OutOfStock as exc:
            assert exc.available == 0
            return False

    results = await asyncio.gather(*(buy(d) for d in drafts))
    assert sum(results) == 10
    assert await _stock(factory, world.products["LAST"], world.warehouse_id) == (10, 10)
    async with factory() as s:
        lines = (await s.execute(select(OrderLine))).scalars().all()
        assert len(lines) == 10 and all(ln.reserved for ln in lines)


async def test_order_numbers_are_sequential_and_unique_under_concurrency(factory: SessionFactory) -> None:
    world = await make_world(factory, {"MANY": (1000, 1000)})
    ids = [await _draft_with(factory, world, {"MANY": 1}) for _ in range(20)]

    async def submit(order_id: int) -> int:
        async with transaction(factory) as s:
            change = await svc.do_submit(s, await svc.get_order(s, order_id), actor=svc.BOT)
            assert change.order.number is not None
            return change.order.number

    numbers = await asyncio.gather(*(submit(i) for i in ids))
    assert sorted(numbers) == list(range(1001, 1021))


async def test_lines_reserve_and_release_the_difference(factory: SessionFactory) -> None:
    world = await make_world(factory)
    a, b, wh = world.products["A-1"], world.products["B-2"], world.warehouse_id
    order_id = await _draft_with(factory, world, {"A-1": 2, "B-2": 1})
    assert await _stock(factory, a, wh) == (10, 2)
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        assert order.subtotal == 2 * 199000 + 50050 and order.total == order.subtotal
        lines = {ln.sku: ln for ln in await svc.order_lines(s, order_id)}
        await svc.do_change_quantity(s, order, lines["A-1"].id, 7, actor=MGR)
        await svc.do_change_quantity(s, order, lines["B-2"].id, 0, actor=MGR)  # 0 removes the line
        await svc.do_add_line(s, order, a, 1, actor=MGR)  # adds to the existing line
    assert await _stock(factory, a, wh) == (10, 8)
    assert await _stock(factory, b, wh) == (3, 0)
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        [line] = await svc.order_lines(s, order_id)
        assert line.qty == 8 and order.total == 8 * 199000
        with pytest.raises(OutOfStock) as info:
            await svc.do_change_quantity(s, order, line.id, 11, actor=MGR)
        assert info.value.available == 2
        with pytest.raises(OrderError):
            await svc.do_add_line(s, order, a, -1, actor=MGR)
        with pytest.raises(NotFound):
            await svc.do_add_line(s, order, 999999, 1, actor=MGR)
        history = [h.action for h in await svc.order_history(s, order_id)]
        assert history == ["created", "line.add", "line.add", "line.qty", "line.remove", "line.add"]


async def test_status_matrix_tracking_and_completion_writes_off(factory: SessionFactory) -> None:
    world = await make_world(factory)
    a, wh = world.products["A-1"], world.warehouse_id
    order_id = await _draft_with(factory, world, {"A-1": 3})
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        with pytest.raises(TransitionRefused):
            await svc.do_change_status(s, order, "confirmed", actor=MGR)  # still a draft
        change = await svc.do_submit(s, order, actor=MGR, now=T0)
        assert (change.from_status, change.status.code, change.order.number) == ("draft", "new", 1001)
        await svc.do_set_delivery(
            s, order, method="cdek", address="Москва, ул. Ленина, 1", cost=35000, actor=MGR
        )
        await svc.do_set_payment(s, order, state="paid", amount=632000, actor=MGR)
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        assert order.total == 3 * 199000 + 35000 and order.payment_state == "paid"
        with pytest.raises(TransitionRefused, match="«Новый» → «Собирается» запрещён"):
            await svc.do_change_status(s, order, "assembling", actor=MGR)
        with pytest.raises(TransitionRefused, match="неизвестный статус"):
            await svc.do_change_status(s, order, "teleported", actor=MGR)
        for code in ("confirmed", "assembling", "handed_to_delivery"):
            await svc.do_change_status(s, order, code, actor=MGR)
        with pytest.raises(OrderError):
            await svc.do_add_line(s, order, a, 1, actor=MGR)  # lines are frozen once assembling
        with pytest.raises(NotFound):
            await svc.do_set_tracking(s, order, carrier="pigeon", track="ABC123", actor=MGR)
        with pytest.raises(OrderError):
            await svc.do_set_tracking(s, order, carrier="cdek", track="<script>", actor=MGR)
        await svc.do_set_tracking(s, order, carrier="cdek", track="1234567890", actor=MGR)
        assert order.tracking_url == "https://www.cdek.ru/ru/tracking?order_id=1234567890"
    assert await _stock(factory, a, wh) == (10, 3)
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        await svc.do_change_status(s, order, "delivered", actor=MGR)
        with pytest.raises(TransitionRefused, match="конечный статус"):
            await svc.do_change_status(s, order, "cancelled", actor=MGR)
    assert await _stock(factory, a, wh) == (7, 0)
    async with factory() as s:
        [line] = await svc.order_lines(s, order_id)
        assert line.written_off and not line.reserved
        statuses = [
            (h.from_value, h.to_value) for h in await svc.order_history(s, order_id) if h.action == "status"
        ]
        assert statuses[0] == ("draft", "new") and statuses[-1] == ("handed_to_delivery", "delivered")


async def test_cancel_releases_reservations(factory: SessionFactory) -> None:
    world = await make_world(factory)
    a, wh = world.products["A-1"], world.warehouse_id
    submitted = await _draft_with(factory, world, {"A-1": 4})
    draft = await _draft_with(factory, world, {"A-1": 2})
    async with transaction(factory) as s:
        await svc.do_submit(s, await svc.get_order(s, submitted), actor=MGR)
    assert await _stock(factory, a, wh) == (10, 6)
    async with transaction(factory) as s:
        change = await svc.do_cancel(s, await svc.get_order(s, submitted), actor=MGR)
        assert change.status.code == "cancelled"
        await svc.do_cancel(s, await svc.get_order(s, draft), actor=MGR)
    assert await _stock(factory, a, wh) == (10, 0)
    async with transaction(factory) as s:
        order = await svc.get_order(s, submitted)
        with pytest.raises(OrderError):
            await svc.do_set_delivery(s, order, method="x", address="y", cost=0, actor=MGR)
        with pytest.raises(TransitionRefused):
            await svc.do_change_status(s, order, "new", actor=MGR)


async def test_draft_reservations_expire_and_submit_reserves_again(factory: SessionFactory) -> None:
    world = await make_world(factory, {"HOT": (1000, 5)})
    p, wh = world.products["HOT"], world.warehouse_id
    old = await _draft_with(factory, world, {"HOT": 3}, now=T0)
    fresh = await _draft_with(factory, world, {"HOT": 1}, now=T0 + timedelta(minutes=50))
    async with transaction(factory) as s:
        assert await svc.expire_drafts(s, T0 + timedelta(minutes=30)) == []
    async with transaction(factory) as s:
        assert await svc.expire_drafts(s, T0 + timedelta(minutes=61)) == [old]
    assert await _stock(factory, p, wh) == (5, 1)
    async with factory() as s:
        [line] = await svc.order_lines(s, old)
        assert not line.reserved
        assert (await svc.get_order(s, fresh)).reserved_until == T0 + timedelta(minutes=110)
    # somebody else takes the stock meanwhile: the old draft can no longer be submitted
    await _draft_with(factory, world, {"HOT": 2})
    async with transaction(factory) as s:
        with pytest.raises(OutOfStock):
            await svc.do_submit(s, await svc.get_order(s, old), actor=MGR)
    async with transaction(factory) as s:
        await svc.do_submit(s, await svc.get_order(s, fresh), actor=MGR)
    assert await _stock(factory, p, wh) == (5, 3)
    async with factory() as s:
        assert (await svc.get_order(s, old)).status == "draft"
        assert (await svc.get_order(s, fresh)).reserved_until is None


async def test_notifications_are_planned_once_per_status_entry(factory: SessionFactory) -> None:
    world = await make_world(factory)
    order_id = await _draft_with(factory, world, {"A-1": 1})
    async with transaction(factory) as s:
        change = await svc.do_submit(s, await svc.get_order(s, order_id), actor=MGR)
        note = await plan_notification(s, change.order, change.status)
        assert note is not None
        assert note.idempotency_key == f"order:{order_id}:status:new:1"
        assert note.locale == "ru" and note.channel_kind == "messenger"
        assert "№1001" in note.text and "1\u00a0990\u00a0₽" in note.text and "Анна" in note.text
        assert note.buttons == ()
        assert await plan_notification(s, change.order, change.status) is None  # planned already
        again = await svc.do_change_status(s, change.order, "new", actor=MGR)  # same status set twice
        assert not again.changed
        assert await plan_notification(s, again.order, again.status) is None
        assert await plan_notification(s, change.order, "assembling") is None  # notify_customer off
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        for code in ("confirmed", "assembling"):
            await svc.do_change_status(s, order, code, actor=MGR)
        await svc.do_set_tracking(s, order, carrier="russian_post", track="80085012345678", actor=MGR)
        handed = await svc.do_change_status(s, order, "handed_to_delivery", actor=MGR)
        note = await plan_notification(s, handed.order, handed.status)
        assert note is not None
        url = "https://www.pochta.ru/tracking?barcode=80085012345678"
        assert url in note.text and note.buttons[0].url == url and note.buttons[0].text == "Отследить"
        assert url in note.email_html and note.email_subject == "Заказ №1001 передан в доставку"


async def test_notification_in_customer_locale_and_channel(factory: SessionFactory) -> None:
    world = await make_world(factory)
    async with transaction(factory) as s:
        customer_id, thread_id = await add_customer(s, name="John", locale="en-GB", channel="email")
        order = await svc.do_create_draft(s, customer_id=customer_id, thread_id=thread_id, actor=svc.API)
        await svc.do_add_line(s, order, world.products["B-2"], 2, actor=svc.API)
        change = await svc.do_submit(s, order, actor=svc.API)
        note = await plan_notification(s, change.order, change.status)
        assert note is not None and note.locale == "en" and note.channel_kind == "email"
        assert note.text.startswith("John, your order #1001 for 1\u00a0001\u00a0₽")
        assert note.email_subject == "Order #1001 received"


async def test_erp_stock_sync_reports_bad_rows(factory: SessionFactory) -> None:
    world = await make_world(factory)
    a, b, wh = world.products["A-1"], world.products["B-2"], world.warehouse_id
    await _draft_with(factory, world, {"B-2": 2})
    bus, events = EventBus(), list[Event]()

    async def record(event: Event) -> None:
        events.append(event)

    bus.subscribe(record)
    async with bus.transaction(factory) as s:
        result = await set_stock(
            s,
            [
                {"sku": "A-1", "warehouse": "main", "on_hand": 25},
                {"sku": "NOPE", "on_hand": 1},
                {"sku": "A-1", "warehouse": "moon", "on_hand": 1},
                {"sku": "A-1", "on_hand": -3},
                {"sku": "B-2", "on_hand": 1},  # 2 are reserved: refused, not clamped
                {"on_hand": 1},
                {"sku": "B-2", "on_hand": 3},  # unchanged
            ],
        )
        assert events == []  # published only after the commit
    assert result.updated == 1 and result.unchanged == 1 and result.product_ids == [a]
    reasons = {e.index: e.reason for e in result.errors}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "unknown sku" in reasons[1] and "unknown warehouse" in reasons[2]
    assert reasons[4].startswith("below_reserved")
    assert [(e.type, e.data) for e in events] == [("stock.changed", {"product_ids": [a]})]
    assert await _stock(factory, a, wh) == (25, 0)
    assert await _stock(factory, b, wh) == (3, 2)


async def test_overdue_and_automatic_transitions(factory: SessionFactory) -> None:
    world = await make_world(factory)
    async with transaction(factory) as s:
        defs = await export_statuses(s)
        pickup = next(d for d in defs if d.code == "ready_for_pickup")
        pickup.time_limit_minutes, pickup.auto_target = 60, "returned"
        await replace_statuses(s, defs)
        with pytest.raises(StatusConfigError):
            await replace_statuses(s, [*defs, StatusDef(code="lost", group="limbo")])
    order_id = await _draft_with(factory, world, {"A-1": 2})
    async with transaction(factory) as s:
        order = await svc.get_order(s, order_id)
        await svc.do_submit(s, order, actor=MGR, now=T0)
        for code in ("confirmed", "assembling", "ready_for_pickup"):
            await svc.do_change_status(s, order, code, actor=MGR, now=T0)
    async with transaction(factory) as s:
        assert await svc.find_overdue(s, T0 + timedelta(minutes=59)) == []
        [item] = await svc.find_overdue(s, T0 + timedelta(minutes=61))
        assert item.order.id == order_id and item.due_at == T0 + timedelta(minutes=60)
        assert svc.is_overdue(item.order, item.status, T0 + timedelta(minutes=61))
        [change] = await svc.apply_auto_transitions(s, T0 + timedelta(minutes=61))
        assert change.status.code == "returned"
        assert await svc.apply_auto_transitions(s, T0 + timedelta(minutes=120)) == []
    assert await _stock(factory, world.products["A-1"], world.warehouse_id) == (10, 0)
    async with factory() as s:
        last = (await svc.order_history(s, order_id))[-1]
        assert (last.actor, last.to_value) == ("system", "returned")


async def test_customer_stats_and_webhook_payload(factory: SessionFactory) -> None:
    world = await make_world(factory)
    done = await _draft_with(factory, world, {"A-1": 1})
    dropped = await _draft_with(factory, world, {"B-2": 1})
    await _draft_with(factory, world, {"B-2": 1})  # a draft: not counted
    async with transaction(factory) as s:
        order = await svc.get_order(s, done)
        await svc.do_submit(s, order, actor=MGR)
        for code in ("confirmed", "assembling", "ready_for_pickup", "delivered"):
            await svc.do_change_status(s, order, code, actor=MGR)
        other = await svc.get_order(s, dropped)
        await svc.do_submit(s, other, actor=MGR)
        await svc.do_cancel(s, other, actor=MGR)
    async with factory() as s:
        stats = await customer_order_stats(s, world.customer_id)
        assert (stats.orders_count, stats.completed, stats.cancelled, stats.active) == (2, 1, 1, 0)
        assert stats.total_spent == 199000 and stats.average_order_value == 199000
        assert len(stats.orders) == 3 and {o.group for o in stats.orders} == {"complete", "cancel", "draft"}
        payload = await order_payload(s, await svc.get_order(s, done), "order.status")
    assert payload["order"]["number"] == 1001 and payload["order"]["lines"][0]["sku"] == "A-1"
    body, headers = signed_request("shop-secret", payload, "order:1:status:delivered")
    assert json.loads(body)["order"]["status"] == "delivered"
    assert verify("shop-secret", body, headers["X-Inbox-Signature"])
    assert not verify("other-secret", body, headers["X-Inbox-Signature"])
    assert not verify("shop-secret", body + b" ", headers["X-Inbox-Signature"])
    assert headers["X-Inbox-Signature"] == "sha256=" + sign("shop-secret", encode(payload))


async def test_draft_needs_a_known_customer_and_matching_thread(factory: SessionFactory) -> None:
    world = await make_world(factory)
    async with transaction(factory) as s:
        with pytest.raises(NotFound):
            await svc.do_create_draft(s, customer_id=424242, actor=MGR)
        other = Customer(name="Other")
        s.add(other)
        await s.flush()
        with pytest.raises(OrderError):
            await svc.do_create_draft(s, customer_id=other.id, thread_id=world.thread_id, actor=MGR)
        with pytest.raises(OrderError):
            await svc.do_create_draft(s, customer_id=other.id, source="fax", actor=MGR)
        order = await svc.do_create_draft(s, customer_id=other.id, actor=MGR)
        manager = Manager(email="m@example.ru", name="Мария", password_hash="x")
        s.add(manager)
        await s.flush()
        await svc.do_assign_manager(s, order, manager.id, actor=svc.Actor.manager(manager.id))
        assert order.manager_id == manager.id
        with pytest.raises(NotFound):
            await svc.do_assign_manager(s, order, 999999, actor=MGR)
        [_, assigned] = await svc.order_history(s, order.id)
        assert (assigned.actor, assigned.manager_id, assigned.to_value) == (
            "manager",
            manager.id,
            str(manager.id),
        )
        with pytest.raises(TransitionRefused, match="хотя бы одна позиция"):
            await svc.do_submit(s, order, actor=MGR)
        assert (await s.execute(select(Order.status).where(Order.id == order.id))).scalar_one() == "draft"
