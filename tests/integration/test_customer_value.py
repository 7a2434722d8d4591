"""Lifetime value, defined once: the total of orders not cancelled or returned, on SQLite and PostgreSQL."""

from __future__ import annotations

from inbox.customer_card.value import customer_value, lifetime_value
from inbox.db import SessionFactory, transaction
from inbox.orders import service as svc
from inbox.orders.stats import customer_order_stats
from tests.orders_factories import World, make_world

MGR = svc.Actor("api")


async def order_in(factory: SessionFactory, world: World, sku: str, path: tuple[str, ...]) -> int:
    """A submitted order of one ``sku`` moved along ``path`` ("cancel" cancels it); returns its total."""
    async with transaction(factory) as s:
        order = await svc.do_create_draft(
            s, customer_id=world.customer_id, actor=MGR, thread_id=world.thread_id
        )
        await svc.do_add_line(s, order, world.products[sku], 1, actor=MGR)
        await svc.do_submit(s, order, actor=MGR)
        for code in path:
            if code == "cancel":
                await svc.do_cancel(s, order, actor=MGR)
            else:
                await svc.do_change_status(s, order, code, actor=MGR)
        return order.total


async def test_lifetime_value_counts_orders_not_cancelled_or_returned(factory: SessionFactory) -> None:
    world = await make_world(factory, {"A-1": (199000, 10), "B-2": (50050, 10), "C-3": (1000, 10)})
    delivered = await order_in(
        factory, world, "A-1", ("confirmed", "assembling", "ready_for_pickup", "delivered")
    )
    fresh = await order_in(factory, world, "B-2", ())
    await order_in(factory, world, "C-3", ("cancel",))
    returned = ("confirmed", "assembling", "ready_for_pickup", "returned")
    await order_in(factory, world, "A-1", returned)
    async with transaction(factory) as s:  # a draft is not an order yet
        draft = await svc.do_create_draft(s, customer_id=world.customer_id, actor=MGR)
        await svc.do_add_line(s, draft, world.products["C-3"], 2, actor=MGR)
    async with factory() as s:
        value = await customer_value(s, world.customer_id)
        assert await lifetime_value(s, world.customer_id) == delivered + fresh == 249050
        assert (value.orders_count, value.average_check) == (2, 249050 // 2)
        assert value.last_order_at is not None
        stats = await customer_order_stats(s, world.customer_id)  # the order panel's figures agree
        assert (stats.total_spent, stats.average_order_value) == (value.lifetime_value, value.average_check)
